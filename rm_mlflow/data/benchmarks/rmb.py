"""RMB (Zhou et al., ICLR 2025): pairwise and best-of-N sets for Helpfulness and Harmlessness.

Scoring, as the RMB paper and its re-implementations: a pair is correct when chosen > rejected; a
best-of-N row only when the best answer beats every loser. Sections are pairwise/bon x
helpfulness/harmlessness, each a micro-average over its items; the score is their mean.

Loaded from a checkout of the RMB repository's ``RMB_dataset/`` folder (``{Pairwise_set,BoN_set}/
{Helpfulness/<category>/<scenario>.json, Harmlessness/S*.json}``). The file list is discovered, never
assumed: snapshots of the repository miss some files. Each scenario (``category_path``) is a subset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rm_mlflow._registry import unknown_name_message
from rm_mlflow.data.benchmark import Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, read_rows
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.errors import DatasetNotAvailableError, UnknownNameError
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, mean, micro_accuracy, outcome_accuracies

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
    """A ``Pairwise_set`` row: ``conversation_input``, ``chosen`` and ``reject`` (sic)."""
    return PreferenceExample(
        id=str(row.raw("pair_uid")),
        subset=row.text("category_path"),
        prompt=_prompt(row),
        chosen=(_answer(row, "chosen", row.raw("chosen")),),
        rejected=(_answer(row, "reject", row.raw("reject")),),
        metadata={"chosen_model": row.data["chosen"].get("llm_name"), "rejected_model": row.data["reject"].get("llm_name")},
    )


def convert_best_of_n(row: Row) -> PreferenceExample:
    """A ``BoN_set`` row: ``conversation_input``, ``bon_best`` and 2-6 ``loser_list`` answers."""
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
    """The ``RMB_dataset`` folder under ``data_dir`` (or ``RM_MLFLOW_DATA_DIR``)."""
    root = find_local_copy(data_dir, ("rmb/RMB_dataset", "RMB_dataset", "rmb"), marker="Pairwise_set")
    if root is None or not any((root / name).is_dir() for name in SET_DIRS.values()):
        looked = str(data_dir) if data_dir is not None else "no --data-dir given"
        raise DatasetNotAvailableError(f"rmb: no RMB_dataset folder found ({looked}). {DOWNLOAD_HINT}")
    return root


def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """Every scenario file of the asked split(s) (``all``, ``pairwise`` or ``bon``); each ``category_path`` is a subset."""
    split = options.split or benchmark.default_split
    kinds = list(SET_DIRS) if split == "all" else [split]
    if any(kind not in SET_DIRS for kind in kinds):
        raise UnknownNameError(unknown_name_message("rmb split", split, ["all", *SET_DIRS]))
    root = dataset_root(options.data_path)
    files = {
        path.relative_to(root).with_suffix("").as_posix(): (kind, path) for kind in kinds for path in sorted((root / SET_DIRS[kind]).rglob("*.json"))
    }
    examples: list[PreferenceExample] = []
    for scenario, (kind, path) in files.items():
        if not options.subsets or scenario in options.subsets:
            examples += convert_rows(read_rows(path), CONVERTERS[kind], skip_invalid=options.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=str(root), split=split, available_subsets=tuple(files))


def section(category_path: str) -> str:
    """``Pairwise_set/Helpfulness/Code/Documentation`` -> ``pairwise/helpfulness``."""
    parts = category_path.split("/")
    kind = "bon" if parts[0].lower().startswith("bon") else "pairwise"
    goal = parts[1].lower() if len(parts) > 1 else "unknown"
    return f"{kind}/{goal}"


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Per-scenario accuracy, the four micro-averaged sections, and their mean."""
    by_section: dict[str, list[float]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.correct is not None:
            by_section[section(outcome.subset)].append(outcome.correct)
    sections = {name: micro_accuracy(values) for name, values in sorted(by_section.items())}
    return BenchmarkScores(score=mean(sections.values()), subsets=outcome_accuracies(outcomes), sections=sections)


RMB = register_benchmark(
    Benchmark(
        name="rmb",
        title="RMB (Reward Model Benchmark)",
        load=load,
        aggregate=aggregate,
        default_split="all",
        download_hint=DOWNLOAD_HINT,
        section_rule=section,
        section_names=tuple(f"{kind}/{goal.lower()}" for kind in ("bon", "pairwise") for goal in GOALS),
    )
)
