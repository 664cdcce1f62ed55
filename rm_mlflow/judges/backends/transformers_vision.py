"""Local ``transformers`` generation for vision-language judges: the model's processor, its chat template, its images.

A judge chat with images is rendered as ``transformers serve`` renders an OpenAI request with ``image_url`` parts:
the processor's ``apply_chat_template`` over text and image parts, tokenized there, generation prompt added. So the
same judge gives the same prompt tokens here and behind an OpenAI-compatible server. One chat per ``generate`` call:
images differ in size, and their patch counts would have to be padded together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rm_mlflow.errors import ModelLoadError, OptionError
from rm_mlflow.judges.backends.base import Generation, JudgeBackend, OnDone, no_room_message
from rm_mlflow.scoring.base import Conversation
from rm_mlflow.scoring.hf import input_device, load_weights
from rm_mlflow.scoring.lengths import TooLongAt
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


class VisionTransformersBackend(JudgeBackend):
    """A vision-language judge on this machine: greedy, one chat at a time, images decoded as each chat is asked."""

    name = "transformers"

    def __init__(self, model: Any, processor: Any, settings: ScoringSettings) -> None:
        import torch

        self.model = model
        self.processor = processor
        self.settings = settings
        self.device = input_device(model)
        self._torch = torch

    def max_positions(self) -> int | None:
        """The text model's position limit."""
        from rm_mlflow.scoring.lengths import position_limit

        return position_limit(getattr(self.model.config, "text_config", None) or self.model.config)

    def generate(self, chats: Sequence[Conversation], on_done: OnDone, *, progress: Callable[[int], None] | None = None) -> None:
        """Each chat through the processor and ``generate``; an image prompt over the limit is refused (it cannot be cut)."""
        positions = self.max_positions()
        room = self.settings.max_length if positions is None else min(self.settings.max_length, positions - self.settings.judge.max_new_tokens)
        if room < 1:
            raise OptionError(no_room_message(self.settings.judge.max_new_tokens, positions))
        for index, chat in enumerate(chats):
            inputs = self.processor.apply_chat_template(processor_messages(chat), add_generation_prompt=True, tokenize=True,
                                                        return_dict=True, return_tensors="pt")
            width = int(inputs["input_ids"].shape[1])
            if width > room:
                raise TooLongAt(index, f"a judge prompt with its image takes {width} tokens, over the {room} allowed (an image prompt "
                                       "is never cut); pass a larger --max_length or a smaller --max_new_tokens")
            with self._torch.inference_mode():
                output = self.model.generate(**inputs.to(self.device), do_sample=False, num_beams=1,
                                             max_new_tokens=self.settings.judge.max_new_tokens)
            new = output[0, width:].tolist()
            eos = _eos_ids(self.model)
            end = next((i + 1 for i, token in enumerate(new) if token in eos), len(new))
            on_done(index, Generation(text=self.processor.decode(new[:end], skip_special_tokens=True), prompt_tokens=width,
                                      completion_tokens=end))
            if progress:
                progress(1)

    def describe(self) -> dict[str, Any]:
        """Backend, device, dtype, and that it sees images."""
        return {"backend": self.name, "device": self.device, "dtype": str(self.model.dtype).removeprefix("torch."), "vision": True}


def _eos_ids(model: Any) -> set[int]:
    value = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if value is None:
        return set()
    return set(value) if isinstance(value, (list, tuple)) else {value}


def build_vision(model: str, settings: ScoringSettings) -> VisionTransformersBackend:
    """The judge's processor (with a chat template) and its ``AutoModelForImageTextToText`` weights."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(model, revision=settings.revision, trust_remote_code=settings.trust_remote_code)
    except Exception as error:  # noqa: BLE001
        raise ModelLoadError(f"{model}: cannot load its processor: {error}") from error
    if not getattr(processor, "chat_template", None):
        raise ModelLoadError(f"{model}: the processor has no chat template to put the judge prompt in")
    weights = load_weights(AutoModelForImageTextToText, model, settings, what="a vision-language judge (an image-text-to-text model)")
    return VisionTransformersBackend(weights, processor, settings)
