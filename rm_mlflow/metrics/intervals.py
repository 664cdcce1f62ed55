"""Seeded percentile-bootstrap intervals and paired comparisons, computed with a benchmark's own aggregation.

Resampling is within subsets (each subset keeps its size, as its accuracy is estimated from it), by
*cluster*: one example, or for RewardBench 2's Ties the reference and tied versions of one prompt together.
Each resample is aggregated by exactly the function that gives the point estimates, so an interval
covers the section weighting and headline formula as they are. A paired comparison resamples the same
clusters for both models and reads the distribution of the difference.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from rm_mlflow.metrics.outcomes import BenchmarkScores, ExampleOutcome

Aggregate = Callable[[Sequence[ExampleOutcome]], BenchmarkScores]
ClusterOf = Callable[[ExampleOutcome], str]
DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A percentile interval at ``level`` around a point estimate."""

    estimate: float
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class Difference:
    """Candidate minus baseline: the point difference, its interval and the share of resamples where it is positive."""

    delta: float
    low: float
    high: float
    probability_better: float
    level: float


def flat_scores(scores: BenchmarkScores) -> dict[str, float]:
    """The figures intervals are given for: ``score``, ``section/<name>``, ``subset/<name>``."""
    values = {} if scores.score is None else {"score": scores.score}
    values |= {f"section/{name}": value for name, value in scores.sections.items()}
    values |= {f"subset/{name}": value for name, value in scores.subsets.items()}
    return {key: value for key, value in values.items() if not math.isnan(value)}


def by_example(outcome: ExampleOutcome) -> str:
    """The default cluster: each example on its own."""
    return outcome.id


def _clusters(outcomes: Sequence[ExampleOutcome], cluster_of: ClusterOf) -> dict[str, list[list[ExampleOutcome]]]:
    grouped: dict[str, dict[str, list[ExampleOutcome]]] = defaultdict(dict)
    for outcome in outcomes:
        grouped[outcome.subset].setdefault(cluster_of(outcome), []).append(outcome)
    return {subset: list(clusters.values()) for subset, clusters in grouped.items()}


def _draw(clusters: Mapping[str, list[list[ExampleOutcome]]], rng: random.Random) -> list[tuple[int, int]]:
    """One resample: for each subset, as many cluster indices (with replacement) as it has clusters."""
    return [(s, c) for s, members in enumerate(clusters.values()) for c in rng.choices(range(len(members)), k=len(members))]


def _materialize(
    clusters: Mapping[str, list[list[ExampleOutcome]]], draw: Sequence[tuple[int, int]], *, relabel: bool
) -> list[ExampleOutcome]:
    """The resampled outcomes.

    With ``relabel`` (clusters that pair examples by id, like Ties), a cluster drawn again gets its ids
    suffixed (``@k``) so each copy counts; aggregations that do not read ids skip that work.
    """
    groups = list(clusters.values())
    if not relabel:
        return [outcome for s, c in draw for outcome in groups[s][c]]
    seen: dict[tuple[int, int], int] = defaultdict(int)
    resampled = []
    for subset_index, cluster_index in draw:
        copy = seen[(subset_index, cluster_index)]
        seen[(subset_index, cluster_index)] += 1
        for outcome in groups[subset_index][cluster_index]:
            resampled.append(outcome if copy == 0 else replace(outcome, id=f"{outcome.id}@{copy}"))
    return resampled


def _percentiles(values: list[float], level: float) -> tuple[float, float]:
    values = sorted(v for v in values if not math.isnan(v))
    if not values:
        return math.nan, math.nan
    tail = (1 - level) / 2
    return _quantile(values, tail), _quantile(values, 1 - tail)


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    position = q * (len(values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(values) - 1)
    return values[below] + (values[above] - values[below]) * (position - below)


def bootstrap_intervals(
    outcomes: Sequence[ExampleOutcome],
    aggregate: Aggregate,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    cluster_of: ClusterOf = by_example,
) -> dict[str, Interval]:
    """Percentile intervals for every figure of :func:`flat_scores`, from ``resamples`` seeded resamples within subsets.

    Args:
        outcomes: the scored examples of one benchmark.
        aggregate: the benchmark's aggregation (the one behind its point estimates).
        resamples: number of bootstrap resamples.
        level: the interval's coverage, e.g. 0.95.
        seed: makes the intervals reproducible.
        cluster_of: which examples are resampled together (see the module docstring).
    """
    point = flat_scores(aggregate(outcomes))
    clusters = _clusters(outcomes, cluster_of)
    relabel = cluster_of is not by_example
    rng = random.Random(seed)
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(resamples):
        for key, value in flat_scores(aggregate(_materialize(clusters, _draw(clusters, rng), relabel=relabel))).items():
            samples[key].append(value)
    return {key: Interval(value, *_percentiles(samples[key], level), level) for key, value in point.items()}


def paired_difference(
    candidate: Sequence[ExampleOutcome],
    baseline: Sequence[ExampleOutcome],
    aggregate: Aggregate,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    cluster_of: ClusterOf = by_example,
) -> dict[str, Difference]:
    """Candidate minus baseline for every figure, resampling the same clusters for both (examples matched by subset and id)."""
    baseline_by_key = {(o.subset, o.id): o for o in baseline}
    shared = [o for o in candidate if (o.subset, o.id) in baseline_by_key]
    if not shared:
        return {}
    paired = [baseline_by_key[(o.subset, o.id)] for o in shared]
    point_candidate, point_baseline = flat_scores(aggregate(shared)), flat_scores(aggregate(paired))
    clusters = _clusters(shared, cluster_of)
    partners = _clusters(paired, cluster_of)
    relabel = cluster_of is not by_example
    rng = random.Random(seed)
    deltas: dict[str, list[float]] = defaultdict(list)
    for _ in range(resamples):
        draw = _draw(clusters, rng)
        ours = flat_scores(aggregate(_materialize(clusters, draw, relabel=relabel)))
        theirs = flat_scores(aggregate(_materialize(partners, draw, relabel=relabel)))
        for key in ours.keys() & theirs.keys():
            deltas[key].append(ours[key] - theirs[key])
    result = {}
    for key in point_candidate.keys() & point_baseline.keys():
        low, high = _percentiles(deltas[key], level)
        better = sum(d > 0 for d in deltas[key]) / len(deltas[key]) if deltas[key] else math.nan
        result[key] = Difference(point_candidate[key] - point_baseline[key], low, high, better, level)
    return dict(sorted(result.items()))
