"""RewardBench "prior sets" (allenai/pref-test-sets): each Hub split is one subset."""

from __future__ import annotations

from rm_mlflow.data._loading import available_splits, download_hint, split_rows
from rm_mlflow.data.benchmark import Benchmark, LoadedRows, LoadRequest, register_benchmark
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows

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


def load(benchmark: Benchmark, request: LoadRequest, report: ConversionReport) -> LoadedRows:
    splits = [split for split in available_splits(benchmark, request) if split not in DROPPED_SPLITS]
    examples: list[PreferenceExample] = []
    source = ""
    for split in splits:
        rows, source = split_rows(benchmark, request, split)
        examples += convert_rows(rows, _converter(split), skip_invalid=request.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=source, split=",".join(splits), revision=request.revision)


PRIOR_SETS = register_benchmark(
    Benchmark(
        name="rewardbench-prior",
        title="RewardBench prior preference sets",
        load=load,
        aggregator="rewardbench-prior",
        hub_id=HUB_ID,
        default_split="",
        local_dirnames=("pref-test-sets", "rewardbench-prior"),
        download_hint=download_hint(HUB_ID, "pref-test-sets"),
    ),
    aliases=(HUB_ID,),
)
