"""What vision-language checkpoints share, judges and reward models alike: telling them apart, their processor, their messages."""

from __future__ import annotations

from typing import Any

from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring.base import Conversation
from rm_mlflow.scoring.settings import ScoringSettings


def is_vision_language(config: Any) -> bool:
    """Whether the checkpoint is an image-text-to-text generator (LLaVA, Qwen2-VL, Idefics, ...), as ``transformers serve`` tells.

    By its saved architecture, so a vision-language reward model with a classification head is not one; by its model
    type when no architecture is saved.
    """
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    architectures = getattr(config, "architectures", None)
    if architectures:
        return architectures[0] in set(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES.values())
    return getattr(config, "model_type", None) in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def has_vision_tower(config: Any) -> bool:
    """Whether the config carries a vision encoder (``vision_config``): the model can be shown images."""
    return getattr(config, "vision_config", None) is not None


def processor_messages(chat: Conversation) -> list[dict[str, Any]]:
    """The chat as processors take it: every turn a list of parts, each image decoded (one chat's images, never more)."""
    messages = []
    for message in chat:
        content = message["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else [
            {"type": "text", "text": part["text"]} if part["type"] == "text" else {"type": "image", "image": part["image"].load()}
            for part in content]
        messages.append({"role": message["role"], "content": parts})
    return messages


def load_processor(model: str, settings: ScoringSettings) -> Any:
    """The checkpoint's processor (image processor, tokenizer, chat template); one line when it has none."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(model, revision=settings.revision, trust_remote_code=settings.trust_remote_code)
    except Exception as error:  # noqa: BLE001
        raise ModelLoadError(f"{model}: cannot load its processor: {error}") from error
    if not getattr(processor, "chat_template", None):
        raise ModelLoadError(f"{model}: the processor has no chat template to put the images and text in")
    return processor
