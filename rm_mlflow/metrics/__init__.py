"""Benchmark-free arithmetic: correctness rules, accuracy, weighted sections, the Ties composite, outcome tables.

Nothing here knows a benchmark: each benchmark module in :mod:`rm_mlflow.data` binds these functions
to its own subsets, weights and headline score.
"""

from rm_mlflow.metrics.accuracy import micro_accuracy, shared_top_credit, strict_win, subset_accuracies
from rm_mlflow.metrics.outcomes import (
    BenchmarkScores,
    ExampleOutcome,
    metric_slug,
    outcome_accuracies,
    score_statistics,
    subset_counts,
)
from rm_mlflow.metrics.sections import mean, nanmean, section_scores, weighted_mean
from rm_mlflow.metrics.ties import TiesScore, ties_score

__all__ = [
    "BenchmarkScores",
    "ExampleOutcome",
    "TiesScore",
    "mean",
    "metric_slug",
    "micro_accuracy",
    "nanmean",
    "outcome_accuracies",
    "score_statistics",
    "section_scores",
    "shared_top_credit",
    "strict_win",
    "subset_accuracies",
    "subset_counts",
    "ties_score",
    "weighted_mean",
]
