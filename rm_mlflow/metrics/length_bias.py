"""How much a benchmark rewards length, and how much a model leans on it.

- the *length-only baseline*: the benchmark's own correctness rule and aggregation applied with each
  response's length (characters) as its score, so "the longer answer wins" gets the benchmark's score;
- the model's accuracy on examples whose chosen response is longer than every rejected one, and on those
  where it is shorter than every rejected one;
- the Spearman rank correlation between a response's score and its length.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from rm_mlflow.metrics.accuracy import CorrectnessRule
from rm_mlflow.metrics.outcomes import BenchmarkScores, ExampleOutcome


@dataclass
class LengthFigures:
    """The figures for one subset (or all examples)."""

    baseline_accuracy: float
    accuracy_chosen_longer: float
    accuracy_chosen_shorter: float
    examples_chosen_longer: int
    examples_chosen_shorter: int
    score_length_spearman: float


@dataclass
class LengthBias:
    """The length-only baseline as the benchmark scores it, and the model's figures overall and per subset."""

    baseline: BenchmarkScores
    overall: LengthFigures
    subsets: dict[str, LengthFigures] = field(default_factory=dict)

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """``<prefix>/length/baseline_score``, ``.../accuracy_chosen_longer``, ``.../score_length_spearman`` and the baseline per subset."""
        base = f"{prefix}/length"
        values = {} if self.baseline.score is None else {f"{base}/baseline_score": self.baseline.score}
        values |= {
            f"{base}/accuracy_chosen_longer": self.overall.accuracy_chosen_longer,
            f"{base}/accuracy_chosen_shorter": self.overall.accuracy_chosen_shorter,
            f"{base}/score_length_spearman": self.overall.score_length_spearman,
        }
        return {key: value for key, value in values.items() if not math.isnan(value)}


def length_bias(
    outcomes: Sequence[ExampleOutcome],
    lengths: Sequence[tuple[Sequence[int], Sequence[int]]],
    correctness: CorrectnessRule,
    aggregate: Callable[[Sequence[ExampleOutcome]], BenchmarkScores],
) -> LengthBias:
    """The length figures of scored examples, given each example's (chosen lengths, rejected lengths).

    Args:
        outcomes: the scored examples (instruction rows, with no rejected response, are left out).
        lengths: per outcome, the character lengths of its chosen and rejected responses.
        correctness: the benchmark's rule, applied to lengths for the baseline.
        aggregate: the benchmark's aggregation, applied to the baseline's outcomes.
    """
    compared = [(o, lens) for o, lens in zip(outcomes, lengths, strict=True) if o.rejected_scores]
    by_length = [
        replace(o, chosen_scores=tuple(map(float, chosen)), rejected_scores=tuple(map(float, rejected)), correct=correctness(chosen, rejected))
        for o, (chosen, rejected) in compared
    ]
    groups: dict[str, list[tuple[ExampleOutcome, ExampleOutcome, tuple]]] = defaultdict(list)
    for (o, lens), baseline in zip(compared, by_length, strict=True):
        groups[o.subset].append((o, baseline, lens))
    every = [item for members in groups.values() for item in members]
    return LengthBias(
        baseline=aggregate(by_length),
        overall=_figures(every),
        subsets={subset: _figures(members) for subset, members in sorted(groups.items())},
    )


def _figures(items: list[tuple[ExampleOutcome, ExampleOutcome, tuple]]) -> LengthFigures:
    longer = [o.correct for o, _, (chosen, rejected) in items if min(chosen) > max(rejected)]
    shorter = [o.correct for o, _, (chosen, rejected) in items if max(chosen) < min(rejected)]
    scores = [s for o, _, _ in items for s in (*o.chosen_scores, *o.rejected_scores)]
    sizes = [n for _, _, (chosen, rejected) in items for n in (*chosen, *rejected)]
    return LengthFigures(
        baseline_accuracy=_mean(b.correct for _, b, _ in items),
        accuracy_chosen_longer=_mean(longer),
        accuracy_chosen_shorter=_mean(shorter),
        examples_chosen_longer=len(longer),
        examples_chosen_shorter=len(shorter),
        score_length_spearman=spearman(scores, sizes),
    )


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (ties share the mean of their positions), as scipy's ``rankdata``."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (NaN for fewer than three points or a constant series)."""
    if len(x) < 3:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    covariance = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    spread = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return covariance / spread if spread else math.nan
