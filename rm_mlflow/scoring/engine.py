"""The batching engine: each distinct conversation scored once, length-sorted batches under a token budget.

On CUDA out-of-memory a batch is split in half and retried, and the budget for later batches halves.
An optional :class:`~rm_mlflow.scoring.cache.ScoreCache` keeps every scored batch on disk, so a
killed run resumes from what it had scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from tqdm.auto import tqdm

from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.errors import OptionError, SequenceTooLongError
from rm_mlflow.scoring.base import (
    Conversation,
    PrefixGroup,
    RewardModel,
    ScoredConversations,
    ScoredExamples,
    TokenizedConversation,
    Work,
    conversation_key,
)
from rm_mlflow.scoring.cache import ScoreCache
from rm_mlflow.scoring.distributed import SINGLE_PROCESS, ProcessGroup
from rm_mlflow.scoring.lengths import TooLongAt
from rm_mlflow.scoring.settings import ScoringSettings, default_token_budget

logger = logging.getLogger(__name__)
# A prompt is shared only when that saves at least this share of its group's tokens: a response's attention over
# a shared prompt runs under a mask, slower than the plain causal kernel, which a short prompt does not repay.
MIN_SHARED_SHARE = 0.1
# On a CPU packing a pair does not pay: side by side with rewardbench (4 layers x 256, 2 cores) packed pairs took
# 22.1 s against 17.7 s padded on RMB pairs, 41.5 s against 27.7 s on LLMBar with a GPT-2, and won only 20.4 s
# against 22.2 s on LLMBar with a Llama. A pair saves under half its tokens, so this keeps pairs padded there and
# packs only prompts with three or more answers that share a long prompt (best-of-N, RM-Bench).
MIN_SHARED_SHARE_CPU = 0.5


def min_shared_share(device: str, mode: str = "auto") -> float:
    """The least share of a group's tokens its shared prefix must save for the group to be packed on ``device``.

    ``shared_prefix="on"`` packs on a CPU as on a GPU.
    """
    return MIN_SHARED_SHARE_CPU if mode == "auto" and str(device).startswith("cpu") else MIN_SHARED_SHARE


T = TypeVar("T")
R = TypeVar("R")


def score_examples(
    model: RewardModel,
    examples: Sequence[PreferenceExample],
    names: Sequence[str],
    *,
    cache: ScoreCache | None = None,
    progress: bool = True,
    group: ProcessGroup = SINGLE_PROCESS,
) -> ScoredExamples:
    """Score each example's units (shared ones once) and read its chosen and rejected scores off them.

    ``names`` name the examples in errors (``rewardbench id 12``); a unit is named after its example. Under
    ``batching="rewardbench"`` the pairs are scored in rewardbench's own batches instead (:func:`score_in_rewardbench_batches`).
    """
    if model.settings.batching == "rewardbench":
        return score_in_rewardbench_batches(model, examples, names, cache=cache, progress=progress)
    conversations, labels, owners = example_units(model, examples, names)
    scored = score_conversations(model, conversations, model.settings, labels=labels, cache=cache, progress=progress, group=group)
    unit_scores: list[list[float]] = [[] for _ in examples]
    unit_tokens: list[list[int]] = [[] for _ in examples]
    cut = [False] * len(examples)
    for owner, score, tokens, truncated in zip(owners, scored.scores, scored.token_counts, scored.truncated, strict=True):
        unit_scores[owner].append(score)
        unit_tokens[owner].append(tokens)
        cut[owner] = cut[owner] or truncated
    return ScoredExamples(
        scores=[model.example_scores(example, unit_scores[e]) for e, example in enumerate(examples)], tokens=unit_tokens, work=scored,
        truncated=cut,
    )


def check_rewardbench_batching(model: RewardModel, examples: Sequence[PreferenceExample], names: Sequence[str]) -> None:
    """Refuse, before any weights load, what rewardbench's batching cannot reproduce.

    That is a kind without left-padded batches, or an example that is not one chosen and one rejected response.
    """
    if model.settings.batching != "rewardbench":
        return
    if not model.scores_left_padded:
        raise OptionError(f"--batching rewardbench reproduces rewardbench's classifier batches; a {type(model).__name__} has none "
                          "(use --batching independent)")
    for example, name in zip(examples, names, strict=True):
        if len(example.chosen) != 1 or len(example.rejected) != 1:
            raise OptionError(f"{name}: --batching rewardbench scores pairs (one chosen, one rejected response); this example has "
                              f"{len(example.chosen)} and {len(example.rejected)} (use --batching independent)")


def score_in_rewardbench_batches(
    model: RewardModel, examples: Sequence[PreferenceExample], names: Sequence[str], *, cache: ScoreCache | None = None,
    progress: bool = True,
) -> ScoredExamples:
    """The pairs scored exactly as rewardbench batches them, so a published number can be matched.

    In dataset order, ``batch_size`` pairs at a time, the chosen conversations in one left-padded forward pass and the
    rejected ones in another, with no position ids: on a model with absolute positions a conversation's score then
    depends on the longest row of its batch. Nothing is de-duplicated or sorted. A score is cached under its tokens and
    its left padding, which is all it depends on, so a killed run resumes.
    """
    check_rewardbench_batching(model, examples, names)  # a model given loaded was not previewed
    started = time.perf_counter()
    size = model.settings.batch_size
    sides = [[example.conversation(example.chosen[0]) for example in examples],
             [example.conversation(example.rejected[0]) for example in examples]]
    tokenized = []
    for side, label in zip(sides, ("chosen", "rejected"), strict=True):
        keys, index_of, _, distinct = _tokenize_distinct(model, side, [f"{name} {label}" for name in names])
        tokenized.append([distinct[index_of[key]] for key in keys])
    scores: list[list[float]] = [[0.0] * len(examples), [0.0] * len(examples)]
    cached = scored_tokens = 0
    progress_bar = tqdm(total=2 * len(examples), desc="scoring (rewardbench batches)", unit="seq", disable=None if progress else True,
                        dynamic_ncols=True)
    with progress_bar as bar:
        for start in range(0, len(examples), size):
            for side in (0, 1):
                batch = tokenized[side][start : start + size]
                width = max(len(item) for item in batch)
                keys = [(*item.cache_key, -2, width - len(item)) for item in batch]
                found = [cache.get(key) if cache is not None else None for key in keys]
                if any(value is None for value in found):
                    found = model.score_batch(batch, padding_side="left")
                    scored_tokens += sum(len(item) for item in batch)
                    if cache is not None:
                        cache.put_many(zip(keys, found, strict=True))
                else:
                    cached += len(batch)
                scores[side][start : start + len(batch)] = found
                bar.update(len(batch))
    counts = [[len(chosen), len(rejected)] for chosen, rejected in zip(*tokenized, strict=True)]
    work = Work(
        distinct_conversations=2 * len(examples), cached_conversations=cached,
        truncated_conversations=sum(item.truncated for side in tokenized for item in side),
        seconds=time.perf_counter() - started, tokens=sum(map(sum, counts)), scored_tokens=scored_tokens,
        scored_conversations=2 * len(examples) - cached,
    )
    pairs = zip(examples, *scores, strict=True)
    return ScoredExamples(scores=[model.example_scores(example, [chosen, rejected]) for example, chosen, rejected in pairs], tokens=counts, work=work,
                          truncated=[chosen.truncated or rejected.truncated for chosen, rejected in zip(*tokenized, strict=True)])


def example_units(
    model: RewardModel, examples: Sequence[PreferenceExample], names: Sequence[str]
) -> tuple[list[Conversation], list[str], list[int]]:
    """Every unit the model scores for ``examples``, a label naming each in errors, and the index of its example."""
    conversations, labels, owners = [], [], []
    for e, (example, name) in enumerate(zip(examples, names, strict=True)):
        units = model.units(example)
        for u, unit in enumerate(units):
            conversations.append(unit)
            labels.append(f"{name} {_unit_label(example, u, len(units))}")
            owners.append(e)
    return conversations, labels, owners


def _unit_label(example: PreferenceExample, index: int, count: int) -> str:
    """Names a unit in error messages: ``chosen``/``rejected`` when there is one unit per response, else its position."""
    if count == len(example.responses()):
        return "chosen" if index < len(example.chosen) else "rejected"
    return f"comparison {index + 1}"


def score_conversations(
    model: RewardModel,
    conversations: Sequence[Conversation],
    settings: ScoringSettings | None = None,
    *,
    labels: Sequence[str] | None = None,
    cache: ScoreCache | None = None,
    progress: bool = True,
    group: ProcessGroup = SINGLE_PROCESS,
) -> ScoredConversations:
    """Score every conversation (one float each), running each distinct conversation through the model once.

    ``labels`` name the conversations in error messages (e.g. ``rewardbench id 12 chosen``). In a
    distributed ``group`` this process scores its token-balanced share and receives the others' scores.
    """
    settings = settings or ScoringSettings()
    started = time.perf_counter()
    keys, index_of, distinct, tokenized = _tokenize_distinct(model, conversations, labels)
    truncated = sum(item.truncated for item in tokenized)
    if truncated:
        limit = min(settings.max_length, model.max_positions() or settings.max_length)
        cause = f"max_length={settings.max_length}" if limit == settings.max_length else f"the model's position limit ({limit} tokens)"
        logger.warning("%d of %d conversations were longer than %s and were truncated (%s side)",
                       truncated, len(tokenized), cause, settings.truncation)

    distinct_scores: list[float | None] = [None] * len(distinct)
    from_cache = 0
    if cache is not None:
        for i, item in enumerate(tokenized):
            distinct_scores[i] = cache.get(item.cache_key)
        if group.distributed:
            # Every process must see the same work left: a score counts as cached only when every process read it.
            everywhere = set.intersection(*group.gather({i for i, score in enumerate(distinct_scores) if score is not None}))
            distinct_scores = [score if i in everywhere else None for i, score in enumerate(distinct_scores)]
        from_cache = sum(score is not None for score in distinct_scores)

    # Units that differ as text but not as tokens (a DPO response carried by different pairs whose truncation
    # did not bite, say) are run through the model once.
    first_with: dict[tuple[int, ...], int] = {}
    same_as = [first_with.setdefault(item.cache_key, i) for i, item in enumerate(tokenized)]
    pending = sorted((i for i, s in enumerate(distinct_scores) if s is None and same_as[i] == i), key=lambda i: -len(tokenized[i]))
    budget = settings.max_tokens_per_batch or default_token_budget(model.device)
    mine = _share_of(group, pending, distinct, tokenized) if group.distributed else pending
    with tqdm(total=len(mine), desc="scoring", unit="seq", disable=None if progress else True, dynamic_ncols=True) as bar:  # None: on a terminal only
        if model.shares_prefixes():
            computed = _score_shared_prefixes(model, mine, distinct, tokenized, budget, settings, distinct_scores, cache, bar)
        else:
            computed = _score_padded(model, mine, tokenized, budget, settings.batch_size, distinct_scores, cache, bar)
    if group.distributed:
        shares = group.gather(({i: distinct_scores[i] for i in mine}, computed))
        for their_scores, _ in shares:
            for i, score in their_scores.items():
                distinct_scores[i] = score
        computed = sum(their_computed for _, their_computed in shares)
    for i, first in enumerate(same_as):
        if distinct_scores[i] is None:
            distinct_scores[i] = distinct_scores[first]

    elapsed = time.perf_counter() - started
    return ScoredConversations(
        scores=[float(distinct_scores[index_of[key]]) for key in keys],  # type: ignore[arg-type]
        token_counts=[len(tokenized[index_of[key]]) for key in keys],
        truncated=[tokenized[index_of[key]].truncated for key in keys],
        distinct_conversations=len(distinct),
        cached_conversations=from_cache,
        truncated_conversations=truncated,
        seconds=elapsed,
        tokens=sum(len(item) for item in tokenized),
        scored_tokens=sum(len(tokenized[i]) for i in pending),
        scored_conversations=len(pending),
        computed_tokens=computed,
    )


def check_lengths(model: RewardModel, examples: Sequence[PreferenceExample], names: Sequence[str]) -> None:
    """Tokenize every distinct unit of ``examples`` under the model's length rules, scoring nothing.

    Run on a weightless model (see :func:`rm_mlflow.scoring.loaders.preview_reward_model`) before any weights
    load, so a conversation over the limit under ``truncation='none'`` fails in seconds, naming its row.
    """
    conversations, labels, _ = example_units(model, examples, names)
    _tokenize_distinct(model, conversations, labels)


def _tokenize_distinct(
    model: RewardModel, conversations: Sequence[Conversation], labels: Sequence[str] | None
) -> tuple[list[tuple], dict[tuple, int], list[Conversation], list[TokenizedConversation]]:
    """Each distinct conversation tokenized once: (key per input, index of each key, distinct conversations, their tokens)."""
    keys = [conversation_key(conversation) for conversation in conversations]
    index_of: dict[tuple, int] = {}
    distinct: list[Conversation] = []
    owner: list[int] = []  # which input first introduced each distinct conversation
    for position, key in enumerate(keys):
        if key not in index_of:
            index_of[key] = len(distinct)
            distinct.append(conversations[position])
            owner.append(position)
    try:
        tokenized = model.tokenize(distinct)
    except TooLongAt as error:
        label = labels[owner[error.index]] if labels else f"conversation {owner[error.index]}"
        raise SequenceTooLongError(f"{label}: {error}") from None
    return keys, index_of, distinct, tokenized


def _share_of(group: ProcessGroup, pending: list[int], distinct: Sequence[Conversation], tokenized: Sequence[TokenizedConversation]) -> list[int]:
    """This process's pending units: whole prompts (their shared prefix stays in one process), balanced by tokens."""
    prompts = _by_prompt(pending, distinct)
    taken = group.take([sum(len(tokenized[i]) for i in members) for members in prompts])
    return sorted((i for index in taken for i in prompts[index]), key=lambda i: -len(tokenized[i]))


