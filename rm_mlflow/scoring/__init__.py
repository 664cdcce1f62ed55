"""Scoring: the RewardModel interface, the model-loader registry, chat formatting and the batching engine."""

from rm_mlflow.scoring import sequence_classifier  # noqa: F401  (registers the loader)
from rm_mlflow.scoring.base import Conversation, RewardModel, TokenizedConversation
from rm_mlflow.scoring.cache import ScoreCache
from rm_mlflow.scoring.engine import ScoredConversations, score_conversations
from rm_mlflow.scoring.loaders import MODEL_LOADERS, ModelLoader, load_reward_model, register_loader
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.scoring.templates import NAMED_TEMPLATES, ChatFormatter

__all__ = [
    "MODEL_LOADERS",
    "NAMED_TEMPLATES",
    "ChatFormatter",
    "Conversation",
    "ModelLoader",
    "RewardModel",
    "ScoreCache",
    "ScoredConversations",
    "ScoringSettings",
    "TokenizedConversation",
    "load_reward_model",
    "register_loader",
    "score_conversations",
]
