"""RMB (Zhou et al., ICLR 2025): pairwise and best-of-N sets for Helpfulness and Harmlessness.

Loaded from a checkout of the RMB repository's ``RMB_dataset/`` folder (``{Pairwise_set,BoN_set}/
{Helpfulness/<category>/<scenario>.json, Harmlessness/S*.json}``). The file list is discovered, never
assumed: snapshots of the repository miss some files. Each scenario (``category_path``) is a subset.
"""

from __future__ import annotations

from pathlib import Path

from rm_mlflow.data.benchmark import Benchmark, LoadedRows, LoadRequest, register_benchmark
from rm_mlflow.data.sources import find_local_copy, read_rows
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.errors import DatasetNotAvailableError, UnknownNameError

REPOSITORY = "https://github.com/Zhou-Zoey/RMB-Reward-Model-Benchmark"
SET_DIRS = {"pairwise": "Pairwise_set", "bon": "BoN_set"}
GOALS = ("Helpfulness", "Harmlessness")
DOWNLOAD_HINT = (
    f"RMB is published as JSON files in {REPOSITORY} (folder RMB_dataset/), not on the Hugging Face Hub: "
    "clone it and pass --data-dir pointing at the clone, its RMB_dataset/ folder, or a folder holding rmb/RMB_dataset."
)


def _answer(row: Row, field: str, value: object) -> str:
    if not isinstance(value, dict):
        raise row.error(field, f"expected an object with an 'answer', got {type(value).__name__}")
    return row.text(f"{field}.answer", value.get("answer"))


def _prompt(row: Row) -> tuple:
    prompt = row.messages("conversation_input")
    if prompt[-1]["role"] != "user":
        raise row.error("conversation_input", "the conversation must end with a user turn")
    return prompt


def convert_pairwise(row: Row) -> PreferenceExample:
    return PreferenceExample(
        id=str(row.raw("pair_uid")),
        subset=row.text("category_path"),
        prompt=_prompt(row),
        chosen=(_answer(row, "chosen", row.raw("chosen")),),
        rejected=(_answer(row, "reject", row.raw("reject")),),
        metadata={"chosen_model": row.data["chosen"].get("llm_name"), "rejected_model": row.data["reject"].get("llm_name")},
    )


def convert_best_of_n(row: Row) -> PreferenceExample:
    losers = row.raw("loser_list")
    if not isinstance(losers, list) or not losers:
        raise row.error("loser_list", "expected a non-empty list of {llm_name, answer} objects")
    return PreferenceExample(
        id=str(row.raw("bon_uid")),
        subset=row.text("category_path"),
        prompt=_prompt(row),
        chosen=(_answer(row, "bon_best", row.raw("bon_best")),),
        rejected=tuple(_answer(row, f"loser_list[{i}]", loser) for i, loser in enumerate(losers)),
    )


CONVERTERS = {"pairwise": convert_pairwise, "bon": convert_best_of_n}


def dataset_root(data_dir: Path | None) -> Path:
    root = find_local_copy(data_dir, ("rmb/RMB_dataset", "RMB_dataset", "rmb"), marker="Pairwise_set")
    if root is None or not any((root / name).is_dir() for name in SET_DIRS.values()):
        looked = str(data_dir) if data_dir is not None else "no --data-dir given"
        raise DatasetNotAvailableError(f"rmb: no RMB_dataset folder found ({looked}). {DOWNLOAD_HINT}")
    return root


def load(benchmark: Benchmark, request: LoadRequest, report: ConversionReport) -> LoadedRows:
    split = request.split or benchmark.default_split
    kinds = list(SET_DIRS) if split == "all" else [split]
    if any(kind not in SET_DIRS for kind in kinds):
        raise UnknownNameError(f"rmb: unknown split {split!r}; choose one of: all, pairwise, bon")
    root = dataset_root(request.data_dir)
    examples: list[PreferenceExample] = []
    for kind in kinds:
        for path in sorted((root / SET_DIRS[kind]).rglob("*.json")):
            if request.subsets and path.relative_to(root).with_suffix("").as_posix() not in request.subsets:
                continue
            examples += convert_rows(read_rows(path), CONVERTERS[kind], skip_invalid=request.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=str(root), split=split)


RMB = register_benchmark(
    Benchmark(
        name="rmb",
        title="RMB (Reward Model Benchmark)",
        load=load,
        aggregator="rmb",
        default_split="all",
        download_hint=DOWNLOAD_HINT,
    )
)