def _score_padded(
    model: RewardModel, pending: list[int], tokenized: list[TokenizedConversation], budget: int, max_rows: int,
    scores: list[float | None], cache: ScoreCache | None, bar: tqdm,
) -> int:
    """Length-sorted, padded batches; returns the tokens computed (every unit whole)."""
    start = 0
    while start < len(pending):
        batch = _next_batch(pending, start, tokenized, budget, max_rows)
        batch_scores, budget = _with_oom_retry(model.score_batch, [tokenized[i] for i in batch], budget)
        _keep(batch, batch_scores, scores, tokenized, cache)
        start += len(batch)
        bar.update(len(batch))
    return sum(len(tokenized[i]) for i in pending)


def _score_shared_prefixes(
    model: RewardModel, pending: list[int], distinct: list[Conversation], tokenized: list[TokenizedConversation], budget: int,
    settings: ScoringSettings, scores: list[float | None], cache: ScoreCache | None, bar: tqdm,
) -> int:
    """Units grouped by prompt, each group's common token prefix computed once; returns the tokens computed.

    Units that share nothing worth sharing go to the padded path, whose plain causal kernel is the faster one for them.
    """
    max_rows = settings.batch_size
    grouped = prefix_groups(pending, distinct, tokenized, min_shared_share(model.device, settings.shared_prefix))
    alone = sorted((members[0] for members, _ in grouped if len(members) == 1), key=lambda i: -len(tokenized[i]))
    computed = _score_padded(model, alone, tokenized, budget, max_rows, scores, cache, bar) if alone else 0
    groups = within_budget([(members, group) for members, group in grouped if len(members) > 1], budget)
    groups.sort(key=lambda item: -item[1].computed_tokens)
    start = 0
    while start < len(groups):
        end, tokens, rows = start, 0, 0
        while end < len(groups) and (end == start or (tokens + groups[end][1].computed_tokens <= budget
                                                      and rows + len(groups[end][0]) <= max_rows)):
            tokens += groups[end][1].computed_tokens
            rows += len(groups[end][0])
            end += 1
        batch = groups[start:end]

        def score(items: list[tuple[list[int], PrefixGroup]], budget: int = budget) -> list[list[float]]:
            return model.score_prefix_groups([group for _, group in items], budget)

        group_scores, budget = _with_oom_retry(score, batch, budget)
        for (members, _), values in zip(batch, group_scores, strict=True):
            _keep(members, values, scores, tokenized, cache)
            bar.update(len(members))
        start = end
    return computed + sum(group.computed_tokens for _, group in groups)


