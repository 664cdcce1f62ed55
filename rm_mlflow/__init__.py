"""rm-mlflow: reward-model evaluation (RewardBench, RewardBench 2, RMB, local sets) as a first-class part of MLflow."""

from rm_mlflow.data import BENCHMARKS, PreferenceExample, load_benchmark
from rm_mlflow.evaluation import BenchmarkReport, EvaluationReport, evaluate_reward_model
from rm_mlflow.scoring import RewardModel, ScoringSettings, load_reward_model, score_conversations

__version__ = "0.1.0"



def log_model(reward_model, name: str = "reward_model", **kwargs):
    """Log a reward model (local folder or Hub id) as an ``rm_mlflow``-flavor MLflow model; see :func:`rm_mlflow.tracking.flavor.log_model`."""
    from rm_mlflow.tracking.flavor import log_model as _log_model

    return _log_model(reward_model, name, **kwargs)


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
    "log_model",
    "score_conversations",
]
