"""Benchmarks hosted on the Hugging Face Hub: a local copy under ``--data-dir`` first, the Hub by name otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rm_mlflow.data.benchmark import Benchmark, LoadedRows
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, hub_rows, hub_split_names, read_rows, split_files, split_names
from rm_mlflow.data.validation import ConversionReport, Row, RowConverter, convert_rows
from rm_mlflow.errors import DatasetNotAvailableError


def local_copy(benchmark: Benchmark, options: DataOptions) -> Path | None:
    """The benchmark's local copy under ``--data-dir`` (or ``RM_MLFLOW_DATA_DIR``), if any."""
    return find_local_copy(options.data_path, benchmark.local_dirnames)


def split_rows(benchmark: Benchmark, options: DataOptions, split: str) -> tuple[Iterator[Row], str]:
    """Rows of one split and a description of where they came from."""
    directory = local_copy(benchmark, options)
    if directory is not None:
        files = split_files(directory, split)
        if not files:
            raise DatasetNotAvailableError(
                f"{benchmark.name}: no file for split {split!r} under {directory} "
                f"(found splits: {', '.join(split_names(directory)) or 'none'})"
            )
        return (row for path in files for row in read_rows(path)), str(directory)
    assert benchmark.hub_id is not None
    return hub_rows(benchmark.hub_id, split, options.revision, hint=benchmark.download_hint), f"hf://datasets/{benchmark.hub_id}"


def available_splits(benchmark: Benchmark, options: DataOptions) -> list[str]:
    """The splits of the local copy, or of the Hub dataset."""
    directory = local_copy(benchmark, options)
    if directory is not None:
        return split_names(directory)
    assert benchmark.hub_id is not None
    return hub_split_names(benchmark.hub_id, options.revision, hint=benchmark.download_hint)


def load_single_split(convert: RowConverter):
    """A ``Benchmark.load`` function for benchmarks stored as one split (local copy or Hub)."""

    def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
        split = options.split or benchmark.default_split
        rows, source = split_rows(benchmark, options, split)
        examples = convert_rows(rows, convert, skip_invalid=options.skip_invalid, report=report)
        return LoadedRows(examples=examples, source=source, split=split, revision=options.revision)

    return load


def download_hint(hub_id: str, dirname: str) -> str:
    """What to run to get a local copy of a Hub-hosted benchmark."""
    return (
        f"Download it once with `hf download {hub_id} --repo-type dataset --local-dir DATA_DIR/{dirname}` "
        f"and pass --data-dir DATA_DIR (or set RM_MLFLOW_DATA_DIR)."
    )
