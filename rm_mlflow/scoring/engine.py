"""The batching engine: each distinct conversation scored once, length-sorted batches under a token budget.

On CUDA out-of-memory a batch is split in half and retried, and the budget for later batches halves.
An optional :class:`~rm_mlflow.scoring.cache.ScoreCache` keeps every scored batch on disk, so a
killed run resumes from what it had scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from rm_mlflow.errors import SequenceTooLongError
from rm_mlflow.scoring.base import Conversation, RewardModel, TokenizedConversation
from rm_mlflow.scoring.cache import ScoreCache
from rm_mlflow.scoring.settings import ScoringSettings, default_token_budget

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredConversations:
    """Scores and token counts aligned with the input conversations, plus throughput figures."""

    scores: list[float]
    token_counts: list[int]
    distinct: int  # conversations actually run through the model (after de-duplication)
    from_cache: int
    truncated: int
    seconds: float  # wall time of tokenization and forward passes
    tokens: int  # real (unpadded) tokens of the distinct conversations

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")


def score_conversations(
    model: RewardModel,
    conversations: Sequence[Conversation],
    settings: ScoringSettings | None = None,
    *,
    labels: Sequence[str] | None = None,
    cache: ScoreCache | None = None,
    progress: bool = True,
) -> ScoredConversations:
    """Score every conversation (one float each), running each distinct conversation through the model once.

    ``labels`` name the conversations in error messages (e.g. ``rewardbench id 12 chosen``).
    """
    settings = settings or ScoringSettings()
    started = time.perf_counter()
    keys = [tuple((m["role"], m["content"]) for m in conversation) for conversation in conversations]
    index_of: dict[tuple, int] = {}
    distinct: list[Conversation] = []
    owner: list[int] = []  # which input first introduced each distinct conversation
    for position, key in enumerate(keys):
        if key not in index_of:
            index_of[key] = len(distinct)
            distinct.append(conversations[position])
            owner.append(position)

    tokenized = model.tokenize(distinct)
    _check_lengths(model, tokenized, settings, lambda d: labels[owner[d]] if labels else f"conversation {owner[d]}")
    truncated = sum(item.truncated for item in tokenized)
    if truncated:
        logger.warning(
            "%d of %d conversations were longer than max_length=%d and were truncated (%s side)",
            truncated, len(tokenized), settings.max_length, settings.truncation,
        )

    distinct_scores: list[float | None] = [None] * len(distinct)
    from_cache = 0
    if cache is not None:
        for i, item in enumerate(tokenized):
            distinct_scores[i] = cache.get(item.input_ids)
        from_cache = sum(score is not None for score in distinct_scores)

    pending = sorted((i for i, s in enumerate(distinct_scores) if s is None), key=lambda i: -len(tokenized[i]))
    budget = settings.max_tokens_per_batch or default_token_budget(model.device)
    with tqdm(total=len(pending), desc="scoring", unit="seq", disable=not progress, dynamic_ncols=True) as bar:
        start = 0
        while start < len(pending):
            batch = _next_batch(pending, start, tokenized, budget, settings.batch_size)
            scores, budget = _score_with_oom_retry(model, [tokenized[i] for i in batch], budget)
            for i, score in zip(batch, scores):
                distinct_scores[i] = score
            if cache is not None:
                cache.put_many([(tokenized[i].input_ids, score) for i, score in zip(batch, scores)])
            start += len(batch)
            bar.update(len(batch))

    elapsed = time.perf_counter() - started
    return ScoredConversations(
        scores=[float(distinct_scores[index_of[key]]) for key in keys],  # type: ignore[arg-type]
        token_counts=[len(tokenized[index_of[key]]) for key in keys],
        distinct=len(distinct),
        from_cache=from_cache,
        truncated=truncated,
        seconds=elapsed,
        tokens=sum(len(item) for item in tokenized),
    )


def _next_batch(pending: list[int], start: int, tokenized: list[TokenizedConversation], budget: int, max_rows: int) -> list[int]:
    """Rows from ``start`` while rows x longest-row stays within the budget (rows are sorted longest first)."""
    width = len(tokenized[pending[start]])
    rows = max(1, min(max_rows, budget // max(width, 1)))
    return pending[start : start + rows]


def _score_with_oom_retry(model: RewardModel, batch: list[TokenizedConversation], budget: int) -> tuple[list[float], int]:
    import torch

    try:
        return model.score_batch(batch), budget
    except torch.OutOfMemoryError:
        if len(batch) == 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(batch) // 2
        budget = max(1, budget // 2)
        logger.warning("out of memory on a batch of %d; retrying as two batches (token budget now %d)", len(batch), budget)
        first, budget = _score_with_oom_retry(model, batch[:half], budget)
        second, budget = _score_with_oom_retry(model, batch[half:], budget)
        return first + second, budget


def _check_lengths(
    model: RewardModel, tokenized: list[TokenizedConversation], settings: ScoringSettings, label: Callable[[int], str]
) -> None:
    limit = model.max_positions()
    if limit is None:
        return
    for index, item in enumerate(tokenized):
        if len(item) > limit:
            raise SequenceTooLongError(
                f"{label(index)}: {len(item)} tokens, but the model takes at most {limit}; "
                f"pass --truncation left (rewardbench's --force_truncation) with --max_length {min(limit, settings.max_length)}"
            )
