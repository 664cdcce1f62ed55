"""rm-mlflow: reward-model evaluation (RewardBench, RewardBench 2, RMB, local sets) as a first-class part of MLflow.

The names below are imported on first use (PEP 562), so ``import rm_mlflow.cli`` and ``rm-mlflow --help`` do not pay
for pandas, torch or transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rm_mlflow._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "BENCHMARKS": "rm_mlflow.data",
    "DataOptions": "rm_mlflow.data",
    "PreferenceExample": "rm_mlflow.data",
    "load_benchmark": "rm_mlflow.data",
    "BenchmarkReport": "rm_mlflow.benchmarking",
    "EvaluationReport": "rm_mlflow.benchmarking",
    "EvaluationRequest": "rm_mlflow.pipeline",
    "run_evaluation": "rm_mlflow.pipeline",
    "RewardModel": "rm_mlflow.scoring",
    "ScoringSettings": "rm_mlflow.scoring",
    "load_reward_model": "rm_mlflow.scoring",
    "score_conversations": "rm_mlflow.scoring",
}

if TYPE_CHECKING:
    from rm_mlflow.benchmarking import BenchmarkReport, EvaluationReport
    from rm_mlflow.data import BENCHMARKS, DataOptions, PreferenceExample, load_benchmark
    from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
    from rm_mlflow.scoring import RewardModel, ScoringSettings, load_reward_model, score_conversations


__getattr__ = lazy_exports(__name__, _EXPORTS)


def evaluate_metric_path() -> str:
    """The folder of rm-mlflow's Hugging Face ``evaluate`` metric: ``evaluate.load(rm_mlflow.evaluate_metric_path(), config_name="rewardbench")``."""
    from pathlib import Path

    return str(Path(__file__).parent / "evaluate_metric" / "reward_model_benchmark")


def log_model(reward_model: str, name: str = "reward_model", **kwargs: object) -> object:
    """Log a reward model (local folder or Hub id) as an ``rm_mlflow``-flavor MLflow model; see :func:`rm_mlflow.tracking.flavor.log_model`."""
    from rm_mlflow.tracking.flavor import log_model as _log_model

    return _log_model(reward_model, name, **kwargs)


__all__ = [
    "BENCHMARKS",
    "BenchmarkReport",
    "DataOptions",
    "EvaluationReport",
    "EvaluationRequest",
    "PreferenceExample",
    "RewardModel",
    "ScoringSettings",
    "evaluate_metric_path",
    "load_benchmark",
    "load_reward_model",
    "log_model",
    "run_evaluation",
    "score_conversations",
]
