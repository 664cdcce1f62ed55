"""Reward models that are ``AutoModelForSequenceClassification`` checkpoints.

Score rule: the logit at ``score_index`` (default 0) of the last non-padding token, as the model
pools it. With one label that is the reward; for multi-logit heads rewardbench compares the logit
lists element by element, so the first logit decides and index 0 reproduces its numbers. Pass
``--score_index`` to read another head output.

Shared prefixes: in a causal decoder a token's states depend only on the tokens before it, so the
responses to one prompt can share the prompt's computation. Each prompt's common token prefix runs once
and every response's remaining tokens on top of it, packed without padding into rows of several prompts
(:mod:`rm_mlflow.scoring.packing`); the head reads each response where it would pool it alone. Whether a
model allows it is checked when it loads, on a real pair scored both ways (an encoder's bidirectional
attention, a head this path cannot reach, or a model that ignores position ids fail the check); otherwise,
or with ``shared_prefix="off"``, every conversation runs whole in right-padded batches.
``describe()["scoring_path"]`` records which path ran.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rm_mlflow.data.types import ChatMessage
from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring.base import Conversation, PrefixGroup, RewardModel, TokenizedConversation, padded
from rm_mlflow.scoring.hf import config_and_tokenizer, custom_code, input_device, is_placed, load_weights, with_padding
from rm_mlflow.scoring.lengths import length_limit, position_limit, tokenize_with_limit
from rm_mlflow.scoring.loaders import ModelLoader, register_loader, weightless
from rm_mlflow.scoring.packing import LAYOUT_KEYWORD, pack_rows, packed_attention_for
from rm_mlflow.scoring.settings import ScoringSettings, default_token_budget, resolve_dtype
from rm_mlflow.scoring.templates import ChatFormatter
from rm_mlflow.scoring.vision import has_vision_tower

logger = logging.getLogger(__name__)
# The pair the shared-prefix path is checked on when a model loads: both ways must give the same scores.
_CHECK_PROMPT = (ChatMessage(role="user", content="Which is larger, 3 or 5? Answer in one short sentence."),)
_CHECK_RESPONSES = ("5 is larger than 3.", "3 is larger, since it comes first.")


class SequenceClassifierRewardModel(RewardModel):
    """A loaded sequence classifier and its tokenizer, scored on right-padded, length-sorted batches."""

    scores_left_padded = True

    def __init__(self, model: Any, tokenizer: Any, settings: ScoringSettings, *, name: str, check_head: bool = True) -> None:
        import torch

        self.model = model.eval()
        self.config = model.config
        self.tokenizer = tokenizer
        self.settings = settings
        self.name = name
        self.device = input_device(model)
        self.formatter = ChatFormatter(tokenizer, settings.chat_template)
        self._pad_id = tokenizer.pad_token_id
        self._torch = torch
        if check_head:
            _check_head(model.config, settings, name)
        self.padding_sensitive = self._check_padding_sensitivity()
        self.scoring_path, self.padded_reason = "padded", "shared_prefix off"
        if settings.batching == "rewardbench":
            self.scoring_path, self.padded_reason = "rewardbench-batches", "batching rewardbench"
        elif settings.shared_prefix in ("auto", "on"):
            self.padded_reason = self._check_shared_prefix()
            if self.padded_reason is None:
                self.scoring_path = "shared-prefix"

    @classmethod
    def without_weights(
        cls, config: Any, tokenizer: Any, settings: ScoringSettings, *, name: str, check_head: bool = True
    ) -> SequenceClassifierRewardModel:
        """A weightless instance that formats and tokenizes as the loaded model will: for the length checks before any weights load."""
        if check_head:
            _check_head(config, settings, name)
        preview = cls.__new__(cls)
        preview.model, preview.config, preview.settings, preview.name, preview.device = None, config, settings, name, "none"
        preview.tokenizer = with_padding(tokenizer, name)
        preview.formatter = ChatFormatter(preview.tokenizer, settings.chat_template)
        return preview

    def _check_units(self) -> list[TokenizedConversation]:
        """The load-time check pair, tokenized as scoring will."""
        return self.tokenize([(*_CHECK_PROMPT, ChatMessage(role="assistant", content=r)) for r in _CHECK_RESPONSES])

    def _check_tolerance(self) -> float:
        """The relative score difference the load-time checks put down to this dtype's arithmetic."""
        return 1e-3 if self.model.dtype in (self._torch.float32, self._torch.float64) else 5e-2

    def _check_padding_sensitivity(self) -> bool | None:
        """Whether left padding moves this model's scores: the check pair scored alone, then left-padded together as rewardbench batches.

        Absolute position embeddings shift with the padding; rotary ones do not. None when the pair cannot be scored here
        (it is longer than ``max_length``, say): scoring itself then says what is wrong.
        """
        torch = self._torch
        try:
            units = self._check_units()
            with torch.inference_mode():
                alone = [score for unit in units for score in self.score_batch([unit])]
                together = self.score_batch(units, padding_side="left")
        except Exception as error:  # noqa: BLE001 - the check is advice; scoring reports its own errors
            logger.debug("%s: padding sensitivity not checked (%s)", self.name, error)
            return None
        tolerance = self._check_tolerance()
        sensitive = max(abs(a - b) / max(1.0, abs(a)) for a, b in zip(alone, together, strict=True)) > tolerance
        batching = self.settings.batching
        if sensitive and batching == "independent":
            logger.warning("%s: left padding moves this model's scores (%s position embeddings): rm-mlflow scores each conversation "
                           "as it is alone, but rewardbench's numbers for it depend on what each batch holds; --batching rewardbench "
                           "reproduces them (docs/parity.md)", self.name, position_embeddings(self.config))
        elif sensitive:
            logger.warning("%s: --batching rewardbench: these are rewardbench's numbers for this model, each score moved by the "
                           "left padding of its batch of %d (docs/parity.md)", self.name, self.settings.batch_size)
        elif batching == "rewardbench":
            logger.info("%s: left padding does not move this model's scores: --batching rewardbench gives its own scores", self.name)
        return sensitive

    def _check_shared_prefix(self) -> str | None:
        """None when the shared-prefix path scores a real pair as the padded path does; else why not."""
        head, backbone = getattr(self.model, "score", None), getattr(self.model, "base_model", None)
        if head is None or backbone is None or backbone is self.model or getattr(self.model.config, "is_encoder_decoder", False):
            return f"{type(self.model).__name__} has no decoder backbone and score head to share a prefix with"
        try:
            units = self._check_units()
            group = self._check_group(units)
            if len(group.prefix) < 2:
                return "the check pair shares no prefix in this template"
            with self._torch.inference_mode():
                padded = self.score_batch(units)
                grouped = self.score_prefix_groups([group])[0]
        except Exception as error:  # noqa: BLE001 - any failure means: use the padded path
            return f"the shared-prefix path failed on this model ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
        tolerance = self._check_tolerance()
        worst = max(abs(a - b) / max(1.0, abs(a)) for a, b in zip(padded, grouped, strict=True))
        if worst > tolerance:
            return f"the shared-prefix path differs from the padded one on this model by {worst:.2g} (e.g. bidirectional attention)"
        return None

    @staticmethod
    def _check_group(units: Sequence[TokenizedConversation]) -> PrefixGroup:
        first, second = units[0].input_ids, units[1].input_ids
        shared = 0
        while shared < min(len(first), len(second)) - 1 and first[shared] == second[shared]:
            shared += 1
        return PrefixGroup(first[:shared], (first[shared:], second[shared:]), units[0].mask_first)

    def shares_prefixes(self) -> bool:
        """True when the model passed the shared-prefix check at load."""
        return self.scoring_path == "shared-prefix"

    def score_prefix_groups(self, groups: Sequence[PrefixGroup], budget: int | None = None) -> list[list[float]]:
        """Groups packed into padding-free rows of at most ``budget`` tokens (:mod:`rm_mlflow.scoring.packing`); one score per suffix."""
        torch = self._torch
        scores: list[list[float]] = [[] for _ in groups]
        for members, row in pack_rows(groups, budget or default_token_budget(self.device), self._pad_id):
            ids = torch.tensor([row.input_ids], dtype=torch.long, device=self.device)
            positions = torch.tensor([row.position_ids], dtype=torch.long, device=self.device)
            with torch.inference_mode(), packed_attention_for(self.model):
                hidden = self.model.base_model(input_ids=ids, position_ids=positions, **{LAYOUT_KEYWORD: row}).last_hidden_state[0]
                reads = torch.tensor([at for group_reads in row.read_at for at in group_reads], device=hidden.device)
                values = self.reduce(self.model.score(hidden[reads]))
            start = 0
            for g, group_reads in zip(members, row.read_at, strict=True):
                scores[g] = values[start : start + len(group_reads)]
                start += len(group_reads)
        return scores

    def tokenize(self, conversations: Sequence[Conversation]) -> list[TokenizedConversation]:
        """Chat-format and tokenize each conversation under the length rules of :mod:`rm_mlflow.scoring.lengths`."""
        limit = length_limit(self.settings.max_length, self.max_positions())
        hint = (
            f" (max_length {self.settings.max_length}, the model's position limit {self.max_positions()}); "
            f"pass --truncation left (rewardbench's --force_truncation) to cut such conversations, or a larger --max_length"
        )
        texts = [self.formatter.format(conversation) for conversation in conversations]
        return tokenize_with_limit(self.tokenizer, texts, limit=limit, truncation=self.settings.truncation, hint=hint)

    def score_batch(self, batch: Sequence[TokenizedConversation], *, padding_side: str = "right") -> list[float]:
        """One padded forward pass; the head's logit at ``score_index`` for each row.

        Right padding (the default) starts every row's positions at 0. ``left`` is rewardbench's: no position ids are
        passed, so a row's positions start after its padding.
        """
        torch = self._torch
        input_ids, attention_mask = padded(self.tokenizer, batch, side=padding_side)
        width = input_ids.shape[1]
        for row, item in enumerate(batch):
            if item.mask_first:  # a doubled BOS: rewardbench masks the first from attention
                attention_mask[row, width - len(item) if padding_side == "left" else 0] = 0
        with torch.inference_mode():
            values = self.forward_scores(input_ids.to(self.device), attention_mask.to(self.device))
        return self.reduce(values)

    def forward_scores(self, input_ids: Any, attention_mask: Any) -> Any:
        """The head's output for a padded batch: the logits."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def reduce(self, values: Any) -> list[float]:
        """One reward per row: the logit at ``score_index``."""
        return values[:, self.settings.score_index].float().cpu().tolist()

    def max_positions(self) -> int | None:
        """The model's position limit (``max_position_embeddings`` or ``n_positions``; rotary models have one too)."""
        return position_limit(self.config)

    def describe(self) -> dict[str, Any]:
        """Kind, device, dtype, attention, template, head: what a score depends on."""
        return {
            "name": self.name,
            "kind": "sequence-classifier",
            "leaderboard_type": "Seq. Classifier",
            "device": self.device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "attn_implementation": getattr(self.model.config, "_attn_implementation", None),
            "chat_template": self.formatter.describe(),
            "chat_template_digest": self.formatter.digest(),
            "num_labels": self.model.config.num_labels,
            "score_index": self.settings.score_index,
            "architecture": type(self.model).__name__,
            "scoring_path": self.scoring_path,
            "position_embeddings": position_embeddings(self.config),
            "padding_sensitive": self.padding_sensitive,
            "batching": self.settings.batching,
        }


