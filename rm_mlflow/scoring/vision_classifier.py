"""Vision-language reward models with a classification head: the processor in place of a tokenizer.

A checkpoint transformers loads with ``AutoModelForSequenceClassification`` whose config has a vision encoder
(Gemma 3, Qwen 3.5, ...). Each response is scored as one conversation: the example's images and prompt in its last
user turn, the response as the assistant's, rendered by the processor's chat template; the score is the head's logit
at ``score_index``, as for a text classifier. Images are decoded when a unit is tokenized and again when it is
scored, one conversation at a time (pictures differ in size, so batching them would pad pixels as well as tokens).
The score cache keys a unit by its tokens and its images' content hashes: the same text over another picture is
another unit. An image prompt cannot be cut, so a unit over the length limit is refused whatever ``--truncation`` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring.base import Conversation, RewardModel, TokenizedConversation
from rm_mlflow.scoring.hf import custom_code, input_device, load_config, load_weights, require_trust
from rm_mlflow.scoring.lengths import TooLongAt, length_limit, position_limit
from rm_mlflow.scoring.loaders import ModelLoader, register_loader
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.scoring.vision import has_vision_tower, image_hashes, load_processor, processor_messages


class VisionClassifierRewardModel(RewardModel):
    """A loaded vision-language classifier and its processor."""

    def __init__(self, model: Any, processor: Any, settings: ScoringSettings, *, name: str) -> None:
        import torch

        self.model = model.eval()
        self.config = model.config
        self.processor = processor
        self.settings = settings
        self.name = name
        self.device = input_device(model)
        self._torch = torch
        labels = getattr(self.config, "num_labels", 1)
        if settings.score_index >= labels:
            raise ModelLoadError(f"{name}: score_index {settings.score_index} but the head has {labels} label(s)")

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
            units.append(TokenizedConversation(tuple(ids), conversation=conversation, images=image_hashes(conversation)))
        return units

    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        """Each unit rendered again with its images and scored alone: the head's logit at ``score_index``."""
        scores = []
        with self._torch.inference_mode():
            for item in batch:
                inputs = self._inputs(item.conversation or (), "pt").to(self.device)
                scores.append(float(self.model(**inputs).logits[0, self.settings.score_index].float().cpu()))
        return scores

    def max_positions(self) -> int | None:
        """The text model's position limit."""
        return position_limit(getattr(self.config, "text_config", None) or self.config)

    def describe(self) -> dict[str, Any]:
        """Kind, device, dtype, head, and that it sees images."""
        return {"name": self.name, "kind": "vl-classifier", "leaderboard_type": "Seq. Classifier", "device": self.device,
                "dtype": str(self.model.dtype).removeprefix("torch."), "architecture": type(self.model).__name__,
                "num_labels": self.config.num_labels, "score_index": self.settings.score_index, "vision": True}


def is_vision_classifier(config: Any, settings: ScoringSettings) -> bool:
    """A stock ``...ForSequenceClassification`` architecture with a vision encoder."""
    stock = not custom_code(config) and not settings.custom.named
    named = any(name.endswith("ForSequenceClassification") for name in (getattr(config, "architectures", None) or []))
    return stock and named and has_vision_tower(config)


def load_vision_classifier(model_id: str, settings: ScoringSettings) -> VisionClassifierRewardModel:
    """The processor and ``AutoModelForSequenceClassification`` weights."""
    from transformers import AutoModelForSequenceClassification

    require_trust(model_id, load_config(model_id, settings), settings)
    processor = load_processor(model_id, settings)
    model = load_weights(AutoModelForSequenceClassification, model_id, settings, what="a vision-language reward model")
    return VisionClassifierRewardModel(model, processor, settings, name=model_id)


VL_CLASSIFIER = register_loader(
    ModelLoader(
        name="vl-classifier",
        description="AutoModelForSequenceClassification checkpoints with a vision encoder: vision-language reward models, with their processor",
        accepts=is_vision_classifier,
        load=load_vision_classifier,
        sees_images=lambda model, settings: True,
    )
)
