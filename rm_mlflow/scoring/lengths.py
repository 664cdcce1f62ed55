"""Sequence-length rules every model kind applies when it tokenizes, with memory bounded before tokenizing.

The limit is the smaller of ``max_length`` and the model's position limit (``max_position_embeddings``,
rotary models included). Under ``truncation='none'`` a longer conversation is an error naming it; under
``left``/``right`` it is cut to the limit (as the tokenizer's own truncation cuts it, special tokens
kept) and counted.

Tokenizing an absurd text costs memory: 20 MB of text is about 4 GB in a fast tokenizer. A token
never covers more characters than the longest entry of the vocabulary, so a text longer than
``2 x limit x longest`` characters is certainly over the limit: under ``none`` it is refused before it
is tokenized, under truncation only its kept end (``left``) or start (``right``), that many characters,
is tokenized. The kept tokens lie at least ``limit x longest`` characters away from the cut, so they
are the ones a full tokenization gives unless a single whitespace-free run spans that gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rm_mlflow.errors import SequenceTooLongError
from rm_mlflow.scoring.base import TokenizedConversation

_MIN_TOKEN_CHARS = 16  # a floor for the longest-token estimate


class TooLongAt(SequenceTooLongError):
    """A conversation over the limit, by its index in the list being tokenized (the engine names it)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def longest_token_chars(tokenizer: Any) -> int:
    """An upper bound on the characters one token stands for: the longest vocabulary entry (byte-level entries count bytes)."""
    cached = getattr(tokenizer, "_rm_mlflow_longest_token", None)
    if cached is None:
        cached = max([_MIN_TOKEN_CHARS, *(len(token) for token in tokenizer.get_vocab())])
        tokenizer._rm_mlflow_longest_token = cached
    return cached


def position_limit(config: Any) -> int | None:
    """A model config's position limit: ``max_position_embeddings`` (rotary models have one too) or ``n_positions`` (GPT-2)."""
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)


def length_limit(max_length: int, max_positions: int | None) -> int:
    """The longest sequence that may be scored: ``max_length``, or the model's position limit when smaller."""
    return min(max_length, max_positions) if max_positions else max_length


def tokenize_with_limit(
    tokenizer: Any, texts: Sequence[str], *, limit: int, truncation: str, hint: str = "", add_special_tokens: bool = True
) -> list[TokenizedConversation]:
    """Tokenize formatted texts under the length rules above.

    Args:
        tokenizer: a Hugging Face tokenizer.
        texts: chat-formatted conversations.
        limit: the longest sequence in tokens (see :func:`length_limit`).
        truncation: ``none`` (an over-long text is a :class:`TooLongAt` error), ``left`` or ``right``.
        hint: appended to the error (what to pass instead).
        add_special_tokens: let the tokenizer add its special tokens (BOS, ...), as a classifier's pipeline does.

    Returns:
        Token ids per text, with ``truncated`` set where the text was cut and ``mask_first`` where the
        template and the tokenizer both added a BOS (rewardbench masks the first one from attention).
    """
    budget = 2 * limit * longest_token_chars(tokenizer)
    texts = list(texts)
    oversized = {i for i, text in enumerate(texts) if len(text) > budget}
    if truncation == "none" and oversized:
        index = min(oversized)
        raise TooLongAt(index, f"{len(texts[index]):,} characters, certainly more tokens than the model takes here (at most {limit}){hint}")
    for i in oversized:
        texts[i] = texts[i][-budget:] if truncation == "left" else texts[i][:budget]
    encoded = tokenizer(texts, add_special_tokens=add_special_tokens, truncation=False)["input_ids"]
    too_long = [i for i, ids in enumerate(encoded) if len(ids) > limit]
    if too_long and truncation == "none":
        index = too_long[0]
        raise TooLongAt(index, f"{len(encoded[index])} tokens, but the model takes at most {limit} here{hint}")
    if too_long:
        previous = tokenizer.truncation_side
        tokenizer.truncation_side = truncation
        try:
            shortened = tokenizer([texts[i] for i in too_long], add_special_tokens=add_special_tokens, truncation=True, max_length=limit)["input_ids"]
        finally:
            tokenizer.truncation_side = previous
        for i, ids in zip(too_long, shortened, strict=True):
            encoded[i] = ids
    cut = set(too_long) | oversized
    bos = tokenizer.bos_token_id
    return [
        TokenizedConversation(
            input_ids=tuple(ids),
            mask_first=bos is not None and len(ids) > 1 and ids[0] == bos and ids[1] == bos,
            truncated=i in cut,
        )
        for i, ids in enumerate(encoded)
    ]
