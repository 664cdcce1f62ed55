"""Scoring: the RewardModel interface, the model-loader registry, chat formatting and the batching engine.

The model kinds register themselves when the loader registry is first looked up; nothing heavy is imported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rm_mlflow._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("Conversation", "RewardModel", "ScoredConversations", "TokenizedConversation"), "rm_mlflow.scoring.base"),
    "ScoreCache": "rm_mlflow.scoring.cache",
    "score_conversations": "rm_mlflow.scoring.engine",
    **dict.fromkeys(("MODEL_LOADERS", "ModelLoader", "load_plugin_kinds", "load_reward_model", "register_loader"), "rm_mlflow.scoring.loaders"),
    "ScoringSettings": "rm_mlflow.scoring.settings",
    **dict.fromkeys(("NAMED_TEMPLATES", "ChatFormatter"), "rm_mlflow.scoring.templates"),
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from rm_mlflow.scoring.base import Conversation, RewardModel, ScoredConversations, TokenizedConversation  # noqa: F401
    from rm_mlflow.scoring.cache import ScoreCache  # noqa: F401
    from rm_mlflow.scoring.engine import score_conversations  # noqa: F401
    from rm_mlflow.scoring.loaders import MODEL_LOADERS, ModelLoader, load_plugin_kinds, load_reward_model, register_loader  # noqa: F401
    from rm_mlflow.scoring.settings import ScoringSettings  # noqa: F401
    from rm_mlflow.scoring.templates import NAMED_TEMPLATES, ChatFormatter  # noqa: F401

__all__ = sorted(_EXPORTS)
