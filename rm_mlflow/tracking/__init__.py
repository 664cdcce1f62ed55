"""Everything that talks to MLflow.

- model I/O: :mod:`~rm_mlflow.tracking.references` (what a model URI points at), :mod:`~rm_mlflow.tracking.adapters`
  (an MLflow model as a scorable reward model), :mod:`~rm_mlflow.tracking.flavor` (the ``rm_mlflow`` flavor);
- logging: :mod:`~rm_mlflow.tracking.recording` (a results folder into a run), :mod:`~rm_mlflow.tracking.plots`;
- the run: :mod:`~rm_mlflow.tracking.run` (creating and ending it), :mod:`~rm_mlflow.tracking.gate` (the promotion
  gate), :mod:`~rm_mlflow.tracking.inputs` (what ``mlflow.models.evaluate`` hands over), :mod:`~rm_mlflow.tracking.traces`,
  :mod:`~rm_mlflow.tracking.earlier_runs` (earlier evaluations of a version) and :mod:`~rm_mlflow.tracking.version_tags`.
"""

from rm_mlflow.tracking.gate import GateConfig, GateOutcome
from rm_mlflow.tracking.recording import log_results
from rm_mlflow.tracking.references import ModelReference, resolve_model_reference
from rm_mlflow.tracking.run import TrackedRun, TrackingTarget

__all__ = [
    "GateConfig",
    "GateOutcome",
    "ModelReference",
    "TrackedRun",
    "TrackingTarget",
    "log_results",
    "resolve_model_reference",
]
