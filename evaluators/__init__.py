"""MLflow evaluator plugins: registered through the ``mlflow.model_evaluator`` entry point."""

from evaluators.reward_model import RewardModelEvaluator

__all__ = ["RewardModelEvaluator"]
