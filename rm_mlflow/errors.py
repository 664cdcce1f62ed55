"""Errors a user can act on. Each message names the file, row, field, option or URI at fault.

Every error rm-mlflow raises on purpose derives from :class:`RmMlflowError`; the command line turns
any of them into one ``rm-mlflow: error: ...`` line and the error's ``exit_status``: 2 for bad input or
options, 1 when the machine failed us (a full disk, a read-only folder).
"""

from __future__ import annotations

import re


class RmMlflowError(Exception):
    """Base class for every error rm-mlflow raises on purpose."""

    exit_status = 2


class OptionError(RmMlflowError, ValueError):
    """A bad option value: a flag, an ``evaluator_config`` key, an MLproject parameter or a setting.

    The message names the option and what it accepts. Raised before any data, model or run is touched.
    """


class UnknownNameError(OptionError, LookupError):
    """A benchmark, model kind, template, subset or split name that does not exist."""

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


class OutputError(RmMlflowError):
    """A file or folder of ours (results, score cache, queue) that could not be written: names the path, the reason and the errno."""

    exit_status = 1

    @classmethod
    def from_os_error(cls, error: OSError, path: object, doing: str, kept: str = "") -> OutputError:
        """``PATH: cannot DOING (reason, errno NAME)[; kept]`` for an ``OSError`` met on one of our own files."""
        import errno as errno_names

        where = error.filename if error.filename is not None else path
        code = errno_names.errorcode.get(error.errno or 0, str(error.errno))
        reason = (error.strerror or type(error).__name__).lower()
        return cls(f"{where}: cannot {doing} ({reason}, errno {code}){'; ' + kept if kept else ''}")


class IncompleteResultsError(RmMlflowError):
    """A results folder whose manifest is missing or does not match its files: an evaluation that did not finish writing."""


class TrackingError(RmMlflowError):
    """The MLflow tracking server or registry failed; the message says what was kept and how to recover."""


def one_line(error: BaseException) -> str:
    """The whole message of an error on one line (a wrapped library error may span several)."""
    return " ".join(str(error).split()) or type(error).__name__


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (its type name when it has none), cut to ``limit`` characters."""
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else type(error).__name__


def tracking_failure(error: BaseException) -> str | None:
    """One line for an MLflow or network failure that reached the top (a server that stays down, a rejected request); None otherwise."""
    from requests.exceptions import RequestException

    try:
        from mlflow.exceptions import MlflowException
    except ImportError:  # pragma: no cover - mlflow is a dependency
        MlflowException = ()  # noqa: N806
    if not isinstance(error, (MlflowException, RequestException, ConnectionError, TimeoutError)):
        return None
    text = first_line(error, 2000)
    request = re.search(r"API request to (\S+) failed", text)
    reason = re.search(r"\[Errno -?\d+\] ([^\"')\]]+)|(Read timed out)", text)
    if request and reason:
        return f"the MLflow tracking server did not answer {request.group(1)}: {reason.group(1) or reason.group(2)} (after MLflow's retries)"
    return f"MLflow: {text[:500]}"


def user_error(error: BaseException) -> tuple[str, int] | None:
    """The one line (``rm-mlflow: error: ...``) and exit status every entry point gives for ``error``; None for a bug (let it trace)."""
    if isinstance(error, RmMlflowError):
        return f"rm-mlflow: error: {one_line(error)}", error.exit_status
    failure = tracking_failure(error)
    return None if failure is None else (f"rm-mlflow: error: {failure}", 2)
