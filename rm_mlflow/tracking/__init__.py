"""Everything that talks to MLflow."""

from rm_mlflow.tracking.logging import log_evaluation, log_to_new_run

__all__ = ["log_evaluation", "log_to_new_run"]
