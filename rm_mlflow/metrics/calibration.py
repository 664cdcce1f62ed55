"""Calibration of a scalar reward model's margins: is sigmoid(chosen - rejected) a probability that means something?

Under the Bradley-Terry reading a reward model trained on preferences gives P(chosen preferred) =
sigmoid(r_chosen - r_rejected). On a benchmark's pairs (one chosen, one rejected; the chosen one is the
preferred answer) this module reports:

- the Brier score, mean (1 - p)^2, and the log loss, mean -log p (both lower is better);
- the expected calibration error over 10 equal-width bins. Every pair is counted in both orientations,
  (p, preferred) and (1 - p, not preferred), so the bins cover [0, 1] and a model that says 0.8 is right when
  its answers are preferred 80% of the time: ECE = sum over bins of |observed - predicted| x share of points;
- the reliability table behind the diagram (per bin: mean prediction, observed frequency, points);
- the margin's mean and median over the pairs ranked right and over those ranked wrong (a tie is wrong).

Best-of-N rows and rows with several chosen answers have no single Bradley-Terry probability and are left
out. The bootstrap resamples pairs within each subset, as the accuracy intervals do.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rm_mlflow.metrics.intervals import Interval
from rm_mlflow.metrics.outcomes import ExampleOutcome

BINS = 10
FIGURES = ("brier", "log_loss", "ece")


@dataclass
class Calibration:
    """Calibration figures over a benchmark's pairs, their intervals, the reliability table and the margins."""

    pairs: int
    brier: float
    log_loss: float
    ece: float
    reliability: list[dict[str, float]] = field(default_factory=list)  # per bin: low, high, predicted, observed, points
    margins: dict[str, float] = field(default_factory=dict)  # mean/median margin of the pairs ranked right and wrong
    intervals: dict[str, Interval] = field(default_factory=dict)

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """``<prefix>/calibration/brier`` (``_ci_low``/``_ci_high`` with intervals), ``log_loss``, ``ece``, ``pairs``, margins."""
        base = f"{prefix}/calibration"
        values = {f"{base}/{name}": getattr(self, name) for name in FIGURES} | {f"{base}/pairs": float(self.pairs)}
        for name, interval in self.intervals.items():
            values[f"{base}/{name}_ci_low"], values[f"{base}/{name}_ci_high"] = interval.low, interval.high
        values |= {f"{base}/{name}": value for name, value in self.margins.items()}
        return {key: value for key, value in values.items() if not math.isnan(value)}

    def to_dict(self) -> dict:
        """Plain values for ``results.json``."""
        return {
            "pairs": self.pairs, **{name: getattr(self, name) for name in FIGURES}, "reliability": self.reliability, "margins": self.margins,
            "intervals": {name: [interval.low, interval.high] for name, interval in self.intervals.items()},
        }


def pair_margins(outcomes: Sequence[ExampleOutcome]) -> tuple[list[str], np.ndarray]:
    """The subsets and margins (chosen minus rejected score) of the outcomes that are single pairs with finite scores."""
    subsets, margins = [], []
    for outcome in outcomes:
        if len(outcome.chosen_scores) == 1 and len(outcome.rejected_scores) == 1 and outcome.correct is not None:
            margin = outcome.chosen_scores[0] - outcome.rejected_scores[0]
            if math.isfinite(margin):
                subsets.append(outcome.subset)
                margins.append(margin)
    return subsets, np.asarray(margins, dtype=float)


def calibration_figures(margins: np.ndarray) -> tuple[float, float, float]:
    """(Brier score, log loss, ECE over 10 bins) of sigmoid(margin) as P(chosen preferred)."""
    p = 1.0 / (1.0 + np.exp(-margins))
    brier = float(np.mean((1.0 - p) ** 2))
    log_loss = float(np.mean(np.logaddexp(0.0, -margins)))  # -log sigmoid(m), exact for large |m|
    return brier, log_loss, _ece(p)


def _both_orientations(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p, 1.0 - p]), np.concatenate([np.ones_like(p), np.zeros_like(p)])


def _bin_index(predicted: np.ndarray) -> np.ndarray:
    return np.minimum((predicted * BINS).astype(int), BINS - 1)


def _ece(p: np.ndarray) -> float:
    predicted, observed = _both_orientations(p)
    bins = _bin_index(predicted)
    gaps = np.bincount(bins, weights=observed - predicted, minlength=BINS)
    return float(np.sum(np.abs(gaps)) / len(predicted))


def reliability_table(margins: np.ndarray) -> list[dict[str, float]]:
    """Per bin with points: its edges, the mean prediction, the observed share preferred, and how many points."""
    predicted, observed = _both_orientations(1.0 / (1.0 + np.exp(-margins)))
    bins = _bin_index(predicted)
    table = []
    for index in range(BINS):
        members = bins == index
        if members.any():
            table.append({"low": index / BINS, "high": (index + 1) / BINS, "predicted": float(predicted[members].mean()),
                          "observed": float(observed[members].mean()), "points": int(members.sum())})
    return table


def calibration(outcomes: Sequence[ExampleOutcome], *, resamples: int = 0, level: float = 0.95, seed: int = 0) -> Calibration | None:
    """The calibration of the pairs among ``outcomes`` (None when there is none), with seeded bootstrap intervals."""
    subsets, margins = pair_margins(outcomes)
    if not len(margins):
        return None
    brier, log_loss, ece = calibration_figures(margins)
    right, wrong = margins[margins > 0], margins[margins <= 0]
    summary = {"margin_mean_right": right, "margin_median_right": right, "margin_mean_wrong": wrong, "margin_median_wrong": wrong}
    result = Calibration(
        pairs=len(margins), brier=brier, log_loss=log_loss, ece=ece, reliability=reliability_table(margins),
        margins={name: float(np.median(values) if "median" in name else np.mean(values)) for name, values in summary.items() if len(values)},
    )
    if resamples:
        result.intervals = _intervals(subsets, margins, resamples=resamples, level=level, seed=seed, estimates=(brier, log_loss, ece))
    return result


def _intervals(subsets: list[str], margins: np.ndarray, *, resamples: int, level: float, seed: int,
               estimates: tuple[float, ...]) -> dict[str, Interval]:
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, subset in enumerate(subsets):
        groups[subset].append(index)
    members = [np.asarray(indices) for indices in groups.values()]
    draws = np.empty((resamples, len(FIGURES)))
    for draw in range(resamples):
        sample = np.concatenate([indices[rng.integers(0, len(indices), len(indices))] for indices in members])
        draws[draw] = calibration_figures(margins[sample])
    tail = (1.0 - level) / 2 * 100
    lows, highs = np.percentile(draws, tail, axis=0), np.percentile(draws, 100 - tail, axis=0)
    bounds = zip(FIGURES, estimates, lows, highs, strict=True)
    return {name: Interval(estimate, float(low), float(high), level) for name, estimate, low, high in bounds}
