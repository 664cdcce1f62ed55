"""DPO policies scored by their implicit reward, as rewardbench's ``dpo.py`` computes it.

Tokenization (``DPOInference.tokenize_row``): the prompt is the chat template applied to the
conversation before the response (no generation prompt); the response text is the full templated
conversation with every occurrence of that prompt text removed (rewardbench issue #140); the tokens
are ``[BOS] + enc(prompt + response)`` with the prompt/response boundary found as TRL does (the last
prompt token moves to the response when the two merge), then ``[EOS]``. The reward of a response is
the sum of its tokens' log-probabilities under the policy minus the same sum under the reference
model; without a reference, the policy's log-probabilities reduced by ``ref_free_type``: ``avg``
(mean per token, run_dpo.py's default), ``sum``, or ``norm`` (minus the L2 norm). Only the policy's
tokenizer is used, for both models.

Truncation follows rewardbench's ``keep_end`` rule under ``--truncation left`` (``keep_start`` under
``right``): when the prompt plus the *longer* response of the pair exceed the limit, the prompt keeps
its last (first) 128 tokens, and if that is still too long each response keeps its first
``limit - 128``. So a short response is cut when its pair's other response is long, exactly as in
rewardbench; for best-of-N the longest of the example's responses plays that part. Under ``none`` a
conversation over the limit is an error naming it.

The reference's log-probabilities depend only on the reference, the tokenizer and the tokens, so
they are kept in a cache shared by every evaluation (``RM_MLFLOW_CACHE_DIR``, default
``~/.cache/rm-mlflow``): ten policies trained from one reference pay for the reference once.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rm_mlflow._cache_dir import cache_dir
from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.errors import ModelLoadError, OptionError
from rm_mlflow.scoring.base import Conversation, MarginReading, RewardModel, TokenizedConversation, padded
from rm_mlflow.scoring.cache import ScoreCache
from rm_mlflow.scoring.hf import (
    checkpoint_fingerprint,
    config_and_tokenizer,
    custom_code,
    input_device,
    load_config,
    load_weights,
    locate,
    vocabulary_fingerprint,
)
from rm_mlflow.scoring.lengths import TooLongAt, length_limit, longest_token_chars, position_limit
from rm_mlflow.scoring.loaders import ModelLoader, register_loader
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.scoring.templates import ChatFormatter

MAX_PROMPT_LENGTH = 128  # DPOInference.max_prompt_length
COMPANION = "companion"  # the role of the example's other responses carried in a unit (they set the truncation, not the score)


class DPORewardModel(RewardModel):
    """A causal-LM policy (and optional reference) scored by implicit reward."""

    setting_groups = ("dpo",)

    def margin_reading(self) -> MarginReading:
        """DPO's implicit rewards are beta times a log-ratio, and beta is not known here: no probability can be read off them."""
        return MarginReading(None, "implicit (DPO) rewards are log-ratios whose scale, DPO's beta, is unknown")

    def __init__(self, policy: Any, tokenizer: Any, settings: ScoringSettings, *, name: str, reference: Any = None,
                 reference_id: str | None = None) -> None:
        import torch

        self.policy = policy
        self.reference = reference
        self._setup(tokenizer, settings, name, [model.config for model in (policy, reference) if model is not None])
        self.device = input_device(policy)
        self._torch = torch
        self._reference_id = reference_id
        self._reference_cache: ScoreCache | None = None
        self._counts = {"reference_scored": 0, "reference_from_cache": 0}
        if reference is not None:
            fingerprint = {
                "reference": reference_id, "vocabulary": vocabulary_fingerprint(tokenizer), "dtype": str(reference.dtype),
                "device": self.device.split(":")[0], "attn": getattr(reference.config, "_attn_implementation", None),
            }
            path = cache_dir() / "reference-logps" / f"{ScoreCache.salt_of(fingerprint)}.jsonl"
            self._reference_cache = ScoreCache(path, fingerprint)

    @classmethod
    def without_weights(cls, configs: list[Any], tokenizer: Any, settings: ScoringSettings, *, name: str) -> DPORewardModel:
        """A weightless instance (the policy's and reference's configs) that tokenizes as the loaded model will: for checks before loading."""
        preview = cls.__new__(cls)
        preview.policy, preview.reference, preview.device = None, None, "none"
        preview._setup(tokenizer, settings, name, configs)
        return preview

    def _setup(self, tokenizer: Any, settings: ScoringSettings, name: str, configs: list[Any]) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.name = name
        self.formatter = ChatFormatter(tokenizer, settings.chat_template)
        self._bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id  # run_dpo.py: BOS = EOS
        self._eos = tokenizer.eos_token_id
        self._position_limits = [limit for limit in (position_limit(config) for config in configs) if limit]

    def max_positions(self) -> int | None:
        """The policy's position limit (the reference's, when smaller)."""
        return min(self._position_limits, default=None)

    def units(self, example: PreferenceExample) -> list[Conversation]:
        """Each response's conversation, carrying the example's other responses (rewardbench cuts a pair by its longer response)."""
        responses = example.responses()
        return [
            (*example.conversation(response), *(ChatMessage(role=COMPANION, content=other) for k, other in enumerate(responses) if k != index))
            for index, response in enumerate(responses)
        ]

    def tokenize(self, conversations: Sequence[Conversation]) -> list[TokenizedConversation]:
        """Prompt and response tokens as rewardbench's ``tokenize_row`` builds them, cut as the length rules say."""
        limit = length_limit(self.settings.max_length, self.max_positions())
        budget = 2 * limit * longest_token_chars(self.tokenizer)
        hint = (f" (max_length {self.settings.max_length}, the model's position limit {self.max_positions()}); "
                "pass --truncation left (rewardbench's keep_end) to cut such conversations, or a larger --max_length")
        mode = self.settings.truncation
        items = []
        for index, unit in enumerate(conversations):
            conversation = [message for message in unit if message["role"] != COMPANION]
            companions = [message["content"] for message in unit if message["role"] == COMPANION]
            prompt = self.formatter.format(conversation[:-1])
            answer = self.formatter.format(conversation).replace(prompt, "")
            if len(prompt) + len(answer) > budget:
                if mode == "none":
                    size = len(prompt) + len(answer)
                    raise TooLongAt(index, f"{size:,} characters, certainly more tokens than the model takes here (at most {limit}){hint}")
                prompt, answer = (prompt[-budget:] if mode == "left" else prompt[:budget]), answer[:budget]
            prompt_ids, answer_ids = self._split(prompt, answer)
            prompt_ids, answer_ids = [self._bos, *prompt_ids], [*answer_ids, self._eos]
            own = len(prompt_ids) + len(answer_ids)
            if own > limit and mode == "none":
                raise TooLongAt(index, f"{own} tokens, but the model takes at most {limit} here{hint}")
            longer = max([len(answer_ids), *(self._answer_length(conversation[:-1], prompt, other, budget) for other in companions)])
            cut_prompt, cut_answer = prompt_ids, answer_ids
            if mode != "none" and len(prompt_ids) + longer > limit:  # rewardbench: first the prompt, by the pair's longer response
                keep = min(MAX_PROMPT_LENGTH, limit - 1)
                cut_prompt = prompt_ids[-keep:] if mode == "left" else prompt_ids[:keep]
                if len(cut_prompt) + longer > limit:  # then each response, to what the prompt leaves
                    cut_answer = answer_ids[: limit - keep]
            truncated = (len(cut_prompt), len(cut_answer)) != (len(prompt_ids), len(answer_ids))
            items.append(TokenizedConversation(input_ids=(*cut_prompt, *cut_answer), truncated=truncated, response_start=len(cut_prompt)))
        return items

    def _answer_length(self, prompt_messages: Sequence[ChatMessage], prompt: str, response: str, budget: int) -> int:
        """Tokens (EOS included) of another response to the same prompt, as its own tokenization would count them."""
        answer = self.formatter.format([*prompt_messages, ChatMessage(role="assistant", content=response)]).replace(prompt, "")
        return len(self._split(prompt, answer[:budget])[1]) + 1

    def _split(self, prompt: str, answer: str) -> tuple[list[int], list[int]]:
        """TRL's ``build_tokenized_answer``: ``enc(prompt + answer)`` split where ``enc(prompt)`` ends (one earlier if they merged)."""
        full = self.tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]
        alone = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        start = len(alone)
        if alone != full[:start]:
            start -= 1
        return full[:start], full[start:]

    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        """Implicit reward: policy log-probs of each response minus the reference's (cached), or reference-free."""
        if self.reference is None:
            return self._logps(self.policy, batch, self.settings.dpo.ref_free_type)
        policy = self._logps(self.policy, batch, "sum")
        cached = [self._reference_cache.get(item.cache_key) for item in batch]
        missing = [i for i, value in enumerate(cached) if value is None]
        if missing:
            computed = self._logps(self.reference, [batch[i] for i in missing], "sum")
            self._reference_cache.put_many([(batch[i].cache_key, value) for i, value in zip(missing, computed, strict=True)])
            for i, value in zip(missing, computed, strict=True):
                cached[i] = value
        self._counts["reference_scored"] += len(missing)
        self._counts["reference_from_cache"] += len(batch) - len(missing)
        return [p - r for p, r in zip(policy, cached, strict=True)]

    def _logps(self, model: Any, batch: Sequence[TokenizedConversation], mode: str) -> list[float]:
        """Per-row reduction of the response tokens' log-probabilities (right-padded batch, as rewardbench's collator pads)."""
        torch = self._torch
        input_ids, attention_mask = padded(self.tokenizer, batch, side="right")
        width = input_ids.shape[1]
        first = max(min(item.response_start for item in batch) - 1, 0)  # logits at t predict token t + 1
        kwargs = {"logits_to_keep": torch.arange(first, width - 1)} if _takes_logits_to_keep(model) else {}
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device), **kwargs).logits
        if not kwargs:
            logits = logits[:, first : width - 1]
        results = []
        for row, item in enumerate(batch):
            targets = input_ids[row, first + 1 : len(item)].to(logits.device)
            row_logits = logits[row, : len(targets)].float()
            picked = row_logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(row_logits, dim=-1)
            per_token = picked[item.response_start - 1 - first :]
            if mode == "sum":
                results.append(per_token.sum().item())
            elif mode == "avg":
                results.append(per_token.mean().item())
            else:  # norm
                results.append(-torch.linalg.vector_norm(per_token).item())
        return results

    def describe(self) -> dict[str, Any]:
        """Kind, reference (or reference-free mode), device, dtype, template."""
        return {
            "name": self.name,
            "kind": "dpo",
            "leaderboard_type": "DPO" if self.reference is not None else "DPO Ref. Free",
            "ref_model": self.settings.dpo.ref_model,
            "ref_model_id": self._reference_id,
            "ref_free_type": None if self.reference is not None else self.settings.dpo.ref_free_type,
            "device": self.device,
            "dtype": str(self.policy.dtype).removeprefix("torch."),
            "attn_implementation": getattr(self.policy.config, "_attn_implementation", None),
            "chat_template": self.formatter.describe(),
            "chat_template_digest": self.formatter.digest(),
            "architecture": type(self.policy).__name__,
        }

    def stats(self) -> dict[str, float]:
        """Reference log-probs computed by this run and reused from the shared cache."""
        return {key: float(value) for key, value in self._counts.items()} if self.reference is not None else {}


