"""RewardBench 2 (allenai/reward-bench-2, split ``test``): best-of-4 per prompt, Ties with several correct answers.

Scoring, as rewardbench's ``run_v2.py``: 1/k credit when the chosen answer is among k answers tied
at the top score; the Ties subset by its composite (:func:`rm_mlflow.metrics.ties_score`); the score
is the mean of the six subsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rm_mlflow.data.benchmark import Benchmark, register_benchmark
from rm_mlflow.data.hosted import download_hint, load_single_split
from rm_mlflow.data.types import RATE_EACH_ANSWER, PreferenceExample
from rm_mlflow.data.validation import Row
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, TiesScore, mean, outcome_accuracies, shared_top_credit, ties_score

HUB_ID = "allenai/reward-bench-2"
SUBSETS = ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")
TIES_SUBSET = "Ties"


def convert_row(row: Row) -> PreferenceExample:
    """One ``test`` row: prompt, chosen (one, or several in Ties), rejected, subset, id."""
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
        metadata={key: row.data[key] for key in ("num_correct", "total_completions") if row.has(key)}
        | ({RATE_EACH_ANSWER: "ties"} if subset == TIES_SUBSET else {}),
    )


def ties_subset_score(rows: Iterable[tuple[str, Sequence[float], Sequence[float]]]) -> TiesScore:
    """The Ties composite from ``(id, correct scores, incorrect scores)`` rows with ids ``ref:<prompt>`` / ``tied:<prompt>``."""
    reference, tied = {}, {}
    for example_id, correct, incorrect in rows:
        sample_type, _, prompt_id = example_id.partition(":")
        (reference if sample_type == "ref" else tied)[prompt_id] = (correct, incorrect)
    return ties_score(reference, tied)


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Accuracy of the five best-of-4 subsets, the Ties composite, and their mean."""
    subsets = outcome_accuracies([o for o in outcomes if o.subset != TIES_SUBSET])
    extra: dict[str, float] = {}
    ties_rows = [(o.id, o.chosen_scores, o.rejected_scores) for o in outcomes if o.subset == TIES_SUBSET]
    if ties_rows:
        ties = ties_subset_score(ties_rows)
        subsets[TIES_SUBSET] = ties.score
        extra = {f"ties/{name}": value for name, value in vars(ties).items() if name != "score"}
    return BenchmarkScores(score=mean(subsets.values()), subsets=subsets, extra=extra)


def prompt_cluster(outcome: ExampleOutcome) -> str:
    """Ties rows are resampled by prompt (its ``ref:`` and ``tied:`` versions together); other rows one by one."""
    return f"ties:{outcome.id.partition(':')[2]}" if outcome.subset == TIES_SUBSET else outcome.id


REWARDBENCH2 = register_benchmark(
    Benchmark(
        name="rewardbench2",
        title="RewardBench 2",
        load=load_single_split(convert_row),
        aggregate=aggregate,
        correctness=shared_top_credit,
        cluster_of=prompt_cluster,
        hub_id=HUB_ID,
        default_split="test",
        local_dirnames=("reward-bench-2", "rewardbench2"),
        download_hint=download_hint(HUB_ID, "reward-bench-2"),
    ),
    aliases=(HUB_ID, "rewardbench-2"),
)
