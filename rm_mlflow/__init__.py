"""rm-mlflow: reward-model evaluation (RewardBench, RewardBench 2, RMB, local sets) as a first-class part of MLflow."""

from rm_mlflow.data import BENCHMARKS, PreferenceExample, load_benchmark
from rm_mlflow.evaluation import BenchmarkReport, EvaluationReport, evaluate_reward_model
from rm_mlflow.scoring import RewardModel, ScoringSettings, load_reward_model, score_conversations

__version__ = "0.1.0"

__all__ = [
    "BENCHMARKS",
    "BenchmarkReport",
    "EvaluationReport",
    "PreferenceExample",
    "RewardModel",
    "ScoringSettings",
    "evaluate_reward_model",
    "load_benchmark",
    "load_reward_model",
    "score_conversations",
]
