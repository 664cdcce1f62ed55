"""Typed field access on raw rows that raises :class:`DataValidationError` naming source, row and field."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.errors import DataValidationError

# every first run of RMB meets its empty answers: the refusal names the way past them
SKIP_INVALID_HINT = "rerun with --skip_invalid (skip_invalid=True) to skip such rows; each is counted and reported"
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Row:
    """A raw input row with its location, for error messages."""

    source: str
    index: int  # 1-based, as a person counts rows (the line number for JSONL)
    data: Mapping[str, Any]

    def error(self, field: str | None, problem: str) -> DataValidationError:
        """A :class:`DataValidationError` naming this row and ``field``."""
        return DataValidationError(self.source, self.index, field, problem)

    def has(self, field: str) -> bool:
        """Whether the row has ``field`` with a non-null value."""
        return field in self.data and self.data[field] is not None

    def raw(self, field: str) -> Any:
        """The value of ``field``; missing is an error listing the fields the row has."""
        if not self.has(field):
            raise self.error(field, f"missing (row has: {', '.join(sorted(self.data)) or 'no fields'})")
        return self.data[field]

    def text(self, field: str, value: Any = None, *, allow_empty: bool = False) -> str:
        """``field`` (or ``value``) as a string, non-empty unless ``allow_empty``."""
        value = self.raw(field) if value is None else value
        if not isinstance(value, str):
            raise self.error(field, f"expected a string, got {type(value).__name__}")
        if not allow_empty and not value.strip():
            raise self.error(field, "empty string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:  # a lone surrogate (JSON "\ud800"): no tokenizer can take it
            raise self.error(field, f"not valid Unicode text: a lone surrogate {value[error.start]!r} at character {error.start:,}") from None
        return value

    def texts(self, field: str) -> tuple[str, ...]:
        """``field`` as a non-empty list of non-empty strings."""
        value = _as_list(self.raw(field))
        if value is None:
            raise self.error(field, f"expected a list of strings, got {type(self.data[field]).__name__}")
        if not value:
            raise self.error(field, "empty list")
        return tuple(self.text(f"{field}[{i}]", item) for i, item in enumerate(value))

    def messages(self, field: str, value: Any = None) -> tuple[ChatMessage, ...]:
        """``field`` (or ``value``) as a non-empty list of ``{role, content}`` messages with known roles."""
        value = _as_list(self.raw(field) if value is None else value)
        if value is None or not value:
            raise self.error(field, "expected a non-empty list of {role, content} messages")
        messages = []
        for i, item in enumerate(value):
            where = f"{field}[{i}]"
            if not isinstance(item, Mapping):
                raise self.error(where, f"expected a {{role, content}} message, got {type(item).__name__}")
            role = self.text(f"{where}.role", item.get("role", ""))
            if role not in _ROLES:
                raise self.error(f"{where}.role", f"unknown role {role!r}; expected one of {', '.join(_ROLES)}")
            messages.append(ChatMessage(role=role, content=self.text(f"{where}.content", item.get("content"))))
        return tuple(messages)

    def prompt(self, field: str = "prompt") -> tuple[ChatMessage, ...]:
        """A prompt given either as a plain string (one user turn) or as a message list ending in a user turn."""
        value = self.raw(field)
        if isinstance(value, str):
            return (ChatMessage(role="user", content=self.text(field)),)
        messages = self.messages(field)
        if messages[-1]["role"] != "user":
            raise self.error(field, f"the last prompt message must be a user turn, got {messages[-1]['role']!r}")
        return messages


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays from parquet
        converted = value.tolist()
        return converted if isinstance(converted, list) else None
    return None


RowConverter = Callable[[Row], PreferenceExample]


@dataclass
class ConversionReport:
    """What happened to the rows of one source: how many were skipped as invalid, and the first few reasons."""

    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def record(self, error: DataValidationError) -> None:
        """Count one skipped row and keep its reason (the first five)."""
        self.skipped += 1
        if len(self.reasons) < 5:
            self.reasons.append(str(error))


def convert_rows(
    rows: Iterable[Row], convert: RowConverter, *, skip_invalid: bool, report: ConversionReport
) -> list[PreferenceExample]:
    """Convert rows; with ``skip_invalid`` bad rows are counted in ``report`` instead of raising (the error says so)."""
    examples = []
    for row in rows:
        try:
            examples.append(convert(row))
        except DataValidationError as error:
            refuse_or_count(error, skip_invalid=skip_invalid, report=report)
    return examples


def refuse_or_count(error: DataValidationError, *, skip_invalid: bool, report: ConversionReport) -> None:
    """A bad row: raise ``error`` with the ``--skip_invalid`` hint, or with ``skip_invalid`` count it in ``report``."""
    if not skip_invalid:
        raise DataValidationError(error.source, error.row, error.field, f"{error.problem}; {SKIP_INVALID_HINT}") from None
    report.record(error)
