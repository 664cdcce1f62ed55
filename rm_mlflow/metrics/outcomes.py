"""Scored examples and what a benchmark makes of them: the types every aggregation takes and returns."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rm_mlflow.metrics.accuracy import subset_accuracies


@dataclass(frozen=True)
class ExampleScores:
    """An example's scores as the benchmark's correctness rule reads them, and what else the kind knows about it.

    ``extras`` are per-example figures averaged over the benchmark (position consistency); ``details``
    are per-example table columns only (a judge's raw answers). ``credit`` replaces the benchmark's
    correctness rule where the kind scores an example itself (a judge's verdict: 1, 0, or 0.5 for no verdict).
    ``votes`` are a judge's pair verdicts in the order asked: +1 it picked the chosen answer, -1 a rejected one, 0 no
    verdict (read by benchmarks that count games, see :attr:`~rm_mlflow.data.benchmark.Benchmark.games`).
    """

    chosen: tuple[float, ...]
    rejected: tuple[float, ...]
    extras: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    credit: float | None = None
    votes: tuple[int, ...] = ()


@dataclass(frozen=True)
class ExampleOutcome:
    """One scored example: its scores and its correctness under the benchmark's rule (None: not a comparison).

    ``votes``: for benchmarks that play games (JudgeBench), each game's decision against the label: +1 right,
    -1 wrong, 0 no decision; empty elsewhere.
    """

    id: str
    subset: str
    chosen_scores: tuple[float, ...]
    rejected_scores: tuple[float, ...]
    correct: float | None
    votes: tuple[int, ...] = ()


@dataclass
class BenchmarkScores:
    """What one benchmark scored. ``score`` is the headline (None for score-only instruction data)."""

    score: float | None
    subsets: dict[str, float] = field(default_factory=dict)
    sections: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    subset_counts: dict[str, int] = field(default_factory=dict)
    intervals: dict[str, Any] = field(default_factory=dict)  # "score", "section/<name>", "subset/<name>" -> Interval

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """Flat, hierarchical metric names: ``prefix/score``, ``prefix/section/chat_hard``, ``prefix/subset/<name>``.

        With intervals, each figure also has ``..._ci_low`` and ``..._ci_high`` (``rewardbench/score_ci_low``).
        """
        metrics = {} if self.score is None else {f"{prefix}/score": self.score}
        metrics |= {f"{prefix}/section/{metric_slug(name)}": value for name, value in self.sections.items()}
        metrics |= {f"{prefix}/subset/{metric_slug(name)}": value for name, value in self.subsets.items()}
        for key, interval in self.intervals.items():
            kind, _, name = key.partition("/")
            base = f"{prefix}/score" if key == "score" else f"{prefix}/{kind}/{metric_slug(name)}"
            metrics[f"{base}_ci_low"], metrics[f"{base}_ci_high"] = interval.low, interval.high
        metrics |= {f"{prefix}/{name}": value for name, value in self.extra.items()}
        metrics[f"{prefix}/num_examples"] = float(sum(self.subset_counts.values()))
        return {name: value for name, value in metrics.items() if not math.isnan(value)}


def metric_slug(name: str) -> str:
    """A metric-name-safe, lower-case form: ``Chat Hard`` -> ``chat_hard``; keeps ``/``, ``-`` and ``.``."""
    return re.sub(r"[^a-z0-9_./-]+", "_", name.lower()).strip("_")


def subset_counts(outcomes: Sequence[ExampleOutcome]) -> dict[str, int]:
    """Examples per subset, subsets sorted by name."""
    return dict(sorted(Counter(outcome.subset for outcome in outcomes).items()))


def score_statistics(outcomes: Sequence[ExampleOutcome]) -> dict[str, float]:
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
        stats["margin_mean"] = statistics.fmean(min(o.chosen_scores) - max(o.rejected_scores) for o in outcomes if o.rejected_scores)
    return stats


def outcome_accuracies(outcomes: Sequence[ExampleOutcome]) -> dict[str, float]:
    """Accuracy per subset over the outcomes that are comparisons (instruction rows have ``correct`` None)."""
    return subset_accuracies((o.subset, o.correct) for o in outcomes if o.correct is not None)
