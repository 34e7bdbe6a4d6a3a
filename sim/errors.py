"""Errors that users caused, and how they are worded.

An `InputError` is a bad input (file, field, value): the CLI prints its one
line and exits with code 2, never a traceback. `validation_input_error` words
the first problem of any of the project's pydantic schemas (scenario,
experiment, targets, sensitivity) that way. `OutputError` is an output file
that could not be written (disk full, no permission), worded the same way.
A `BackendError` is a Dask cluster that stopped running replications (its
scheduler went away, no workers for too long): one line, exit code 1. A `WorkerFailure` carries back
a worker's exception that could not be pickled.
Every error here survives a pickle round trip, so a worker process can raise it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


class InputError(Exception):
    """A bad input, worded as `file: field: what is wrong and what is allowed`."""

    def __init__(self, source: str | Path | None, field: str | None, message: str):
        self.source = str(source) if source is not None else None
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join([*parts, self.message])

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles as cls(*self.args), and args holds the one joined line: a worker's refused
        # value would fail to unpickle in the parent (and a process pool would call itself broken)
        return (type(self), (self.source, self.field, self.message))


class OutputError(InputError):
    """An output file that could not be written (disk full, file too large, no permission): one line, exit 2."""


class BackendError(Exception):
    """The cluster that runs replications failed (not the user's input, not a bug of clubsim): one line,
    exit 1; an experiment keeps its finished replications and says how to resume."""


class WorkerFailure(Exception):
    """An exception a worker process raised that would not survive the trip back to the parent (it cannot
    be pickled, or not rebuilt from its pickle): its type, message and the worker's traceback, as text. Without
    it the local pool reports a crashed process, or a pickling error, instead of the failure. Unexpected:
    exit 1."""

    def __init__(self, kind: str, message: str, worker_traceback: str):
        self.kind, self.message, self.worker_traceback = kind, message, worker_traceback
        super().__init__(f"{kind}: {message}" if message else kind)
        if worker_traceback:
            self.add_note(f"raised in a worker process:\n{worker_traceback}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.kind, self.message, self.worker_traceback))


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler ending the job): stopped like Ctrl-C, exit code 143 (128 + 15)."""

    signum = 15


def suggest(name: str, allowed: list[str]) -> str:
    """An unknown key's message: the closest allowed key ("did you mean"), or the list of allowed keys."""
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return "unknown key; allowed: " + ", ".join(allowed)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds: itself, or inside Optional, list[...] or dict[..., ...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        model = _model_in(argument)
        if model is not None:
            return model
    return None


def schema_at(root: type[BaseModel], location: tuple[str, ...]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model reached by following `location` from `root`, and the last field on the way.

    List indices and dict keys (parts that are not fields) pass through to their items' model;
    a field that holds no model ends the walk at model None.
    """
    model: type[BaseModel] | None = root
    last: FieldInfo | None = None
    for part in location:
        info = model.model_fields.get(part) if model is not None else None
        if info is None:
            continue
        last = info
        model = _model_in(info.annotation)
    return model, last


SHOWN_KEY_LENGTH = 64


# a key written as the documentation names a field (`clubs[].count`, `clubs[0]`, `club.fees`): shown as it is
_DOC_PATH = re.compile(r"[A-Za-z_][\w-]*(\[\w*\])?(\.[A-Za-z_][\w-]*(\[\w*\])?)*", re.ASCII)


def shown_key(part: str) -> str:
    """A key as an error shows it: a plain name, or a path written as the documentation names fields, as it is;
    anything else (a line of a file that is not a scenario, a very long key) only by its length, so an error
    never echoes a file's content."""
    plain = part.replace("-", "_")
    if len(part) <= SHOWN_KEY_LENGTH and part.isascii() and (plain.isidentifier() or plain.isdigit()
                                                             or _DOC_PATH.fullmatch(part)):
        return part
    return f"<a key of {len(part):,} characters>"


def _path_key_message(key: str, allowed: list[str]) -> str:
    """An unknown key that is a path (`clubs[].count`): YAML nests keys, and `[]` marks a list's items."""
    first = re.split(r"[.\[]", key, maxsplit=1)[0]
    inner = re.search(r"\[(\w*)\]", key)
    if inner is not None and not inner.group(1).isdigit() and inner.group(1):
        how = f"write {first}: and {inner.group(1)}: nested under it"
    elif inner is not None:
        how = f"`[]` in docs/parameters.md marks the items of a list: write {first}: as a list of mappings"
    else:
        how = f"write {first}: and the rest nested under it"
    where = "" if first in allowed else f" ({first} is not a key here; allowed: {', '.join(allowed)})"
    return f"unknown key: a YAML key is one name; {how}{where}"


def _is_union_tag(part: Any) -> bool:
    """Pydantic names the member of a union it tried inside an error's location (`int`, `list[...]`)."""
    return isinstance(part, str) and ("[" in part or part in {"int", "float", "str", "bool", "constrained-int"})


def _flow(value: Any) -> str:
    """A short value as YAML's flow style writes it (`[300, 600]`); a long one as `...`."""
    import yaml

    shown = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
    return shown if len(shown) <= 60 and "\n" not in shown else "..."


def _mapping_expected(model: type[BaseModel] | None, value: Any) -> str:
    """The message for a value that should be a mapping of `model`'s keys: a sweep's
    `club.fees.annual: [300, 600]` is told to write `{values: [300, 600]}`, a range's `[480, 1920]`
    `{low: 480, high: 1920}`, rather than pydantic's 'a valid dictionary or instance of ParameterSpec'."""
    keys = list(model.model_fields) if model is not None else []
    kind = {list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number",
            type(None): "empty"}.get(type(value), type(value).__name__)
    if isinstance(value, list) and "values" in keys:
        hint = f"write {{values: {_flow(value)}}} instead"
        hint += ", or a range {low: ..., high: ...}" if "low" in keys else ""
    elif isinstance(value, list) and len(value) == 2 and {"low", "high"} <= set(keys):
        hint = f"write {{low: {_flow(value[0])}, high: {_flow(value[1])}}} instead"
    elif keys:
        hint = "write a mapping of " + ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
    else:
        hint = "write a mapping of keys to values"
    return f"{kind}, not a mapping: {hint}"


def validation_input_error(
    err: ValidationError, source: str | Path | None, root: type[BaseModel], *, describe: bool = False,
    missing: str | None = None,
) -> InputError:
    """The first problem of a pydantic validation as one line: an unknown key with a "did you mean"
    over the keys allowed there; otherwise pydantic's message, with the field's description if
    `describe`, and `missing` (when given) for a required key left out."""
    # a value that matches no member of a union fails once per member: the deepest failure is the
    # member the user meant (a list of club groups, not the number of clubs)
    errors = err.errors()
    first = max(errors, key=lambda e: len(e["loc"])) if len(errors) > 1 else errors[0]
    loc = first["loc"]
    unknown = first["type"] == "extra_forbidden"  # its last part is the user's key, whatever it holds (`clubs[0]`)
    location = tuple(str(part) for i, part in enumerate(loc)
                     if not _is_union_tag(part) or (unknown and i == len(loc) - 1))
    if first["type"] == "extra_forbidden":
        model, _ = schema_at(root, location[:-1])
        allowed = list(model.model_fields) if model is not None else []
        key = location[-1]
        if shown_key(key) != key:
            message = "unknown key; allowed: " + ", ".join(allowed)
        elif "[" in key or "." in key:
            message = _path_key_message(key, allowed)
        else:
            message = suggest(key, allowed)
        location = tuple(map(shown_key, location))
    elif first["type"] == "missing" and missing is not None:
        message = missing
    elif first["type"] == "model_type":  # not a mapping where one is expected: say what to write
        message = _mapping_expected(schema_at(root, location)[0], first["input"])
    else:
        message = first["msg"].removeprefix("Value error, ")
        _, field = schema_at(root, location)
        if describe and field is not None and field.description:
            message += f" (expected: {field.description})"
    return InputError(source, ".".join(location) or None, message)
