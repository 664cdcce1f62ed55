"""Reward models whose forward does not return a plain ``logits`` reward: custom heads read by attribute or method.

- ``--score_attribute score``: the forward output's attribute (or key) holding the reward, e.g. ArmoRM's
  gated ``.score`` or its per-objective ``.rewards``; a model that defines ``reward_token_id``
  (InternLM2-reward) gets that token appended, as rewardbench's InternLM pipeline does;
- ``--score_method NAME``: a model method called with ``input_ids`` and ``attention_mask`` returning the reward;
- multi-objective outputs (one value per objective): ``--score_index`` picks one, ``--objective_weights``
  sums them with weights.

Conversations are formatted, tokenized (BOS doubling masked) and right-padded exactly as for
sequence classifiers. Checkpoints that ship their own modelling code run only with ``--trust_remote_code``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rm_mlflow.errors import ModelLoadError, OptionError
from rm_mlflow.scoring.base import TokenizedConversation
from rm_mlflow.scoring.hf import config_and_tokenizer, custom_code, load_weights
from rm_mlflow.scoring.loaders import ModelLoader, register_loader, weightless
from rm_mlflow.scoring.sequence_classifier import SequenceClassifierRewardModel
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.scoring.vision import has_vision_tower

DEFAULT_ATTRIBUTES = ("score", "scores", "rewards", "end_scores", "logits")  # tried in order when none is named


class CustomHeadRewardModel(SequenceClassifierRewardModel):
    """A classifier-shaped model whose reward is read from a named output attribute or method."""

    setting_groups = ("custom",)

    def __init__(self, model: Any, tokenizer: Any, settings: ScoringSettings, *, name: str) -> None:
        self._reward_token = getattr(model, "reward_token_id", None)
        super().__init__(model, tokenizer, settings, name=name, check_head=False)

    @classmethod
    def without_weights(cls, config: Any, tokenizer: Any, settings: ScoringSettings, *, name: str, check_head: bool = False) -> CustomHeadRewardModel:
        """As for classifiers; the reward token, where a custom model appends one, is read from its config."""
        preview = super().without_weights(config, tokenizer, settings, name=name, check_head=False)
        preview._reward_token = getattr(config, "reward_token_id", None)
        return preview

    def tokenize(self, conversations: Sequence[Any]) -> list[TokenizedConversation]:
        """As for classifiers; then the model's reward token appended where it defines one and the sequence lacks it."""
        items = super().tokenize(conversations)
        if self._reward_token is None:
            return items
        return [item if item.input_ids[-1] == self._reward_token else
                TokenizedConversation((*item.input_ids, self._reward_token), item.mask_first, item.truncated) for item in items]

    def forward_scores(self, input_ids: Any, attention_mask: Any) -> Any:
        """The reward tensor: the named method's result, or the named (or first present) output attribute."""
        custom = self.settings.custom
        if custom.score_method:
            method = getattr(self.model, custom.score_method, None)
            if not callable(method):
                raise ModelLoadError(f"{self.name}: the model has no method {custom.score_method!r}")
            output = method(input_ids=input_ids, attention_mask=attention_mask)
            return pick_reward(output, custom.score_attribute, self.name) if custom.score_attribute else _as_tensor(output, custom.score_method,
                                                                                                                 self.name)
        return pick_reward(self.model(input_ids=input_ids, attention_mask=attention_mask), custom.score_attribute, self.name)

    def reduce(self, values: Any) -> list[float]:
        """One reward per row: a single value as is; several objectives by ``--objective_weights`` or ``--score_index``."""
        return reduce_rewards(values, self.settings, self.name)

    def describe(self) -> dict[str, Any]:
        """As for classifiers, with where the reward is read from."""
        return super().describe() | {
            "kind": "custom",
            "leaderboard_type": "Custom Classifier",
            "score_attribute": self.settings.custom.score_attribute,
            "score_method": self.settings.custom.score_method,
            "objective_weights": list(self.settings.custom.objective_weights) if self.settings.custom.objective_weights else None,
        }


def pick_reward(output: Any, attribute: str | None, model: str) -> Any:
    """The reward tensor in a forward output: the named attribute (or key), else the first of :data:`DEFAULT_ATTRIBUTES` present."""
    names = (attribute,) if attribute else DEFAULT_ATTRIBUTES
    for name in names:
        value = getattr(output, name, None)
        if value is None and isinstance(output, dict):
            value = output.get(name)
        if value is not None:
            return _as_tensor(value, name, model)
    available = sorted(key for key in (output.keys() if hasattr(output, "keys") else vars(output)) if not key.startswith("_"))
    raise ModelLoadError(
        f"{model}: the model's output has no {' or '.join(repr(n) for n in names)} (it has: {', '.join(available) or 'nothing'}); "
        "pass --score_attribute with one of those"
    )


def reduce_rewards(values: Any, settings: ScoringSettings, model: str) -> list[float]:
    """One reward per row: a single value as is; several objectives by ``--objective_weights`` or ``--score_index``."""
    import torch

    values = values.float()
    if values.dim() == 1:
        values = values.unsqueeze(-1)
    if values.dim() != 2:
        raise ModelLoadError(f"{model}: the reward has shape {tuple(values.shape)}; expected one value (or one per objective) per row")
    weights = settings.custom.objective_weights
    if weights is not None:
        if len(weights) != values.shape[-1]:
            raise OptionError(f"{model}: {len(weights)} objective weight(s) for {values.shape[-1]} objective(s)")
        return (values * torch.tensor(weights, device=values.device)).sum(-1).cpu().tolist()
    if settings.score_index >= values.shape[-1]:
        raise OptionError(f"{model}: score_index {settings.score_index} but the output has {values.shape[-1]} objective(s)")
    return values[:, settings.score_index].cpu().tolist()


def _as_tensor(value: Any, name: str, model: str) -> Any:
    import torch

    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        value = value[0]
    if not isinstance(value, torch.Tensor):
        raise ModelLoadError(f"{model}: {name!r} is a {type(value).__name__}, not a tensor of rewards")
    return value


def _has_custom_code(config: Any, settings: ScoringSettings) -> bool:
    return (bool(custom_code(config)) or settings.custom.named) and not has_vision_tower(config)  # with one: vl-classifier


def load_custom(model_id: str, settings: ScoringSettings) -> CustomHeadRewardModel:
    """Load a custom head: through its ``auto_map`` (remote code, only with ``trust_remote_code``) or a stock auto class."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    config, tokenizer = config_and_tokenizer(model_id, settings)
    code = custom_code(config)
    auto_class = AutoModel if "AutoModel" in code and "AutoModelForSequenceClassification" not in code else AutoModelForSequenceClassification
    model = load_weights(auto_class, model_id, settings, what="a custom-head reward model")
    model.config.pad_token_id = tokenizer.pad_token_id
    return CustomHeadRewardModel(model, tokenizer, settings, name=model_id)


CUSTOM = register_loader(
    ModelLoader(
        name="custom",
        description="custom heads (ArmoRM, InternLM2-reward, multi-objective): reward read by --score_attribute or --score_method",
        accepts=_has_custom_code,
        load=load_custom,
        preview=weightless(CustomHeadRewardModel),
    )
)