def _takes_logits_to_keep(model: Any) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def _is_dpo(config: Any, settings: ScoringSettings) -> bool:
    causal = any(name.endswith("ForCausalLM") for name in (getattr(config, "architectures", None) or []))
    return causal and not custom_code(config) and settings.dpo.ref_model is not None


def load_dpo(model_id: str, settings: ScoringSettings) -> DPORewardModel:
    """The policy ``model_id`` with its tokenizer and, when ``settings.dpo.ref_model`` is set, the reference."""
    from transformers import AutoModelForCausalLM

    tokenizer, location, _ = _dpo_parts(model_id, settings)
    reference_settings = replace(settings, tokenizer=None)
    policy = load_weights(AutoModelForCausalLM, model_id, settings, what="a DPO policy (a causal LM)")
    reference, reference_id = None, None
    if location is not None:
        reference = load_weights(AutoModelForCausalLM, location, reference_settings, what="a DPO reference model (a causal LM)")
        reference_id = checkpoint_fingerprint(location, settings.revision)
    return DPORewardModel(policy, tokenizer, settings, name=model_id, reference=reference, reference_id=reference_id)


def preview_dpo(model_id: str, settings: ScoringSettings) -> DPORewardModel:
    """The policy's (and reference's) configs and tokenizer as a weightless DPO model, every check of :func:`load_dpo` done."""
    tokenizer, _, configs = _dpo_parts(model_id, settings)
    return DPORewardModel.without_weights(configs, tokenizer, settings, name=model_id)


