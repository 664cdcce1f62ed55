"""What scores examples: :class:`Scorer`, and :class:`RewardModel`, the forward-pass models the batching engine drives.

:class:`Scorer` is what the pipeline needs of any model; generative judges have their own interface,
:class:`rm_mlflow.judges.base.Judge`.

A model kind decides what it scores for one example (its *units*) and how the unit scores become the
example's chosen and rejected scores. Pointwise kinds (classifiers, DPO, custom heads) score each
response's conversation once; a pairwise kind scores ordered comparisons of the chosen response with
each rejected one. The engine only ever sees units: it deduplicates, length-sorts, batches and caches them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any

from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.metrics.outcomes import ExampleScores  # noqa: F401 - where the kinds import it from
from rm_mlflow.scoring.settings import ScoringSettings

Conversation = Sequence[ChatMessage]


def conversation_key(conversation: Conversation) -> tuple:
    """A conversation as a hashable value: its turns' roles and text, an image part by its content hash."""
    return tuple((m["role"], m["content"] if isinstance(m["content"], str) else
                  tuple((part["type"], part["text"] if part["type"] == "text" else part["image"].sha256) for part in m["content"]))
                 for m in conversation)


def image_hashes(conversation: Conversation) -> tuple[str, ...]:
    """The content hashes of a conversation's images, in order."""
    return tuple(part["image"].sha256 for message in conversation if not isinstance(message["content"], str)
                 for part in message["content"] if part["type"] == "image")


@dataclass(frozen=True)
class TokenizedConversation:
    """Token ids for one unit.

    ``mask_first`` hides a doubled leading BOS from attention, as rewardbench does. ``response_start``
    is the first position whose token is scored by a log-probability model (DPO); 0 for kinds that
    read one value off the whole sequence.
    """

    input_ids: tuple[int, ...]
    mask_first: bool = False
    truncated: bool = False
    response_start: int = 0
    # a unit with images: its conversation, which the kind's processor renders again when it scores (token ids alone
    # cannot say which picture their image tokens stand for, so the images' hashes join the cache key)
    conversation: Conversation | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def cache_key(self) -> tuple[int | str, ...]:
        """What identifies this unit's score for a given model: the tokens, where the response starts (when set), the images (by content)."""
        key: tuple[int | str, ...] = self.input_ids if not self.response_start else (*self.input_ids, -1, self.response_start)
        images = image_hashes(self.conversation) if self.conversation is not None else ()
        return key if not images else (*key, -3, *images)


@dataclass(frozen=True)
class PrefixGroup:
    """Units that begin with the same tokens: the shared ``prefix`` is run once, each suffix on top of it.

    Every suffix holds at least one token (the score is read at its last one); ``mask_first`` is the
    units' shared doubled-BOS flag (see :class:`TokenizedConversation`).
    """

    prefix: tuple[int, ...]
    suffixes: tuple[tuple[int, ...], ...]
    mask_first: bool = False

    @property
    def computed_tokens(self) -> int:
        """Tokens run through the model for the group: the prefix once, then each suffix."""
        return len(self.prefix) + sum(len(suffix) for suffix in self.suffixes)


@dataclass(frozen=True, kw_only=True)
class Work:
    """What scoring did, for throughput: the names stay the same from here to ``results.json`` and the run's metrics."""

    distinct_conversations: int  # after de-duplication (a judge: distinct judge chats)
    cached_conversations: int  # of those, scored by an earlier run and read from the cache
    truncated_conversations: int
    seconds: float  # wall time of tokenization and forward passes (or judge calls) in this call
    tokens: int  # real (unpadded) tokens of the distinct conversations
    scored_tokens: int  # of those, the tokens of the conversations run through the model in this call
    scored_conversations: int  # run through the model in this call (not in the cache, not token-identical to another)
    computed_tokens: int | None = None  # tokens the model actually computed (a shared prefix once); None: scored_tokens

    @property
    def tokens_per_second(self) -> float:
        """Real tokens run through the model per second of this call's wall time (cached work not counted)."""
        return self.scored_tokens / self.seconds if self.seconds > 0 else float("nan")


@dataclass(frozen=True, kw_only=True)
class ScoredConversations(Work):
    """Scores and token counts aligned with the input conversations, and the work done."""

    scores: list[float]
    token_counts: list[int]
    truncated: list[bool] = field(default_factory=list)  # whether each was cut to the length limit


@dataclass(frozen=True)
class ScoredExamples:
    """What a scoring strategy returns for a list of examples: each one's :class:`ExampleScores`, its units' token counts, and the work done."""

    scores: list[ExampleScores]
    tokens: list[list[int]]
    work: Work
    truncated: list[bool] = field(default_factory=list)  # per example, whether any of its units was cut; empty: not known (judges)

    @staticmethod
    def concatenate(parts: Sequence[ScoredExamples]) -> ScoredExamples:
        """Several scorings' examples, in order, and their work summed."""
        works = [part.work for part in parts]
        totals = {item.name: sum(getattr(work, item.name) for work in works) for item in fields(Work) if item.name != "computed_tokens"}
        if any(work.computed_tokens is not None for work in works):  # None reads as scored_tokens
            totals["computed_tokens"] = sum(work.scored_tokens if work.computed_tokens is None else work.computed_tokens for work in works)
        scores, tokens = [s for part in parts for s in part.scores], [t for part in parts for t in part.tokens]
        known = all(len(part.truncated) == len(part.scores) for part in parts)
        truncated = [cut for part in parts for cut in part.truncated] if known else []
        return ScoredExamples(scores=scores, tokens=tokens, work=Work(**totals), truncated=truncated)