def _next_batch(pending: list[int], start: int, tokenized: list[TokenizedConversation], budget: int, max_rows: int) -> list[int]:
    """Rows from ``start`` while rows x longest-row stays within the budget (rows are sorted longest first)."""
    width = len(tokenized[pending[start]])
    rows = max(1, min(max_rows, budget // max(width, 1)))
    return pending[start : start + rows]


def prefix_groups(
    pending: Sequence[int], distinct: Sequence[Conversation], tokenized: Sequence[TokenizedConversation], min_share: float = MIN_SHARED_SHARE,
) -> list[tuple[list[int], PrefixGroup]]:
    """Pending units grouped by their prompt (every message but the last), with the group's longest common token prefix.

    The prefix is decided on tokens, so a chat template cannot move a boundary; it stops one token short of the
    shortest unit, so every unit keeps a suffix to read its score at. Units whose doubled-BOS flags differ, or
    that share too little (``min_share`` of their tokens), are scored alone (a group of one: all but the last token as its prefix).
    """
    groups = []
    for members in _by_prompt(pending, distinct):
        ids = [tokenized[i].input_ids for i in members]
        shared = _common_prefix_length(ids)
        worth_it = shared * (len(members) - 1) >= min_share * sum(map(len, ids))
        if len(members) > 1 and shared >= 1 and worth_it and len({tokenized[i].mask_first for i in members}) == 1:
            groups.append((members, PrefixGroup(ids[0][:shared], tuple(x[shared:] for x in ids), tokenized[members[0]].mask_first)))
            continue
        for i in members:
            unit = tokenized[i]
            groups.append(([i], PrefixGroup(unit.input_ids[:-1], (unit.input_ids[-1:],), unit.mask_first)))
    return groups


def within_budget(groups: list[tuple[list[int], PrefixGroup]], budget: int) -> list[tuple[list[int], PrefixGroup]]:
    """Groups over the token budget (a prompt with many responses) split into parts of the same prefix, each within it if it can be.

    The prefix is computed once per part: a little more work, in exchange for rows the budget bounds.
    """
    fitted = []
    for members, group in groups:
        if group.computed_tokens <= budget or len(members) == 1:
            fitted.append((members, group))
            continue
        part: list[int] = []
        suffixes: list[tuple[int, ...]] = []
        for member, suffix in zip(members, group.suffixes, strict=True):
            if suffixes and len(group.prefix) + sum(map(len, suffixes)) + len(suffix) > budget:
                fitted.append((part, PrefixGroup(group.prefix, tuple(suffixes), group.mask_first)))
                part, suffixes = [], []
            part.append(member)
            suffixes.append(suffix)
        fitted.append((part, PrefixGroup(group.prefix, tuple(suffixes), group.mask_first)))
    return fitted


def _by_prompt(units: Iterable[int], distinct: Sequence[Conversation]) -> list[list[int]]:
    """``units`` grouped by their prompt (every message but the last), in order of first appearance."""
    by_prompt: dict[tuple, list[int]] = {}
    for i in units:
        by_prompt.setdefault(conversation_key(distinct[i][:-1]), []).append(i)
    return list(by_prompt.values())


def _common_prefix_length(ids: Sequence[tuple[int, ...]]) -> int:
    limit = min(len(x) for x in ids) - 1
    first = ids[0]
    length = 0
    while length < limit and all(x[length] == first[length] for x in ids):
        length += 1
    return length


def _keep(
    units: Sequence[int], values: Sequence[float], scores: list[float | None], tokenized: Sequence[TokenizedConversation], cache: ScoreCache | None
) -> None:
    for i, score in zip(units, values, strict=True):
        scores[i] = score
    if cache is not None:
        cache.put_many([(tokenized[i].cache_key, score) for i, score in zip(units, values, strict=True)])


def _with_oom_retry(score: Callable[[list[T]], list[R]], batch: list[T], budget: int) -> tuple[list[R], int]:
    """``score(batch)``; on CUDA out-of-memory the batch is split in half and retried, and the budget for later batches halves."""
    import torch

    try:
        return score(batch), budget
    except torch.OutOfMemoryError:
        if len(batch) == 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(batch) // 2
        budget = max(1, budget // 2)
        logger.warning("out of memory on a batch of %d; retrying as two batches (token budget now %d)", len(batch), budget)
        first, budget = _with_oom_retry(score, batch[:half], budget)
        second, budget = _with_oom_retry(score, batch[half:], budget)
        return first + second, budget