def _dpo_parts(model_id: str, settings: ScoringSettings) -> tuple[Any, str | None, list[Any]]:
    """What a DPO model needs besides weights, checked: the tokenizer, the reference's location, and the configs (policy, reference)."""
    if settings.dpo.ref_model is not None and settings.dpo.ref_model.rstrip("/") == model_id.rstrip("/"):
        raise OptionError(f"{model_id}: the policy and the reference model must differ (rewardbench refuses the same model twice too)")
    config, tokenizer = config_and_tokenizer(model_id, settings)
    configs = [config]
    if tokenizer.bos_token_id is None and tokenizer.eos_token_id is None:
        raise ModelLoadError(f"{model_id}: the tokenizer has neither a BOS nor an EOS token; a DPO reward needs them around each sequence")
    location = locate(settings.dpo.ref_model) if settings.dpo.ref_model is not None else None  # models:/ is downloaded by the MLflow locator
    if location is not None:
        reference_settings = replace(settings, tokenizer=None)
        _check_vocabulary(location, tokenizer, reference_settings)
        configs.append(load_config(location, reference_settings))
    return tokenizer, location, configs


def _check_vocabulary(reference: str, tokenizer: Any, settings: ScoringSettings) -> None:
    """Refuse a reference whose vocabulary differs from the policy's tokenizer: the two log-probs would be of different tokens."""
    config = load_config(reference, settings)
    vocab_size = getattr(config, "vocab_size", None)
    if vocab_size is not None and vocab_size < len(tokenizer):
        raise ModelLoadError(
            f"reference model {reference}: vocabulary of {vocab_size} tokens, but the policy's tokenizer has {len(tokenizer)}; "
            "a DPO reward compares log-probs of the same tokens under both models"
        )
    try:
        from transformers import AutoTokenizer

        own = AutoTokenizer.from_pretrained(reference, revision=settings.revision, trust_remote_code=settings.trust_remote_code)
    except Exception:  # noqa: BLE001 - a reference without its own tokenizer is checked by size alone
        return
    if vocabulary_fingerprint(own) != vocabulary_fingerprint(tokenizer):
        raise ModelLoadError(
            f"reference model {reference}: its tokenizer's vocabulary differs from the policy's ({len(own)} vs {len(tokenizer)} tokens); "
            "a DPO reward compares log-probs of the same tokens under both models"
        )


DPO = register_loader(
    ModelLoader(
        name="dpo",
        description="causal-LM policies scored by implicit reward against --ref_model, or reference-free (--ref_free_type)",
        accepts=_is_dpo,
        load=load_dpo,
        preview=preview_dpo,
    )
)
