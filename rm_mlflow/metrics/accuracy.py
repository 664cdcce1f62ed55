"""Per-example correctness rules and per-subset accuracy. Pure functions on plain numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

CorrectnessRule = Callable[[Sequence[float], Sequence[float]], float]


def strict_win(chosen: Sequence[float], rejected: Sequence[float]) -> float:
    """1.0 when every chosen score is strictly above every rejected score, else 0.0.

    For a pair this is RewardBench's ``1 if chosen > rejected else 0``: an exact tie is wrong. For
    best-of-N (RMB) the chosen response must beat every rejected one.
    """
    return 1.0 if min(chosen) > max(rejected) else 0.0


def shared_top_credit(chosen: Sequence[float], rejected: Sequence[float]) -> float:
    """1/k when the (single) chosen score is among k scores tied at the maximum, else 0 (RewardBench 2's rule)."""
    scores = [chosen[0], *rejected]
    top = max(scores)
    if chosen[0] != top:
        return 0.0
    return 1.0 / sum(1 for score in scores if score == top)


def subset_accuracies(results: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Mean correctness per subset from ``(subset, correct)`` pairs, subsets sorted by name."""
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for subset, correct in results:
        totals[subset] += correct
        counts[subset] += 1
    return {subset: totals[subset] / counts[subset] for subset in sorted(totals)}


def micro_accuracy(values: Iterable[float]) -> float:
    """The mean of per-example correctness values (NaN for none)."""
    values = list(values)
    return sum(values) / len(values) if values else float("nan")
