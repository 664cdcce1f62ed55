"""Weighted averages: sections from subset accuracies, and headline scores from sections."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def section_scores(
    subset_accuracy: Mapping[str, float],
    subset_mapping: Mapping[str, Sequence[str]],
    weights: Mapping[str, int],
) -> dict[str, float]:
    """Each section's ``weights``-weighted mean over its subsets present in ``subset_accuracy``.

    This is rewardbench's ``calculate_scores_per_section``, including its rule that a section none of
    whose subsets is present scores 0.
    """
    scores = {}
    for section, subsets in subset_mapping.items():
        weighted = 0.0
        total = 0
        for subset in subsets:
            if subset in subset_accuracy:
                weighted += subset_accuracy[subset] * weights[subset]
                total += weights[subset]
        scores[section] = weighted / total if total > 0 else 0
    return scores


def weighted_mean(values: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """``sum(w * v) / sum(w)`` over the keys present in both and not NaN (NaN when none is)."""
    present = {key: value for key, value in values.items() if key in weights and not math.isnan(value)}
    total = sum(weights[key] for key in present)
    return sum(weights[key] * value for key, value in present.items()) / total if total else float("nan")


def mean(values: Iterable[float]) -> float:
    """The arithmetic mean (NaN for none)."""
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def nanmean(values: Iterable[float]) -> float:
    """``np.nanmean``: the mean of the values that are not NaN (NaN for none)."""
    return mean(value for value in values if not math.isnan(value))
