"""The reward-model interface the scoring engine drives."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rm_mlflow.data.types import ChatMessage
from rm_mlflow.scoring.settings import ScoringSettings

Conversation = Sequence[ChatMessage]


@dataclass(frozen=True)
class TokenizedConversation:
    """Token ids for one conversation. ``mask_first`` hides a doubled leading BOS from attention, as rewardbench does."""

    input_ids: tuple[int, ...]
    mask_first: bool = False
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)


class RewardModel(ABC):
    """Scores conversations: one float each, higher is better.

    The engine calls :meth:`tokenize` once for every distinct conversation, then
    :meth:`score_batch` on length-sorted batches. Implementations hold the model and tokenizer.
    """

    name: str
    device: str
    settings: ScoringSettings

    @abstractmethod
    def tokenize(self, conversations: Sequence[Conversation]) -> list[TokenizedConversation]:
        """Format and tokenize (truncating as configured)."""

    @abstractmethod
    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        """One forward pass over a batch; may raise ``torch.OutOfMemoryError`` (the engine splits the batch)."""

    def max_positions(self) -> int | None:
        """The longest sequence the model can take, when it has a hard limit."""
        return None

    def describe(self) -> dict[str, Any]:
        """Settings worth recording with results (template, dtype, device, ...)."""
        return {"name": self.name, "device": self.device}
