"""RewardBench 2 (allenai/reward-bench-2, split ``test``): best-of-4 per prompt, Ties with several correct answers."""

from __future__ import annotations

from rm_mlflow.data._loading import download_hint, load_single_split
from rm_mlflow.data.benchmark import Benchmark, register_benchmark
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import Row

HUB_ID = "allenai/reward-bench-2"
SUBSETS = ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")
TIES_SUBSET = "Ties"


def convert_row(row: Row) -> PreferenceExample:
    subset = row.text("subset")
    if subset not in SUBSETS:
        raise row.error("subset", f"unknown RewardBench 2 subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    chosen = row.texts("chosen")
    if subset != TIES_SUBSET and len(chosen) != 1:
        raise row.error("chosen", f"expected exactly one chosen response outside Ties, got {len(chosen)}")
    return PreferenceExample(
        id=str(row.raw("id")),
        subset=subset,
        prompt=row.prompt("prompt"),
        chosen=chosen,
        rejected=row.texts("rejected"),
        metadata={key: row.data[key] for key in ("num_correct", "total_completions") if row.has(key)},
    )


REWARDBENCH2 = register_benchmark(
    Benchmark(
        name="rewardbench2",
        title="RewardBench 2",
        load=load_single_split(convert_row),
        aggregator="rewardbench2",
        hub_id=HUB_ID,
        default_split="test",
        correctness="shared_top",
        local_dirnames=("reward-bench-2", "rewardbench2"),
        download_hint=download_hint(HUB_ID, "reward-bench-2"),
    ),
    aliases=(HUB_ID, "rewardbench-2"),
)
