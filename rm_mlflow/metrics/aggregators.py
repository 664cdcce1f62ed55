"""Per-benchmark aggregation of example outcomes into subset, section and headline scores.

Each benchmark names its aggregator; a new benchmark with new arithmetic registers one function here.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from rm_mlflow._registry import Registry
from rm_mlflow.data.benchmark import Benchmark
from rm_mlflow.data.prior import LEADERBOARD_SUBSETS
from rm_mlflow.data.rewardbench2 import TIES_SUBSET
from rm_mlflow.metrics.accuracy import micro_accuracy, subset_accuracies
from rm_mlflow.metrics.sections import leaderboard_score, original_leaderboard_score, prior_sets_score, section_scores
from rm_mlflow.metrics.ties import ties_score


@dataclass(frozen=True)
class ExampleOutcome:
    """One scored example: its scores and its correctness under the benchmark's rule (None: not a comparison)."""

    id: str
    subset: str
    chosen_scores: tuple[float, ...]
    rejected_scores: tuple[float, ...]
    correct: float | None


@dataclass
class BenchmarkScores:
    """What one benchmark scored. ``score`` is the headline (None for score-only instruction data)."""

    score: float | None
    subsets: dict[str, float] = field(default_factory=dict)
    sections: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    subset_counts: dict[str, int] = field(default_factory=dict)

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """Flat, hierarchical metric names: ``prefix/score``, ``prefix/section/chat_hard``, ``prefix/subset/<name>``."""
        metrics = {} if self.score is None else {f"{prefix}/score": self.score}
        metrics |= {f"{prefix}/section/{metric_slug(name)}": value for name, value in self.sections.items()}
        metrics |= {f"{prefix}/subset/{metric_slug(name)}": value for name, value in self.subsets.items()}
        metrics |= {f"{prefix}/{name}": value for name, value in self.extra.items()}
        metrics[f"{prefix}/num_examples"] = float(sum(self.subset_counts.values()))
        return {name: value for name, value in metrics.items() if not math.isnan(value)}


def metric_slug(name: str) -> str:
    """A metric-name-safe, lower-case form: ``Chat Hard`` -> ``chat_hard``; keeps ``/``, ``-`` and ``.``."""
    return re.sub(r"[^a-z0-9_./-]+", "_", name.lower()).strip("_")


Aggregator = Callable[[Benchmark, Sequence[ExampleOutcome]], BenchmarkScores]
AGGREGATORS: Registry[Aggregator] = Registry("aggregator")


def aggregate(benchmark: Benchmark, outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    scores = AGGREGATORS.get(benchmark.aggregator)(benchmark, outcomes)
    scores.subset_counts = _counts(outcomes)
    scores.extra |= _score_statistics(outcomes)
    return scores


@AGGREGATORS.register("rewardbench")
def _rewardbench(benchmark: Benchmark, outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    subsets = _accuracies(outcomes)
    all_sections = section_scores(subsets, benchmark.sections, benchmark.example_counts)
    present = {name: value for name, value in all_sections.items() if any(s in subsets for s in benchmark.sections[name])}
    return BenchmarkScores(score=leaderboard_score(present), subsets=subsets, sections=present)


@AGGREGATORS.register("rewardbench-prior")
def _prior_sets(benchmark: Benchmark, outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    subsets = _accuracies(outcomes)
    return BenchmarkScores(score=prior_sets_score(subsets, LEADERBOARD_SUBSETS), subsets=subsets)


@AGGREGATORS.register("rewardbench2")
def _rewardbench2(benchmark: Benchmark, outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    subsets = _accuracies([o for o in outcomes if o.subset != TIES_SUBSET])
    extra: dict[str, float] = {}
    ties_rows = [(o.id, o.chosen_scores, o.rejected_scores) for o in outcomes if o.subset == TIES_SUBSET]
    if ties_rows:
        ties = ties_score(ties_rows)
        subsets[TIES_SUBSET] = ties.score
        extra = {f"ties/{name}": value for name, value in vars(ties).items() if name != "score"}
    score = statistics.fmean(subsets.values()) if subsets else float("nan")
    return BenchmarkScores(score=score, subsets=subsets, extra=extra)


@AGGREGATORS.register("rmb")
def _rmb(benchmark: Benchmark, outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    by_section: dict[str, list[float]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.correct is not None:
            by_section[_rmb_section(outcome.subset)].append(outcome.correct)
    sections = {name: micro_accuracy(values) for name, values in sorted(by_section.items())}
    score = statistics.fmean(sections.values()) if sections else float("nan")
    return BenchmarkScores(score=score, subsets=_accuracies(outcomes), sections=sections)


def _rmb_section(category_path: str) -> str:
    """``Pairwise_set/Helpfulness/Code/Documentation`` -> ``pairwise/helpfulness``."""
    parts = category_path.split("/")
    kind = "bon" if parts[0].lower().startswith("bon") else "pairwise"
    goal = parts[1].lower() if len(parts) > 1 else "unknown"
    return f"{kind}/{goal}"


@AGGREGATORS.register("preference")
def _preference(benchmark: Benchmark, outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    compared = [o.correct for o in outcomes if o.correct is not None]
    if not compared:
        return BenchmarkScores(score=None)
    return BenchmarkScores(score=micro_accuracy(compared), subsets=_accuracies(outcomes))


def _accuracies(outcomes: Sequence[ExampleOutcome]) -> dict[str, float]:
    return subset_accuracies((o.subset, o.correct) for o in outcomes if o.correct is not None)


def _counts(outcomes: Sequence[ExampleOutcome]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        counts[outcome.subset] += 1
    return dict(sorted(counts.items()))


def _score_statistics(outcomes: Sequence[ExampleOutcome]) -> dict[str, float]:
    """Mean/std of chosen and rejected scores and the mean margin, as the rewardbench CLI logs them."""
    chosen = [s for o in outcomes for s in o.chosen_scores]
    rejected = [s for o in outcomes for s in o.rejected_scores]
    stats: dict[str, float] = {}
    if chosen:
        stats["chosen_score_mean"] = statistics.fmean(chosen)
        stats["chosen_score_std"] = statistics.pstdev(chosen)
    if rejected:
        stats["rejected_score_mean"] = statistics.fmean(rejected)
        stats["rejected_score_std"] = statistics.pstdev(rejected)
        stats["margin_mean"] = statistics.fmean(
            min(o.chosen_scores) - max(o.rejected_scores) for o in outcomes if o.rejected_scores
        )
    return stats


def combined_rewardbench_scores(scores: Mapping[str, BenchmarkScores]) -> dict[str, float]:
    """Cross-benchmark leaderboard figures: the original score (sections 2,2,2,2 + Prior Sets 1) when both ran."""
    if "rewardbench" not in scores:
        return {}
    core = scores["rewardbench"]
    prior = scores.get("rewardbench-prior")
    combined: dict[str, float] = {}
    if prior is not None and prior.score is not None:
        combined["rewardbench/prior_sets"] = prior.score
        combined["rewardbench/score_original"] = original_leaderboard_score(core.sections, prior.score)
    return combined
