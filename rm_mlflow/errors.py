"""Errors a user can act on. Each message names the file, row, field or URI at fault."""

from __future__ import annotations


class RmMlflowError(Exception):
    """Base class for every error rm-mlflow raises on purpose."""


class UnknownNameError(RmMlflowError, LookupError):
    """A benchmark, model kind, template or metric name that is not registered."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


class DataValidationError(RmMlflowError, ValueError):
    """A malformed input row: says which source, row and field, and what was expected."""

    def __init__(self, source: str, row: int | None, field: str | None, problem: str) -> None:
        self.source = source
        self.row = row
        self.field = field
        self.problem = problem
        where = source
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")


class DatasetNotAvailableError(RmMlflowError):
    """A benchmark with neither a local copy nor a reachable Hub."""


class ModelLoadError(RmMlflowError):
    """A model that cannot be loaded or scored as a reward model."""


class SequenceTooLongError(RmMlflowError):
    """A conversation longer than the model accepts while truncation is off."""
