"""Model-card sync: ``model-index`` entries built with huggingface_hub's types, merged without clobbering.

Written into a local model folder, the run's artifacts, or the Hub (a pull request by default).
"""

from rm_mlflow.card.merge import merge_model_card
from rm_mlflow.card.model_index import build_eval_results
from rm_mlflow.card.sync import (
    SYNC_MODES,
    CardSyncError,
    CardSyncResult,
    CardTarget,
    load_results,
    render_card,
    sync_after_evaluation,
    sync_hub,
    sync_local,
    sync_run_artifact,
)

__all__ = [
    "SYNC_MODES",
    "CardSyncError",
    "CardSyncResult",
    "CardTarget",
    "build_eval_results",
    "load_results",
    "merge_model_card",
    "render_card",
    "sync_after_evaluation",
    "sync_hub",
    "sync_local",
    "sync_run_artifact",
]
