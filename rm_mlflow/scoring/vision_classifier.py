"""Vision-language reward models with a classification head: the processor in place of a tokenizer.

A checkpoint transformers loads with ``AutoModelForSequenceClassification`` whose config has a vision encoder
(Gemma 3, Qwen 3.5, ...), or one with its own code (``AutoModel``, only with ``--trust_remote_code``). Each response is
scored as one conversation: the example's images and prompt in its last user turn, the response as the assistant's,
rendered by the processor's chat template. The reward is read from the forward output as for text custom heads
(``--score_attribute``, else the first of ``score``, ``scores``, ``rewards``, ``end_scores``, ``logits``; several
objectives by ``--score_index`` or ``--objective_weights``). Images are decoded when a unit is tokenized and again when it is
scored, one conversation at a time (pictures differ in size, so batching them would pad pixels as well as tokens).
The score cache keys a unit by its tokens and its images' content hashes: the same text over another picture is
another unit. An image prompt cannot be cut, so a unit over the length limit is refused whatever ``--truncation`` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rm_mlflow.errors import OptionError
from rm_mlflow.scoring.base import Conversation, RewardModel, TokenizedConversation
from rm_mlflow.scoring.custom import pick_reward, reduce_rewards
from rm_mlflow.scoring.hf import custom_code, input_device, load_config, load_weights, require_trust
from rm_mlflow.scoring.lengths import TooLongAt, length_limit, position_limit
from rm_mlflow.scoring.loaders import ModelLoader, register_loader
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.scoring.vision import has_vision_tower, load_processor, processor_messages


class VisionClassifierRewardModel(RewardModel):
    """A loaded vision-language classifier (or custom head) and its processor."""

    setting_groups = ("custom",)

    def __init__(self, model: Any, processor: Any, settings: ScoringSettings, *, name: str) -> None:
        import torch

        self.model = model.eval()
        self.config = model.config
        self.processor = processor
        self.settings = settings
        self.name = name
        self.device = input_device(model)
        self._torch = torch
        if settings.custom.score_method:
            raise OptionError(f"{name}: --score_method calls a text model's method with token ids; a vision-language model is read "
                              "from its forward output (--score_attribute)")

    def _inputs(self, conversation: Conversation, return_tensors: str | None) -> Any:
        return self.processor.apply_chat_template(processor_messages(conversation), tokenize=True, return_dict=True,
                                                  return_tensors=return_tensors)

    def tokenize(self, conversations: Sequence[Conversation]) -> list[TokenizedConversation]:
        """Each conversation through the processor (images decoded, then let go); one over the limit is refused."""
        limit = length_limit(self.settings.max_length, self.max_positions())
        units = []
        for index, conversation in enumerate(conversations):
            ids = self._inputs(conversation, None)["input_ids"]
            ids = ids[0] if ids and isinstance(ids[0], list) else ids
            if len(ids) > limit:
                raise TooLongAt(index, f"{len(ids)} tokens with its images, over the {limit} allowed (max_length {self.settings.max_length}); "
                                       "an image conversation is never cut: pass a larger --max_length")
            units.append(TokenizedConversation(tuple(ids), conversation=conversation))
        return units

    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        """Each unit rendered again with its images and scored alone: the head's logits (or ``--score_attribute``) read as for custom heads."""
        scores = []
        with self._torch.inference_mode():
            for item in batch:
                output = self.model(**self._inputs(item.conversation or (), "pt").to(self.device))
                scores += reduce_rewards(pick_reward(output, self.settings.custom.score_attribute, self.name), self.settings, self.name)
        return scores

    def max_positions(self) -> int | None:
        """The text model's position limit."""
        return position_limit(getattr(self.config, "text_config", None) or self.config)

    def describe(self) -> dict[str, Any]:
        """Kind, device, dtype, head, and that it sees images."""
        custom = self.settings.custom
        leaderboard_type = "Custom Classifier" if custom_code(self.config) or custom.named else "Seq. Classifier"
        return {"name": self.name, "kind": "vl-classifier", "leaderboard_type": leaderboard_type,
                "device": self.device, "dtype": str(self.model.dtype).removeprefix("torch."), "architecture": type(self.model).__name__,
                "score_index": self.settings.score_index, "score_attribute": custom.score_attribute,
                "objective_weights": list(custom.objective_weights) if custom.objective_weights else None, "vision": True}


def is_vision_classifier(config: Any, settings: ScoringSettings) -> bool:
    """A vision encoder, and a classification head: a ``...ForSequenceClassification`` architecture, its own code, or a named output."""
    named = any(name.endswith("ForSequenceClassification") for name in (getattr(config, "architectures", None) or []))
    return has_vision_tower(config) and (named or bool(custom_code(config)) or settings.custom.named)


def load_vision_classifier(model_id: str, settings: ScoringSettings) -> VisionClassifierRewardModel:
    """The processor and the weights: ``AutoModelForSequenceClassification``, or the checkpoint's own ``AutoModel`` (remote code, trusted)."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    config = load_config(model_id, settings)
    require_trust(model_id, config, settings)
    code = custom_code(config)
    auto_class = AutoModel if "AutoModel" in code and "AutoModelForSequenceClassification" not in code else AutoModelForSequenceClassification
    processor = load_processor(model_id, settings)
    model = load_weights(auto_class, model_id, settings, what="a vision-language reward model")
    return VisionClassifierRewardModel(model, processor, settings, name=model_id)


VL_CLASSIFIER = register_loader(
    ModelLoader(
        name="vl-classifier",
        description="vision-language reward models, with their processor: AutoModelForSequenceClassification checkpoints with a vision "
                    "encoder, or custom heads read by --score_attribute",
        accepts=is_vision_classifier,
        load=load_vision_classifier,
        sees_images=lambda model, settings: True,
    )
)
