"""Local ``transformers`` generation: length-sorted, left-padded batches under a token budget, greedy decoding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rm_mlflow.errors import ModelLoadError
from rm_mlflow.judges.backends.base import BackendSpec, Generation, JudgeBackend, OnDone, judge_prompt_tokens, register_backend
from rm_mlflow.judges.backends.transformers_vision import build_vision
from rm_mlflow.scoring.base import Conversation, TokenizedConversation, padded
from rm_mlflow.scoring.hf import input_device, load_config, load_tokenizer, load_weights
from rm_mlflow.scoring.lengths import position_limit
from rm_mlflow.scoring.settings import ScoringSettings, default_token_budget
from rm_mlflow.scoring.templates import RAW, TOKENIZER, resolve_template
from rm_mlflow.scoring.vision import is_vision_language


class TransformersBackend(JudgeBackend):
    """Local generation: length-sorted, left-padded batches under a token budget, greedy decoding."""

    name = "transformers"

    def __init__(self, model: Any, tokenizer: Any, settings: ScoringSettings) -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.device = input_device(model)
        self._torch = torch

    def max_positions(self) -> int | None:
        """The judge's position limit."""
        return position_limit(self.model.config)

    def generate(self, chats: Sequence[Conversation], on_done: OnDone, *, progress: Callable[[int], None] | None = None) -> None:
        """Batches of similar length, each row's answer decoded after its prompt, up to and including EOS."""
        prompts = judge_prompt_tokens(self.tokenizer, chats, self.settings, self.max_positions())
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        budget = self.settings.max_tokens_per_batch or default_token_budget(self.device)
        start = 0
        while start < len(order):
            width = len(prompts[order[start]]) + self.settings.judge.max_new_tokens
            rows = max(1, min(self.settings.batch_size, budget // width))
            batch = order[start : start + rows]
            for index, generation in zip(batch, self._generate_batch([prompts[i] for i in batch]), strict=True):
                on_done(index, generation)
            if progress:
                progress(len(batch))
            start += len(batch)

    def _generate_batch(self, prompts: list[TokenizedConversation]) -> list[Generation]:
        torch = self._torch
        input_ids, attention_mask = padded(self.tokenizer, prompts, side="left")
        width = input_ids.shape[1]
        config = self._generation_config()
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device), generation_config=config
            )
        eos = set(_as_list(config.eos_token_id))
        generations = []
        for row, item in enumerate(prompts):
            new = output[row, width:].tolist()
            end = next((i + 1 for i, token in enumerate(new) if token in eos), len(new))
            text = self.tokenizer.decode(new[:end], skip_special_tokens=True)
            generations.append(Generation(text=text, prompt_tokens=len(item), completion_tokens=end, truncated=item.truncated))
        return generations

    def _generation_config(self) -> Any:
        from transformers import GenerationConfig

        base = getattr(self.model, "generation_config", None)
        eos = (base.eos_token_id if base is not None else None) or self.tokenizer.eos_token_id
        return GenerationConfig(
            do_sample=False, num_beams=1, max_new_tokens=self.settings.judge.max_new_tokens, eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id, bos_token_id=getattr(base, "bos_token_id", None),
        )

    def describe(self) -> dict[str, Any]:
        """Backend, device and dtype."""
        return {"backend": self.name, "device": self.device, "dtype": str(self.model.dtype).removeprefix("torch.")}


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def build_transformers(model: str, settings: ScoringSettings) -> JudgeBackend:
    """The judge's weights and tokenizer (left padding, a chat template the judge prompt goes in); a vision-language judge's own backend."""
    from transformers import AutoModelForCausalLM

    if is_vision_language(load_config(model, settings)):
        return build_vision(model, settings)
    tokenizer = load_tokenizer(model, settings)
    tokenizer.padding_side = "left"
    if settings.chat_template == RAW:
        raise ModelLoadError(f"{model}: a judge is prompted in chat turns; --chat_template raw does not apply (use the tokenizer's or a Jinja one)")
    if settings.chat_template != TOKENIZER:
        tokenizer.chat_template = resolve_template(settings.chat_template)
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(f"{model}: the tokenizer has no chat template to put the judge prompt in; pass --chat_template with a Jinja file")
    weights = load_weights(AutoModelForCausalLM, model, settings, what="a generative judge (a causal LM)")
    return TransformersBackend(weights, tokenizer, settings)


TRANSFORMERS = register_backend(BackendSpec("transformers", usable=lambda settings: True, build=build_transformers))
