"""The model-loader registry: each model kind is one module that registers a :class:`ModelLoader`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rm_mlflow._registry import Registry
from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring.base import RewardModel
from rm_mlflow.scoring.settings import ScoringSettings


@dataclass(frozen=True)
class ModelLoader:
    """``accepts`` looks at a model's transformers config; ``load`` builds the :class:`RewardModel`."""

    name: str
    description: str
    accepts: Callable[[Any], bool]
    load: Callable[[str, ScoringSettings], RewardModel]


MODEL_LOADERS: Registry[ModelLoader] = Registry("model kind")


def register_loader(loader: ModelLoader) -> ModelLoader:
    return MODEL_LOADERS.add(loader.name, loader)


def load_reward_model(model: str, settings: ScoringSettings | None = None, *, kind: str = "auto") -> RewardModel:
    """Load a local directory or Hub id as a reward model; ``kind='auto'`` picks the loader from the model's config."""
    settings = settings or ScoringSettings()
    if kind != "auto":
        return MODEL_LOADERS.get(kind).load(model, settings)
    config = _load_config(model, settings)
    for _, loader in MODEL_LOADERS:
        if loader.accepts(config):
            return loader.load(model, settings)
    architectures = ", ".join(getattr(config, "architectures", None) or ["unknown"])
    raise ModelLoadError(
        f"{model}: no reward-model loader accepts architecture {architectures}; "
        f"pass --model_kind with one of: {', '.join(MODEL_LOADERS.names())}"
    )


def _load_config(model: str, settings: ScoringSettings) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model, revision=settings.revision, trust_remote_code=settings.trust_remote_code)
    except Exception as error:  # noqa: BLE001 - surface one actionable message
        raise ModelLoadError(f"cannot load model config from {model!r}: {error}") from error
