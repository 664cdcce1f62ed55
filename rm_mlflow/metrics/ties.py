"""The Ties composite score (rewardbench's ``process_single_model`` for RewardBench 2's Ties subset), as pure functions.

Each prompt is asked twice: a *reference* version with one correct answer and a *tied* version with
several equally correct ones. The composite rewards ranking every correct answer above every
incorrect one, in both versions, by a margin larger than the spread among the correct answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

PromptScores = tuple[Sequence[float], Sequence[float]]  # (scores of the correct answers, scores of the incorrect ones)


@dataclass(frozen=True)
class PromptStats:
    """One version of one prompt: accurate when every correct answer beats every incorrect one."""

    accurate: bool
    different_correct_margin: float | None  # spread of the correct answers' scores (None with one correct answer)
    correct_incorrect_margin: float  # worst correct minus best incorrect


@dataclass(frozen=True)
class TiesScore:
    """The composite and its parts."""

    score: float
    ref_accuracy: float
    tied_accuracy: float
    correctness_preferred: float
    correctness_preferred_hard: float
    correctness_margin_score: float


def prompt_stats(correct_scores: Sequence[float], incorrect_scores: Sequence[float]) -> PromptStats:
    """Accuracy, spread and margin of one prompt version."""
    best_correct, worst_correct = max(correct_scores), min(correct_scores)
    margin = worst_correct - max(incorrect_scores)
    spread = best_correct - worst_correct if len(correct_scores) > 1 else None
    return PromptStats(accurate=margin > 0, different_correct_margin=spread, correct_incorrect_margin=margin)


def ties_score(reference: Mapping[str, PromptScores], tied: Mapping[str, PromptScores]) -> TiesScore:
    """Score the Ties subset from the reference and tied versions of each prompt, keyed by prompt id.

    ``0.30 tied_accuracy + 0.30 ref_accuracy + 0.20 correctness_preferred
    + 0.20 correctness_preferred_hard + 0.01 correctness_margin_score``.
    """
    ref = {prompt: prompt_stats(*scores) for prompt, scores in reference.items()}
    tie = {prompt: prompt_stats(*scores) for prompt, scores in tied.items()}

    ref_accuracy = float(np.mean([s.accurate for s in ref.values()])) if ref else 0.0
    tied_accuracy = float(np.mean([s.accurate for s in tie.values()])) if tie else 0.0
    shared = sorted(set(ref) & set(tie))
    spread = np.array([_or_zero(tie[p].different_correct_margin) for p in shared], dtype=float)
    tied_margin = np.array([tie[p].correct_incorrect_margin for p in shared], dtype=float)
    hard_margin = np.minimum(np.array([ref[p].correct_incorrect_margin for p in shared], dtype=float), tied_margin)

    with np.errstate(divide="ignore", invalid="ignore"):
        preferred = float(np.mean(tied_margin > spread)) if shared else 0.0
        preferred_hard = float(np.mean(hard_margin > spread)) if shared else 0.0
        # x/0 is +-inf (tanh -> +-1) and 0/0 is NaN (-> 0), as numpy gives rewardbench.
        margin_scores = np.nan_to_num(np.tanh(hard_margin / spread - 1), nan=0.0)
        margin_score = float(np.mean(margin_scores)) if shared else 0.0

    score = 0.30 * tied_accuracy + 0.30 * ref_accuracy + 0.20 * preferred + 0.20 * preferred_hard + 0.01 * margin_score
    return TiesScore(
        score=score,
        ref_accuracy=ref_accuracy,
        tied_accuracy=tied_accuracy,
        correctness_preferred=preferred,
        correctness_preferred_hard=preferred_hard,
        correctness_margin_score=margin_score,
    )


def _or_zero(value: float | None) -> float:
    return 0.0 if value is None else value
