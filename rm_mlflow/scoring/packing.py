"""Padding-free packed scoring: several prefix groups in one row, each unit's tokens computed once, no padding at all.

A packed row lays out, for each :class:`PrefixGroup`, its prefix and then each suffix. Positions restart at
0 for every group and continue after the prefix for every suffix, exactly as each unit alone would have
them. Attention is computed group by group by :func:`packed_attention` (registered with transformers'
``AttentionInterface`` as :data:`PACKED_ATTENTION`): a prefix attends causally to itself, a suffix to its
prefix and causally to itself, nothing to another group or another suffix. So every unit gets the states
it would get alone, each token is computed once, and a batch costs its real tokens and no padding.

Layouts are passed to the attention function through the model's forward keyword arguments
(``rm_packed_layout``), which transformers hands down to every attention call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rm_mlflow.scoring.base import PrefixGroup

PACKED_ATTENTION = "rm_mlflow_packed"
LAYOUT_KEYWORD = "rm_packed_layout"


@dataclass
class PackedRow:
    """Token ids and positions of one packed row, where each group and suffix lies in it, and where each unit's score is read."""

    input_ids: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)
    # per group: (prefix start, prefix length, hide the first token (a doubled BOS), [(suffix start, suffix length), ...])
    segments: list[tuple[int, int, bool, list[tuple[int, int]]]] = field(default_factory=list)
    read_at: list[list[int]] = field(default_factory=list)  # per group, per suffix: the row position whose hidden state is scored
    _masks: dict[str, list[tuple[int, int, int, Any, Any]]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.input_ids)

    def group_masks(self, device: Any) -> list[tuple[int, int, int, Any, Any]]:
        """Per group: its start, prefix length and end in the row, and its :func:`group_masks` on ``device``; built once, reused by every layer."""
        key = str(device)
        if key not in self._masks:
            spans = []
            for start, prefix, hide_first, suffixes in self.segments:
                prefix_mask, suffix_mask = group_masks(prefix, [length for _, length in suffixes], hide_first)
                end = start + prefix + sum(length for _, length in suffixes)
                spans.append((start, prefix, end, None if prefix_mask is None else prefix_mask.to(device), suffix_mask.to(device)))
            self._masks[key] = spans
        return self._masks[key]

    def add(self, group: PrefixGroup, pad_id: int | None) -> None:
        """Append ``group``; each unit's score is read at its last token that is not padding (the classifier head's pooling rule)."""
        start, prefix = len(self.input_ids), len(group.prefix)
        self.input_ids.extend(group.prefix)
        self.position_ids.extend(range(prefix))
        suffixes, reads = [], []
        for suffix in group.suffixes:
            at = len(self.input_ids)
            self.input_ids.extend(suffix)
            self.position_ids.extend(range(prefix, prefix + len(suffix)))
            suffixes.append((at, len(suffix)))
            tokens = (*group.prefix, *suffix)
            last = max((i for i, token in enumerate(tokens) if token != pad_id), default=0) if pad_id is not None else len(tokens) - 1
            reads.append(start + last if last < prefix else at + last - prefix)
        self.segments.append((start, prefix, group.mask_first, suffixes))
        self.read_at.append(reads)


def pack_rows(groups: Sequence[PrefixGroup], budget: int, pad_id: int | None) -> list[tuple[list[int], PackedRow]]:
    """Groups (in the given order) packed greedily into rows of at most ``budget`` tokens (a larger group gets a row alone)."""
    rows: list[tuple[list[int], PackedRow]] = []
    for index, group in enumerate(groups):
        if not rows or len(rows[-1][1]) + group.computed_tokens > budget:
            rows.append(([], PackedRow()))
        rows[-1][0].append(index)
        rows[-1][1].add(group, pad_id)
    return rows


def packed_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0, scaling: float | None = None, **kwargs: Any
) -> tuple[Any, None]:
    """Attention over one packed row, one group at a time (see the module docstring); the output laid out as sdpa's.

    A group's prefix and suffixes are contiguous in the row: the prefix is plain causal attention, and all the
    suffixes are one attention call over the group's keys under a mask built once per forward pass (every
    layer reuses it).
    """
    import torch
    import torch.nn.functional as functional

    layout: PackedRow = kwargs[LAYOUT_KEYWORD]
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    output = torch.empty_like(query)
    for start, prefix, end, prefix_mask, suffix_mask in layout.group_masks(query.device):
        if prefix:
            output[:, :, start : start + prefix] = functional.scaled_dot_product_attention(
                *(t[:, :, start : start + prefix] for t in (query, key, value)), attn_mask=prefix_mask, dropout_p=dropout, scale=scaling,
                is_causal=prefix_mask is None,
            )
        output[:, :, start + prefix : end] = functional.scaled_dot_product_attention(
            query[:, :, start + prefix : end], key[:, :, start:end], value[:, :, start:end], attn_mask=suffix_mask, dropout_p=dropout,
            scale=scaling,
        )
    return output.transpose(1, 2).contiguous(), None


def group_masks(prefix: int, suffixes: Sequence[int], hide_first: bool) -> tuple[Any, Any]:
    """The masks of a group: its prefix's (None: plain causal) and its suffixes' rows over the whole group.

    Each suffix attends to the prefix and causally to itself, never to a sibling; with ``hide_first`` (a doubled
    BOS) nothing attends to the first token but itself (its own output is never read).
    """
    import torch

    prefix_mask = None
    if hide_first and prefix:
        prefix_mask = torch.ones(prefix, prefix, dtype=torch.bool).tril()
        prefix_mask[1:, 0] = False
    total = sum(suffixes)
    suffix_mask = torch.zeros(total, prefix + total, dtype=torch.bool)
    suffix_mask[:, :prefix] = True
    at = 0
    for length in suffixes:
        suffix_mask[at : at + length, prefix + at : prefix + at + length] = torch.ones(length, length, dtype=torch.bool).tril()
        at += length
    if hide_first and prefix:
        suffix_mask[:, 0] = False
    return prefix_mask, suffix_mask


_registered = False


def register_packed_attention() -> None:
    """Make :data:`PACKED_ATTENTION` an attention implementation transformers can dispatch to (once per process)."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface

        AttentionInterface.register(PACKED_ATTENTION, packed_attention)
        _registered = True


@contextlib.contextmanager
def packed_attention_for(model: Any) -> Iterator[None]:
    """Switch ``model`` (every layer reads its config) to :func:`packed_attention` for the block; the implementation it had is restored."""
    register_packed_attention()
    config = model.config
    previous = config._attn_implementation
    configs = [config, *(getattr(config, name) for name in ("text_config",) if hasattr(config, name))]
    for item in configs:
        item._attn_implementation = PACKED_ATTENTION
    try:
        yield
    finally:
        for item in configs:
            item._attn_implementation = previous
