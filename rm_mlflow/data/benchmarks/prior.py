"""RewardBench "prior sets" (allenai/pref-test-sets): each Hub split is one subset.

The leaderboard's "Prior Sets (0.5 weight)" column is ``np.nanmean`` over four of them, each set
counting equally whatever its size. Evaluated together with ``rewardbench``, they also give the
original leaderboard score (sections weighted 2,2,2,2 and Prior Sets 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rm_mlflow.data.benchmark import Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.benchmarks.rewardbench import original_leaderboard_score
from rm_mlflow.data.hosted import available_splits, download_hint, split_rows
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, nanmean, outcome_accuracies

HUB_ID = "allenai/pref-test-sets"
SUBSETS = (
    "anthropic_harmless",
    "anthropic_helpful",
    "anthropic_hhh",
    "mtbench_gpt4",
    "mtbench_human",
    "shp",
    "summarize",
)
# rewardbench drops these splits: "no longer part of the benchmark"
DROPPED_SPLITS = frozenset({"pku_better", "pku_safer"})
# The leaderboard's "Prior Sets (0.5 weight)" column averages these four.
LEADERBOARD_SUBSETS = ("anthropic_helpful", "anthropic_hhh", "shp", "summarize")


def _converter(split: str):
    def convert(row: Row) -> PreferenceExample:
        metadata = {"subsubset": row.data["subset"]} if row.has("subset") else {}
        return PreferenceExample(
            id=f"{split}:{row.data['id'] if row.has('id') else row.index - 1}",
            subset=split,
            prompt=row.prompt("prompt"),
            chosen=(row.text("chosen"),),
            rejected=(row.text("rejected"),),
            metadata=metadata,
        )

    return convert


def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """Every split but the dropped ones, each as a subset."""
    splits = [split for split in available_splits(benchmark, options) if split not in DROPPED_SPLITS]
    examples: list[PreferenceExample] = []
    source = ""
    for split in splits:
        rows, source = split_rows(benchmark, options, split)
        examples += convert_rows(rows, _converter(split), skip_invalid=options.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=source, split=",".join(splits), revision=options.revision)


def prior_sets_score(subset_accuracy: Mapping[str, float]) -> float:
    """The leaderboard's "Prior Sets (0.5 weight)" column: ``np.nanmean`` over :data:`LEADERBOARD_SUBSETS` present."""
    return nanmean(subset_accuracy[name] for name in LEADERBOARD_SUBSETS if name in subset_accuracy)


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Accuracy per set; the score is the Prior Sets column."""
    subsets = outcome_accuracies(outcomes)
    return BenchmarkScores(score=prior_sets_score(subsets), subsets=subsets)


def combine_with_core(scores: Mapping[str, BenchmarkScores]) -> dict[str, float]:
    """With ``rewardbench`` in the same evaluation: the Prior Sets column and the original leaderboard score."""
    core, prior = scores.get("rewardbench"), scores.get("rewardbench-prior")
    if core is None or prior is None or prior.score is None:
        return {}
    return {
        "rewardbench/prior_sets": prior.score,
        "rewardbench/score_original": original_leaderboard_score(core.sections, prior.score),
    }


PRIOR_SETS = register_benchmark(
    Benchmark(
        name="rewardbench-prior",
        title="RewardBench prior preference sets",
        load=load,
        aggregate=aggregate,
        combine=combine_with_core,
        hub_id=HUB_ID,
        default_split="",
        local_dirnames=("pref-test-sets", "rewardbench-prior"),
        download_hint=download_hint(HUB_ID, "pref-test-sets"),
    ),
    aliases=(HUB_ID,),
)