@dataclass
class Review:
    """What a kind adds to a benchmark's results after reading its per-example table: figures (metrics), warnings, summary lines."""

    figures: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MarginReading:
    """What calibration takes sigmoid of (``of``), or None and ``why_not``; scores below ``least`` mean "no score" (a judge's unparsed rating)."""

    of: str | None
    why_not: str = ""
    least: float | None = None


class Scorer(ABC):
    """What the pipeline needs of anything that scores examples (a :class:`RewardModel` or a generative judge).

    How it scores is chosen by its type (see :func:`rm_mlflow.benchmarking.score_examples`); the rest is shared.
    """

    name: str
    device: str
    settings: ScoringSettings
    setting_groups: tuple[str, ...] = ()  # the groups of ScoringSettings this kind reads (dpo, custom, judge), recorded with results

    def margin_reading(self) -> MarginReading:
        """How calibration reads a pair's score difference (a reward head's scores are Bradley-Terry logits; other kinds say why not)."""
        return MarginReading(None, f"{self.describe().get('kind', 'this kind')}'s scores are not on a logit scale")

    def describe(self) -> dict[str, Any]:
        """Settings worth recording with results (template, dtype, device, ...)."""
        return {"name": self.name, "device": self.device}

    def review(self, examples: Any) -> Review:
        """Figures and warnings from a benchmark's per-example table (a judge counts its unparsed verdicts per subset)."""
        return Review()

    def max_positions(self) -> int | None:
        """The longest sequence the model can take, when it has a hard limit."""
        return None

    @contextmanager
    def with_max_length(self, max_length: int) -> Iterator[Scorer]:
        """Score under another ``max_length`` inside the block (a benchmark's own default: Long-RewardBench's position limit)."""
        saved = self.settings
        self.settings = replace(saved, max_length=max_length)
        try:
            yield self
        finally:
            self.settings = saved

    def cache_fingerprint(self) -> dict[str, Any]:
        """What identifies this model's cached scores: its description and settings (a kind may leave out machine-only settings).

        The device is the one the model runs on, without a GPU's index (``auto`` and ``cuda:1`` are ``cuda`` on a GPU
        machine), so the processes of a data-parallel run and a single-process rerun read each other's scores.
        """
        model, settings = self.describe(), self.settings.as_dict()
        device = str(getattr(self, "device", settings["device"])).split(":")[0]
        model["device"] = settings["device"] = device
        return {"model": model, "settings": settings}

    def stats(self) -> dict[str, float]:
        """Work the model did besides scoring its units (e.g. reference log-probs computed or reused), for throughput."""
        return {}


class RewardModel(Scorer):
    """Scores units with forward passes: one float each, higher is better.

    The engine calls :meth:`tokenize` once for every distinct unit, then :meth:`score_batch` on
    length-sorted batches. Implementations hold the model and tokenizer.
    """

    scores_left_padded: bool = False  # score_batch(batch, padding_side="left") works: rewardbench's batches can be reproduced

    def margin_reading(self) -> MarginReading:
        """A reward head's scores are Bradley-Terry logits: calibration reads sigmoid of the reward margin."""
        return MarginReading("the reward margin")

    @abstractmethod
    def tokenize(self, conversations: Sequence[Conversation]) -> list[TokenizedConversation]:
        """Format and tokenize (truncating as configured)."""

    @abstractmethod
    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        """One forward pass over a batch; may raise ``torch.OutOfMemoryError`` (the engine splits the batch)."""

    def units(self, example: PreferenceExample) -> list[Conversation]:
        """What to score for ``example``: by default each response's conversation, chosen ones first."""
        return [example.conversation(response) for response in example.responses()]

    def example_scores(self, example: PreferenceExample, unit_scores: Sequence[float]) -> ExampleScores:
        """The example's chosen and rejected scores from its units' scores (by default, one per response)."""
        n = len(example.chosen)
        return ExampleScores(chosen=tuple(unit_scores[:n]), rejected=tuple(unit_scores[n:]))

    def shares_prefixes(self) -> bool:
        """Whether :meth:`score_prefix_groups` may score units that share a token prefix (decided and checked by the kind)."""
        return False

    def score_prefix_groups(self, groups: Sequence[PrefixGroup], budget: int | None = None) -> list[list[float]]:
        """One score per suffix of each group, the prefixes computed once, in batches of at most ``budget`` padded tokens.

        Only called when :meth:`shares_prefixes`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not score shared prefixes")


def padded(tokenizer: Any, sequences: Sequence[TokenizedConversation], *, side: str) -> tuple[Any, Any]:
    """``(input_ids, attention_mask)`` tensors of a batch padded on ``side`` with the tokenizer's pad token (``tokenizer.pad``)."""
    batch = tokenizer.pad({"input_ids": [list(item.input_ids) for item in sequences]}, padding=True, padding_side=side, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]