ROTARY_KEYS = ("rope_theta", "rope_scaling", "rope_parameters", "rotary_dim", "rotary_emb_base")
ALIBI_MODEL_TYPES = ("bloom", "mpt", "baichuan")


def position_embeddings(config: Any) -> str:
    """How the config places tokens: ``rotary``, ``alibi``, ``absolute`` or ``unknown``.

    Rotary and ALiBi positions are relative, so left padding does not move scores; absolute ones (GPT-2, OPT, BERT)
    shift with it. The load-time check measures it; this names it.
    """
    if any(getattr(config, key, None) is not None for key in ROTARY_KEYS):
        return "rotary"
    if getattr(config, "model_type", None) in ALIBI_MODEL_TYPES or getattr(config, "alibi", False):
        return "alibi"
    declared = getattr(config, "position_embedding_type", None)
    if isinstance(declared, str):
        return declared
    return "absolute" if position_limit(config) else "unknown"


def _check_head(config: Any, settings: ScoringSettings, name: str) -> None:
    if settings.score_index >= config.num_labels:
        raise ModelLoadError(f"{name}: score_index {settings.score_index} but the head has {config.num_labels} label(s)")


def _is_sequence_classifier(config: Any, settings: ScoringSettings) -> bool:
    stock = not custom_code(config) and not settings.custom.named
    named = any(name.endswith("ForSequenceClassification") for name in (getattr(config, "architectures", None) or []))
    return stock and named and not has_vision_tower(config)  # a vision-language classifier is its own kind (vl-classifier)


