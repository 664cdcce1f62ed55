"""Metrics: pure functions from scores to accuracies, sections and leaderboard scores."""

from rm_mlflow.metrics.accuracy import CORRECTNESS_RULES, shared_top_credit, strict_win, subset_accuracies
from rm_mlflow.metrics.aggregators import (
    AGGREGATORS,
    BenchmarkScores,
    ExampleOutcome,
    aggregate,
    combined_rewardbench_scores,
    metric_slug,
)
from rm_mlflow.metrics.sections import leaderboard_score, original_leaderboard_score, prior_sets_score, section_scores
from rm_mlflow.metrics.ties import TiesScore, ties_score

__all__ = [
    "AGGREGATORS",
    "BenchmarkScores",
    "CORRECTNESS_RULES",
    "ExampleOutcome",
    "TiesScore",
    "aggregate",
    "combined_rewardbench_scores",
    "leaderboard_score",
    "metric_slug",
    "original_leaderboard_score",
    "prior_sets_score",
    "section_scores",
    "shared_top_credit",
    "strict_win",
    "subset_accuracies",
    "ties_score",
]
