"""Reward models that are ``AutoModelForSequenceClassification`` checkpoints.

Score rule: the logit at ``score_index`` (default 0) of the last non-padding token, as the model
pools it. With one label that is the reward; for multi-logit heads rewardbench compares the logit
lists element by element, so the first logit decides and index 0 reproduces its numbers. Pass
``--score_index`` to read another head output.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring.base import Conversation, RewardModel, TokenizedConversation
from rm_mlflow.scoring.loaders import ModelLoader, register_loader
from rm_mlflow.scoring.settings import ScoringSettings, resolve_device, resolve_dtype
from rm_mlflow.scoring.templates import ChatFormatter

logger = logging.getLogger(__name__)


class SequenceClassifierRewardModel(RewardModel):
    def __init__(self, model: Any, tokenizer: Any, settings: ScoringSettings, *, name: str) -> None:
        import torch

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.settings = settings
        self.name = name
        self.device = str(next(model.parameters()).device)
        self.formatter = ChatFormatter(tokenizer, settings.chat_template)
        self._pad_id = tokenizer.pad_token_id
        self._torch = torch
        if settings.score_index >= model.config.num_labels:
            raise ModelLoadError(f"{name}: score_index {settings.score_index} but the head has {model.config.num_labels} label(s)")

    def tokenize(self, conversations: Sequence[Conversation]) -> list[TokenizedConversation]:
        texts = [self.formatter.format(conversation) for conversation in conversations]
        encoded = self.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
        if self.settings.truncation != "none":
            too_long = [i for i, ids in enumerate(encoded) if len(ids) > self.settings.max_length]
            if too_long:
                self.tokenizer.truncation_side = self.settings.truncation
                shortened = self.tokenizer(
                    [texts[i] for i in too_long], add_special_tokens=True, truncation=True, max_length=self.settings.max_length
                )["input_ids"]
                for i, ids in zip(too_long, shortened):
                    encoded[i] = ids
            truncated = set(too_long)
        else:
            truncated = set()
        bos = self.tokenizer.bos_token_id
        return [
            TokenizedConversation(
                input_ids=tuple(ids),
                mask_first=bos is not None and len(ids) > 1 and ids[0] == bos and ids[1] == bos,
                truncated=i in truncated,
            )
            for i, ids in enumerate(encoded)
        ]

    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        torch = self._torch
        width = max(len(item) for item in batch)
        input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):  # right padding: positions start at 0 for every row
            input_ids[row, : len(item)] = torch.tensor(item.input_ids, dtype=torch.long)
            attention_mask[row, int(item.mask_first) : len(item)] = 1
        with torch.inference_mode():
            logits = self.model(
                input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device)
            ).logits
        return logits[:, self.settings.score_index].float().cpu().tolist()

    def max_positions(self) -> int | None:
        config = self.model.config
        has_rope = any("rope" in key for key in config.to_dict())
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        return None if has_rope else limit

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "sequence-classifier",
            "device": self.device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "attn_implementation": getattr(self.model.config, "_attn_implementation", None),
            "chat_template": self.formatter.describe(),
            "num_labels": self.model.config.num_labels,
            "score_index": self.settings.score_index,
            "architecture": type(self.model).__name__,
        }


def _is_sequence_classifier(config: Any) -> bool:
    return any(name.endswith("ForSequenceClassification") for name in (getattr(config, "architectures", None) or []))


def load_sequence_classifier(model_id: str, settings: ScoringSettings) -> SequenceClassifierRewardModel:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = resolve_device(settings.device)
    common = {"revision": settings.revision, "trust_remote_code": settings.trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(settings.tokenizer or model_id, **common)
        kwargs = dict(common, dtype=resolve_dtype(settings.dtype, device))
        if settings.attn_implementation:
            kwargs["attn_implementation"] = settings.attn_implementation
        try:
            model = AutoModelForSequenceClassification.from_pretrained(model_id, **kwargs)
        except (ValueError, ImportError) as error:
            if "attn_implementation" not in kwargs or "attn" not in str(error).lower():
                raise
            logger.warning("%s does not support attn_implementation=%s; using the default", model_id, settings.attn_implementation)
            kwargs.pop("attn_implementation")
            model = AutoModelForSequenceClassification.from_pretrained(model_id, **kwargs)
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001
        raise ModelLoadError(f"cannot load {model_id!r} as a sequence-classification reward model: {error}") from error

    return wrap_sequence_classifier(model, tokenizer, settings, name=model_id)


def wrap_sequence_classifier(model: Any, tokenizer: Any, settings: ScoringSettings, *, name: str) -> SequenceClassifierRewardModel:
    """A reward model over an already-loaded classifier and tokenizer (e.g. unwrapped from an MLflow pipeline).

    Moves the model to the settings' device and dtype and pads with EOS when there is no pad
    token, as rewardbench does.
    """
    device = resolve_device(settings.device)
    if tokenizer.pad_token_id is None:  # rewardbench: pad with EOS, in tokenizer and model config
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token_id is None:
        raise ModelLoadError(f"{name}: the tokenizer has neither a pad nor an EOS token to pad batches with")
    model.config.pad_token_id = tokenizer.pad_token_id
    return SequenceClassifierRewardModel(model.to(device=device, dtype=resolve_dtype(settings.dtype, device)), tokenizer, settings, name=name)


SEQUENCE_CLASSIFIER = register_loader(
    ModelLoader(
        name="sequence-classifier",
        description="AutoModelForSequenceClassification checkpoints (Bradley-Terry reward models)",
        accepts=_is_sequence_classifier,
        load=load_sequence_classifier,
    )
)
