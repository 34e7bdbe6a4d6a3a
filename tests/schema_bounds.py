"""The bounds the scenario schema (pydantic) sets on a field: what fixed-width state must be able to hold."""

from __future__ import annotations


def schema_bound(model: type, field: str, kind: str = "le") -> float:
    """The `kind` bound ("le": the largest value allowed, "ge": the smallest) of `field` of the schema's `model`."""
    return next(getattr(rule, kind) for rule in model.model_fields[field].metadata
                if getattr(rule, kind, None) is not None)
