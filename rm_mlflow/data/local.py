"""Any preference or instruction set: a local file or folder, or a Hub dataset id.

Accepts what ``rewardbench --dataset ... [--load_json]`` accepts: ``prompt`` (or ``question`` /
``input``) as a string or message list, ``chosen`` and ``rejected`` as strings or as full
conversations ending with the assistant's reply; optional ``subset`` and ``id``. Rows with
``messages`` and no ``chosen``/``rejected`` are instruction rows: they are scored, without accuracy.
"""

from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rm_mlflow.data.benchmark import Benchmark, LoadedRows
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import FILE_SUFFIXES, hub_rows, read_rows
from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.errors import DataValidationError
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, micro_accuracy, outcome_accuracies

PROMPT_ALIASES = ("prompt", "question", "input")


def _prompt_field(row: Row) -> str | None:
    return next((name for name in PROMPT_ALIASES if row.has(name)), None)


def _response(row: Row, field: str) -> tuple[str, tuple[ChatMessage, ...] | None]:
    """A response given as a string, or as a whole conversation (then its prefix is the prompt)."""
    value = row.raw(field)
    if isinstance(value, str):
        return row.text(field), None
    if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist"):
        raise row.error(field, f"expected a string, got {type(value).__name__}")
    conversation = row.messages(field)
    if conversation[-1]["role"] != "assistant":
        raise row.error(field, "a conversation given as a response must end with an assistant turn")
    return conversation[-1]["content"], conversation[:-1]


def _converter(default_subset: str):
    def convert(row: Row) -> PreferenceExample:
        subset = row.text("subset") if row.has("subset") else default_subset
        example_id = str(row.data["id"]) if row.has("id") else str(row.index - 1)
        if row.has("chosen") or row.has("rejected"):
            chosen, chosen_prefix = _response(row, "chosen")
            rejected, rejected_prefix = _response(row, "rejected")
            prompt_field = _prompt_field(row)
            if prompt_field is not None:
                prompt = row.prompt(prompt_field)
            elif chosen_prefix:
                prompt = chosen_prefix
            else:
                raise row.error("prompt", "missing: give a prompt column or chosen/rejected as full conversations")
            if not prompt or prompt[-1]["role"] != "user":
                raise row.error("chosen", "the conversation before the response must end with a user turn")
            return PreferenceExample(id=example_id, subset=subset, prompt=prompt, chosen=(chosen,), rejected=(rejected,))
        if row.has("messages"):
            messages = row.messages("messages")
            if messages[-1]["role"] != "assistant" or len(messages) < 2:
                raise row.error("messages", "an instruction row must end with the assistant reply to be scored")
            return PreferenceExample(id=example_id, subset=subset, prompt=messages[:-1], chosen=(messages[-1]["content"],))
        raise row.error(None, "expected 'chosen' and 'rejected' (preference data) or 'messages' (instruction data)")

    return convert


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "dataset"


def check_data_path(path: Path) -> None:
    """Refuse, in one line, a dataset path that is neither a regular file nor a folder (a FIFO, a socket, a broken or looping link)."""
    import stat

    try:
        path.resolve(strict=True)
        mode = path.stat().st_mode
    except (RuntimeError, OSError) as error:  # Python raises RuntimeError for a symlink loop before 3.13, OSError (ELOOP) after
        looping = isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP
        reason = "a symbolic link loop" if looping else f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        raise DataValidationError(str(path), None, None, f"{reason}; give a data file or folder") from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    raise DataValidationError(str(path), None, None, f"{kind}, not a data file or folder; rm-mlflow reads regular files ({', '.join(FILE_SUFFIXES)})")


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
    files = [p for p in files if p.name not in ("dataset_info.json", "state.json", "dataset_dict.json")]
    if not files:
        raise DataValidationError(str(path), None, None, f"no data files ({', '.join(FILE_SUFFIXES)}) in this folder")
    return files


def _saved_dataset_rows(path: Path):
    from datasets import DatasetDict, load_from_disk

    loaded = load_from_disk(str(path))
    parts = loaded.items() if isinstance(loaded, DatasetDict) else [("", loaded)]
    for name, dataset in parts:
        source = f"{path}:{name}" if name else str(path)
        for index, record in enumerate(dataset, start=1):
            yield Row(source=source, index=index, data=record)


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Accuracy per subset and over every pair; instruction data (no pairs) has no score."""
    compared = [o.correct for o in outcomes if o.correct is not None]
    if not compared:
        return BenchmarkScores(score=None)
    return BenchmarkScores(score=micro_accuracy(compared), subsets=outcome_accuracies(outcomes))


def file_benchmark(path: Path) -> Benchmark:
    """A benchmark over a local file or folder (JSON, JSONL, parquet, CSV or a ``save_to_disk`` folder)."""
    name = _slug(path.stem if path.is_file() else path.name)

    def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            rows = _saved_dataset_rows(path)
        else:
            rows = (row for file in _files(path) for row in read_rows(file))
        examples = convert_rows(rows, _converter(name), skip_invalid=options.skip_invalid, report=report)
        if not examples and not report.skipped:
            raise DataValidationError(str(path), None, None, "no rows")
        return LoadedRows(examples=examples, source=str(path.resolve()), split=options.split or "all")

    return Benchmark(name=name, title=f"Local dataset {path.name}", load=load, aggregate=aggregate, default_split="all")


def hub_benchmark(repo_id: str) -> Benchmark:
    """A benchmark over a Hub dataset with prompt/chosen/rejected (or messages) columns."""
    name = _slug(repo_id.split("/")[-1])
    hint = f"Download it with `hf download {repo_id} --repo-type dataset --local-dir DIR` and pass DIR as --dataset."

    def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
        rows = hub_rows(repo_id, options.split, options.revision, hint=hint)
        examples = convert_rows(rows, _converter(name), skip_invalid=options.skip_invalid, report=report)
        return LoadedRows(examples=examples, source=f"hf://datasets/{repo_id}", split=options.split or "all", revision=options.revision)

    return Benchmark(name=name, title=f"Hub dataset {repo_id}", load=load, aggregate=aggregate, hub_id=repo_id)


def frame_benchmark(frame: Any, name: str = "dataframe") -> Benchmark:
    """A benchmark over an in-memory pandas DataFrame of preference (or instruction) rows, as passed to ``mlflow.models.evaluate``."""
    # a column missing in some rows (e.g. ``subset``) comes back as NaN: treat it as absent
    records = [{key: value for key, value in record.items() if not _is_nan(value)} for record in frame.to_dict(orient="records")]
    source = f"pandas DataFrame '{name}'"

    def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
        rows = (Row(source=source, index=index, data=record) for index, record in enumerate(records, start=1))
        examples = convert_rows(rows, _converter(name), skip_invalid=options.skip_invalid, report=report)
        if not examples and not report.skipped:
            raise DataValidationError(source, None, None, "no rows")
        return LoadedRows(examples=examples, source=source, split="all")

    return Benchmark(name=_slug(name), title=f"DataFrame {name}", load=load, aggregate=aggregate, default_split="all")


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)
