"""``rm-mlflow leaderboard``: every evaluated version of the matching registered models, one row each.

Built from the registry (versions, aliases) and MLflow 3 LoggedModel metrics, which every evaluation of a registered
version logs with the version's ``model_id`` and each benchmark's dataset (name and content digest): no run folder is
read again. A benchmark evaluated on two different data digests gets one column per digest, so two numbers on
different rows never share a column. A version evaluated twice on the same data shows its latest evaluation.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rm_mlflow._registry import Registry
from rm_mlflow.errors import ModelLoadError
from rm_mlflow.tracking.references import ModelReference, logged_model_id

SCORE_SUFFIX = "/score"
LEADERBOARD_FILE = "leaderboard.md"


@dataclass(frozen=True)
class Column:
    """One benchmark on one version of its data."""

    benchmark: str
    digest: str

    def label(self, digests_of_benchmark: int) -> str:
        """The benchmark's name, with its digest when the benchmark was evaluated on more than one version of its data."""
        return self.benchmark if digests_of_benchmark == 1 else f"{self.benchmark}@{self.digest[:8]}"


@dataclass(frozen=True)
class Cell:
    """A version's headline score on one column, its interval and the run it came from."""

    score: float
    low: float | None
    high: float | None
    run_id: str
    timestamp: int

    def text(self) -> str:
        """``0.6123 [0.5801, 0.6440]``: the score and, when known, its interval."""
        interval = f" [{self.low:.4f}, {self.high:.4f}]" if self.low is not None and self.high is not None else ""
        return f"{self.score:.4f}{interval}"


@dataclass
class Row:
    """One evaluated version."""

    name: str
    version: str
    aliases: tuple[str, ...]
    cells: dict[Column, Cell] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """The rows, and the columns in first-seen order."""

    rows: list[Row]
    columns: list[Column]

    def labels(self) -> dict[Column, str]:
        """Each column's heading."""
        counts = {benchmark: sum(c.benchmark == benchmark for c in self.columns) for benchmark in {c.benchmark for c in self.columns}}
        return {column: column.label(counts[column.benchmark]) for column in self.columns}

    def records(self) -> list[dict[str, Any]]:
        """One flat record per row: model, version, aliases, and each column's score, interval ends and run."""
        labels = self.labels()
        records = []
        for row in self.rows:
            record: dict[str, Any] = {"model": row.name, "version": row.version, "aliases": ",".join(row.aliases)}
            for column in self.columns:
                cell = row.cells.get(column)
                record[labels[column]] = cell.score if cell else None
                record[f"{labels[column]}_ci_low"] = cell.low if cell else None
                record[f"{labels[column]}_ci_high"] = cell.high if cell else None
                record[f"{labels[column]}_run_id"] = cell.run_id if cell else None
            records.append(record)
        return records


def build_leaderboard(pattern: str, client: Any) -> Leaderboard:
    """Every version, with metrics on its LoggedModel, of the registered models named ``pattern``.

    ``pattern`` is a name, or holds ``*`` or ``%`` (SQL ``LIKE``, where ``_`` then matches any one character).
    """
    like = pattern.replace("*", "%")
    operator = "LIKE" if "%" in like else "="  # an underscore in a plain name is a character, not LIKE's wildcard
    models = _all(lambda token: client.search_registered_models(filter_string=f"name {operator} '{like}'", page_token=token))
    if not models:
        raise ModelLoadError(f"no registered model named {pattern!r} on this tracking server")
    rows, columns = [], []
    for model in sorted(models, key=lambda m: m.name):
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        versions = _all(lambda token, name=model.name: client.search_model_versions(f"name = '{name}'", page_token=token))
        for version in sorted(versions, key=lambda v: int(v.version)):
            number = str(version.version)
            reference = ModelReference(f"models:/{model.name}/{number}", "mlflow", model.name, number)
            model_id = logged_model_id(reference.as_dict(), client)
            if model_id is None:
                continue
            row = Row(model.name, number, tuple(sorted(aliases.get(number, []))))
            _fill(row, client.get_logged_model(model_id).metrics or [], columns)
            if row.cells:
                rows.append(row)
    return Leaderboard(rows, columns)


def _fill(row: Row, metrics: Sequence[Any], columns: list[Column]) -> None:
    """The row's cells from its LoggedModel's metrics: per (benchmark, digest), the latest run's score and interval."""
    by_run: dict[tuple[Column, str], dict[str, Any]] = {}
    for metric in metrics:
        if not metric.dataset_name or not metric.dataset_digest or not metric.key.startswith(f"{metric.dataset_name}/score"):
            continue
        column = Column(metric.dataset_name, metric.dataset_digest)
        figures = by_run.setdefault((column, metric.run_id), {"timestamp": metric.timestamp})
        figures[metric.key.removeprefix(metric.dataset_name)] = metric.value
        figures["timestamp"] = max(figures["timestamp"], metric.timestamp)
    for (column, run_id), figures in by_run.items():
        if SCORE_SUFFIX not in figures:
            continue
        cell = Cell(figures[SCORE_SUFFIX], figures.get("/score_ci_low"), figures.get("/score_ci_high"), run_id, figures["timestamp"])
        if column not in row.cells or cell.timestamp > row.cells[column].timestamp:
            row.cells[column] = cell
        if column not in columns:
            columns.append(column)


def _all(page: Any) -> list:
    items, token = [], None
    while True:
        result = page(token)
        items += list(result)
        token = getattr(result, "token", None)
        if not token:
            return items


def _table(board: Leaderboard) -> list[list[str]]:
    labels = board.labels()
    header = ["model", "version", "aliases", *(labels[column] for column in board.columns)]
    body = [[row.name, row.version, ", ".join(row.aliases), *(row.cells[c].text() if c in row.cells else "-" for c in board.columns)]
            for row in board.rows]
    return [header, *body]


def _as_text(board: Leaderboard) -> str:
    lines = _table(board)
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines)


def _as_markdown(board: Leaderboard) -> str:
    header, *body = _table(board)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in body]
    return "\n".join(lines)


def _as_csv(board: Leaderboard) -> str:
    records = board.records()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["model", "version", "aliases"])
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().rstrip("\n")


def _as_json(board: Leaderboard) -> str:
    return json.dumps(board.records(), indent=2)


FORMATS: Registry = Registry("leaderboard format")
FORMATS.add("table", _as_text)
FORMATS.add("markdown", _as_markdown)
FORMATS.add("csv", _as_csv)
FORMATS.add("json", _as_json)


def format_leaderboard(board: Leaderboard, form: str = "table") -> str:
    """The leaderboard as ``table`` (aligned text), ``markdown``, ``csv`` or ``json``."""
    return FORMATS.get(form)(board)


def log_leaderboard(name: str, run_id: str, client: Any) -> Leaderboard:
    """Log registered model ``name``'s leaderboard, in markdown, as run ``run_id``'s artifact ``rm_eval/leaderboard.md``."""
    from rm_mlflow.tracking.recording import ARTIFACT_DIR

    board = build_leaderboard(name, client)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / LEADERBOARD_FILE
        path.write_text(format_leaderboard(board, "markdown") + "\n", encoding="utf-8")
        client.log_artifact(run_id, str(path), ARTIFACT_DIR)
    return board
