"""Errors that users caused, and how they are worded.

An `InputError` is a bad input (file, field, value): the CLI prints its one
line and exits with code 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


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
