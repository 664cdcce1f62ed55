"""Reading rows: local files (json, jsonl, parquet, csv), local benchmark copies, and the Hugging Face Hub."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rm_mlflow.data.validation import Row
from rm_mlflow.errors import DatasetNotAvailableError, DataValidationError, first_line

FILE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv")
DATA_DIR_ENV = "RM_MLFLOW_DATA_DIR"


def read_rows(path: Path) -> Iterator[Row]:
    """Yield the rows of a local data file, numbered from 1 (JSONL rows carry their line number)."""
    source = str(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataValidationError(source, None, None, "file not found")
    if suffix == ".jsonl":
        yield from _jsonl_rows(path)
        return
    if suffix == ".json":
        records = _json_records(path)
    elif suffix in (".parquet", ".csv"):
        records = _table_records(path, suffix)
    else:
        raise DataValidationError(source, None, None, f"unsupported file type {suffix!r}; use one of {', '.join(FILE_SUFFIXES)}")
    for index, record in enumerate(records, start=1):
        yield _as_row(source, index, record)


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open("rb") as handle:  # bytes, so a bad byte is reported with its line instead of a decoder traceback
        for line_number, raw in enumerate(handle, start=1):
            if b"\x00" in raw:
                raise DataValidationError(str(path), line_number, None, "a binary file (NUL bytes), not JSON Lines text") from None
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                problem = f"not UTF-8 text (byte {error.start + 1} of the line); is it a binary file?"
                raise DataValidationError(str(path), line_number, None, problem) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataValidationError(str(path), line_number, None, f"invalid JSON: {error.msg}") from None
            yield _as_row(str(path), line_number, record)


def _table_records(path: Path, suffix: str) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataValidationError(str(path), None, None, f"not UTF-8 text (byte {error.start + 1}); is it a binary file?") from None
    except Exception as error:  # noqa: BLE001 - pyarrow and the CSV parser raise many types for a malformed file
        raise DataValidationError(str(path), None, None, f"not a readable {suffix[1:]} file: {first_line(error)}") from None
    return frame.to_dict("records")


def _json_records(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise DataValidationError(str(path), None, None, f"not UTF-8 text (byte {error.start + 1}); is it a binary file?") from None
    except json.JSONDecodeError as error:
        raise DataValidationError(str(path), None, None, f"invalid JSON at line {error.lineno}: {error.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DataValidationError(str(path), None, None, "expected a JSON array of row objects (or JSON Lines)")
    return data


def _as_row(source: str, index: int, record: Any) -> Row:
    if not isinstance(record, dict):
        raise DataValidationError(source, index, None, f"expected an object with named fields, got {type(record).__name__}")
    return Row(source=source, index=index, data=record)


def split_files(directory: Path, split: str) -> list[Path]:
    """Files holding ``split`` in a local copy: ``split.jsonl`` or Hub-snapshot shards ``data/split-00000-of-00001.parquet``."""
    pattern = re.compile(rf"^{re.escape(split)}(-\d+-of-\d+)?$")
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and path.suffix.lower() in FILE_SUFFIXES and pattern.match(path.stem)
    )


def split_names(directory: Path) -> list[str]:
    """The split names present in a local copy (one file or shard set per split)."""
    names = {
        re.sub(r"-\d+-of-\d+$", "", path.stem)
        for path in directory.rglob("*")
        if path.is_file() and path.suffix.lower() in FILE_SUFFIXES and not path.name.startswith(".")
    }
    return sorted(names)


def find_local_copy(data_dir: Path | None, dirnames: tuple[str, ...], marker: str | None = None) -> Path | None:
    """The first of ``data_dir/<dirname>`` (or ``data_dir`` itself when it holds ``marker``) that exists."""
    for base in _data_dirs(data_dir):
        for dirname in dirnames:
            candidate = base / dirname
            if candidate.is_dir():
                return candidate
        if marker is not None and (base / marker).exists():
            return base
    return None


def _data_dirs(data_dir: Path | None) -> list[Path]:
    dirs = [data_dir] if data_dir is not None else []
    if os.environ.get(DATA_DIR_ENV):
        dirs.append(Path(os.environ[DATA_DIR_ENV]))
    return [d.expanduser() for d in dirs]


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` is set."""
    return any(os.environ.get(flag, "").lower() in ("1", "true", "yes", "on") for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_rows(repo_id: str, split: str | None, revision: str | None, *, hint: str, config: str | None = None) -> Iterator[Row]:
    """Rows of one split (all splits, concatenated, when ``split`` is None) of a Hub dataset, or of its config ``config``.

    Raises a clear :class:`DatasetNotAvailableError` when the Hub is unreachable.
    """
    loaded = _load_hub_split(repo_id, split, revision, hint=hint, config=config)
    parts = loaded.items() if split is None else [(split, loaded)]
    for name, dataset in parts:
        source = f"hf://datasets/{repo_id}@{revision or 'main'}:{config + '/' if config else ''}{name}"
        for index, record in enumerate(dataset, start=1):
            yield Row(source=source, index=index, data=record)


def hub_file_rows(repo_id: str, filename: str, revision: str | None, *, hint: str) -> Iterator[Row]:
    """Rows of one data file of a Hub dataset repository (for sets published as files, not as configs).

    Raises a clear :class:`DatasetNotAvailableError` when the Hub is unreachable.
    """
    yield from read_rows(hub_file(repo_id, filename, revision, hint=hint))


def hub_file(repo_id: str, filename: str, revision: str | None, *, hint: str) -> Path:
    """One file of a Hub dataset repository, downloaded (or found in the Hub cache); a clear error offline or when the Hub fails."""
    if hub_offline():
        raise DatasetNotAvailableError(f"{repo_id} ({filename}) is not available offline (HF_HUB_OFFLINE is set). {hint}")
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    except Exception as error:  # noqa: BLE001
        raise DatasetNotAvailableError(f"could not load {repo_id} ({filename}) from the Hub ({error}). {hint}") from error


def parquet_rows(path: Path, *, batch_rows: int = 16) -> Iterator[Row]:
    """The rows of a parquet file, ``batch_rows`` at a time (image sets: one batch of pictures in memory, never the file)."""
    import pyarrow.parquet as pq

    try:
        # read as it goes: pre-buffering reads column chunks ahead, and arrow's allocator keeps what it freed
        reader = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except Exception as error:  # noqa: BLE001 - pyarrow raises many types for a malformed file
        raise DataValidationError(str(path), None, None, f"not a readable parquet file: {first_line(error)}") from None
    index = 0
    with reader:
        for batch in reader.iter_batches(batch_size=batch_rows, use_threads=False):
            for record in batch.to_pylist():
                index += 1
                yield Row(source=str(path), index=index, data=record)


def hub_split_names(repo_id: str, revision: str | None, *, hint: str) -> list[str]:
    """The split names of a Hub dataset; a clear error offline or when the Hub fails."""
    if hub_offline():
        raise DatasetNotAvailableError(f"{repo_id} is not available offline (HF_HUB_OFFLINE is set). {hint}")
    try:
        from datasets import get_dataset_split_names

        return list(get_dataset_split_names(repo_id, revision=revision))
    except Exception as error:  # noqa: BLE001 - any Hub failure means the same thing to the user
        raise DatasetNotAvailableError(f"could not list the splits of {repo_id} on the Hub ({error}). {hint}") from error


def _load_hub_split(repo_id: str, split: str | None, revision: str | None, *, hint: str, config: str | None = None) -> Any:
    what = f"{repo_id} ({'config ' + repr(config) + ', ' if config else ''}{_split_label(split)})"
    if hub_offline():
        raise DatasetNotAvailableError(f"{what} is not available offline (HF_HUB_OFFLINE is set). {hint}")
    try:
        from datasets import load_dataset

        return load_dataset(repo_id, config, split=split, revision=revision)
    except Exception as error:  # noqa: BLE001
        raise DatasetNotAvailableError(f"could not load {what} from the Hub ({error}). {hint}") from error


def _split_label(split: str | None) -> str:
    return "all splits" if split is None else f"split {split!r}"
