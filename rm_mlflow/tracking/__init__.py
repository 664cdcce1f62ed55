"""Everything that talks to MLflow: model references and loading, the rm_mlflow flavor, logging, plots, the promotion gate."""

from rm_mlflow.tracking.gate import GateConfig, GateOutcome
from rm_mlflow.tracking.logging import log_evaluation, start_evaluation_run
from rm_mlflow.tracking.models import ModelReference, load_model_for_scoring, resolve_model_reference, reward_model_from_pyfunc
from rm_mlflow.tracking.run import DataOptions, RunResult, evaluate_to_run

__all__ = [
    "DataOptions",
    "GateConfig",
    "GateOutcome",
    "ModelReference",
    "RunResult",
    "evaluate_to_run",
    "load_model_for_scoring",
    "log_evaluation",
    "resolve_model_reference",
    "reward_model_from_pyfunc",
    "start_evaluation_run",
]
