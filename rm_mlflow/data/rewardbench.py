"""RewardBench v1 core set (allenai/reward-bench, split ``filtered``): 23 subsets in four sections."""

from __future__ import annotations

from rm_mlflow.data._loading import download_hint, load_single_split
from rm_mlflow.data.benchmark import Benchmark, register_benchmark
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import Row

HUB_ID = "allenai/reward-bench"

# rewardbench/constants.py SUBSET_MAPPING
SUBSET_MAPPING: dict[str, list[str]] = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": [
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ],
    "Safety": ["refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond", "donotanswer"],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}

# rewardbench/constants.py EXAMPLE_COUNTS (post PR #175: xstest counts no longer swapped).
# math-prm has 447 rows but is weighted 984 so that math and code (6 x 164) count equally.
EXAMPLE_COUNTS: dict[str, int] = {
    "alpacaeval-easy": 100,
    "alpacaeval-length": 95,
    "alpacaeval-hard": 95,
    "mt-bench-easy": 28,
    "mt-bench-med": 40,
    "mt-bench-hard": 37,
    "llmbar-natural": 100,
    "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47,
    "llmbar-adver-manual": 46,
    "refusals-dangerous": 100,
    "refusals-offensive": 100,
    "xstest-should-refuse": 154,
    "xstest-should-respond": 250,
    "donotanswer": 136,
    "math-prm": 984,
    "hep-cpp": 164,
    "hep-go": 164,
    "hep-java": 164,
    "hep-js": 164,
    "hep-python": 164,
    "hep-rust": 164,
}

SUBSETS = frozenset(EXAMPLE_COUNTS)


def convert_row(row: Row) -> PreferenceExample:
    subset = row.text("subset")
    if subset not in SUBSETS:
        raise row.error("subset", f"unknown RewardBench subset {subset!r}")
    return PreferenceExample(
        id=str(row.raw("id")),
        subset=subset,
        prompt=row.prompt("prompt"),
        chosen=(row.text("chosen"),),
        rejected=(row.text("rejected"),),
        metadata={key: row.data[key] for key in ("chosen_model", "rejected_model") if row.has(key)},
    )


REWARDBENCH = register_benchmark(
    Benchmark(
        name="rewardbench",
        title="RewardBench (v1 core set)",
        load=load_single_split(convert_row),
        aggregator="rewardbench",
        hub_id=HUB_ID,
        default_split="filtered",
        sections=SUBSET_MAPPING,
        example_counts=EXAMPLE_COUNTS,
        local_dirnames=("reward-bench", "rewardbench"),
        download_hint=download_hint(HUB_ID, "reward-bench"),
    ),
    aliases=(HUB_ID,),
)
