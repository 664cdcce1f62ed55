"""Local ``transformers`` generation for vision-language judges: the model's processor, its chat template, its images.

A judge chat with images is rendered as ``transformers serve`` renders an OpenAI request with ``image_url`` parts:
the processor's ``apply_chat_template`` over text and image parts, tokenized there, generation prompt added. So the
same judge gives the same prompt tokens here and behind an OpenAI-compatible server. One chat per ``generate`` call:
images differ in size, and their patch counts would have to be padded together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rm_mlflow.errors import OptionError
from rm_mlflow.judges.backends.base import Generation, JudgeBackend, OnDone, no_room_message
from rm_mlflow.scoring.base import Conversation
from rm_mlflow.scoring.hf import input_device, load_weights
from rm_mlflow.scoring.lengths import TooLongAt, position_limit
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.scoring.vision import load_processor, processor_messages


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
        return position_limit(getattr(self.model.config, "text_config", None) or self.model.config)

    def generate(self, chats: Sequence[Conversation], on_done: OnDone, *, progress: Callable[[int], None] | None = None) -> None:
        """Each chat through the processor and ``generate``; an image prompt over the limit is refused (it cannot be cut)."""
        positions = self.max_positions()
        room = self.settings.max_length if positions is None else min(self.settings.max_length, positions - self.settings.judge.max_new_tokens)
        if room < 1:
            raise OptionError(no_room_message(self.settings.judge.max_new_tokens, positions))
        eos = _eos_ids(self.model)
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
    from transformers import AutoModelForImageTextToText

    processor = load_processor(model, settings)
    weights = load_weights(AutoModelForImageTextToText, model, settings, what="a vision-language judge (an image-text-to-text model)")
    return VisionTransformersBackend(weights, processor, settings)
