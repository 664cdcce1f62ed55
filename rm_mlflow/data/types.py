"""The canonical example every benchmark is converted to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from rm_mlflow.data.images import ImageRef

ExampleKind = Literal["pairwise", "best_of_n", "multi_chosen", "instruction"]
# metadata key: the benchmark's protocol has generative judges rate each answer of this row, with the named rating prompt
# (RewardBench 2's Ties subset: "ties"), instead of comparing the answers
RATE_EACH_ANSWER = "judge_rates_each_answer"
# metadata key: the orders the benchmark's protocol shows a pair in, each a tuple of indices into responses() for answers A, B
# (JudgeBench: the published order, then the swapped one); a judge asks exactly these, one game each, instead of drawing an order
GAME_ORDERS = "game_orders"
# metadata key: the judge protocol (rm_mlflow.judges.protocols) a benchmark's authors judge this row by (VL-RewardBench's own
# prompt, parsing and k-sample majority), in place of rewardbench's prompts
JUDGE_PROTOCOL = "judge_protocol"


class ChatMessage(TypedDict):
    """One turn of a conversation."""

    role: str
    content: str


@dataclass(frozen=True)
class PreferenceExample:
    """One prompt with the responses a reward model must rank.

    ``prompt`` is the conversation before the scored response (multi-turn allowed, ending with a
    user turn); ``images`` go with its last user turn. Pairs are one chosen vs one rejected, best-of-N is one chosen vs N rejected,
    RewardBench 2 Ties rows have several chosen. Instruction rows have one response and no
    rejected: they are scored, never counted for accuracy.
    """

    id: str
    subset: str
    prompt: tuple[ChatMessage, ...]
    chosen: tuple[str, ...]
    rejected: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    images: tuple[ImageRef, ...] = ()  # what the prompt shows, by reference (rm_mlflow.data.images); decoded only when a model looks

    @property
    def kind(self) -> ExampleKind:
        """``pairwise``, ``best_of_n``, ``multi_chosen`` (RewardBench 2 Ties) or ``instruction``."""
        if not self.rejected:
            return "instruction"
        if len(self.chosen) > 1:
            return "multi_chosen"
        return "pairwise" if len(self.rejected) == 1 else "best_of_n"

    def responses(self) -> tuple[str, ...]:
        """Chosen responses first, then rejected ones."""
        return self.chosen + self.rejected

    def conversation(self, response: str) -> tuple[ChatMessage, ...]:
        """The prompt followed by ``response`` as the assistant's turn: what the reward model scores.

        With images, the last user turn is content parts: the images first (as VL-RewardBench's queries had
        ``<image>`` before the question), then its text.
        """
        prompt = self.prompt
        if self.images:
            last = max(i for i, message in enumerate(prompt) if message["role"] == "user")
            parts = (*({"type": "image", "image": image} for image in self.images), {"type": "text", "text": prompt[last]["content"]})
            prompt = (*prompt[:last], ChatMessage(role="user", content=parts), *prompt[last + 1 :])  # type: ignore[typeddict-item]
        return prompt + (ChatMessage(role="assistant", content=response),)