def load_sequence_classifier(model_id: str, settings: ScoringSettings) -> SequenceClassifierRewardModel:
    """Load ``model_id`` (a folder or Hub id) with ``AutoModelForSequenceClassification`` and its tokenizer."""
    from transformers import AutoModelForSequenceClassification

    _, tokenizer = config_and_tokenizer(model_id, settings)
    model = load_weights(AutoModelForSequenceClassification, model_id, settings, what="a sequence-classification reward model")
    return wrap_sequence_classifier(model, tokenizer, settings, name=model_id)


def wrap_sequence_classifier(model: Any, tokenizer: Any, settings: ScoringSettings, *, name: str) -> SequenceClassifierRewardModel:
    """A reward model over an already-loaded classifier and tokenizer (e.g. unwrapped from an MLflow pipeline).

    Moves the model to the settings' device and dtype and pads with EOS when there is no pad
    token, as rewardbench does.
    """
    device = settings.resolved_device
    tokenizer = with_padding(tokenizer, name)
    model.config.pad_token_id = tokenizer.pad_token_id
    if not is_placed(model):
        model = model.to(device=device, dtype=resolve_dtype(settings.dtype, device))
    return SequenceClassifierRewardModel(model, tokenizer, settings, name=name)


SEQUENCE_CLASSIFIER = register_loader(
    ModelLoader(
        name="sequence-classifier",
        description="AutoModelForSequenceClassification checkpoints (Bradley-Terry reward models)",
        accepts=_is_sequence_classifier,
        load=load_sequence_classifier,
        preview=weightless(SequenceClassifierRewardModel),
    )
)
