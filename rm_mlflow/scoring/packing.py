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
    _masks: dict[str, list[tuple[Any, list[Any]]]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.input_ids)

    def masks(self, device: Any) -> list[tuple[Any, list[Any]]]:
        """Per group, its :func:`segment_masks` on ``device``: built at the first layer of a forward pass, reused by the rest."""
        key = str(device)
        if key not in self._masks:
            self._masks[key] = []
            for _, prefix, hide_first, suffixes in self.segments:
                prefix_mask, suffix_masks = segment_masks(prefix, [length for _, length in suffixes], hide_first)
                on_device = [None if mask is None else mask.to(device) for mask in suffix_masks]
                self._masks[key].append((None if prefix_mask is None else prefix_mask.to(device), on_device))
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
    """Attention over one packed row, segment by segment (see the module docstring); the output laid out as sdpa's.

    A prefix is plain causal attention; each suffix attends to its prefix and causally to itself under a mask
    built once per forward pass (every layer reuses it). A group's first suffix follows its prefix in the row,
    so its keys are one slice; later ones are joined to the prefix's.
    """
    import torch
    import torch.nn.functional as functional

    layout: PackedRow = kwargs[LAYOUT_KEYWORD]
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    output = torch.empty_like(query)
    for (start, prefix, _, suffixes), (prefix_mask, suffix_masks) in zip(layout.segments, layout.masks(query.device), strict=True):
        p_k, p_v = key[:, :, start : start + prefix], value[:, :, start : start + prefix]
        if prefix:
            output[:, :, start : start + prefix] = functional.scaled_dot_product_attention(
                query[:, :, start : start + prefix], p_k, p_v, attn_mask=prefix_mask, dropout_p=dropout, scale=scaling,
                is_causal=prefix_mask is None,
            )
        for (at, length), mask in zip(suffixes, suffix_masks, strict=True):
            if at == start + prefix:
                s_k, s_v = key[:, :, start : at + length], value[:, :, start : at + length]
            else:
                s_k = torch.cat([p_k, key[:, :, at : at + length]], dim=2)
                s_v = torch.cat([p_v, value[:, :, at : at + length]], dim=2)
            output[:, :, at : at + length] = functional.scaled_dot_product_attention(
                query[:, :, at : at + length], s_k, s_v, attn_mask=mask, dropout_p=dropout, scale=scaling, is_causal=mask is None
            )
    return output.transpose(1, 2).contiguous(), None


def segment_masks(prefix: int, suffixes: Sequence[int], hide_first: bool) -> tuple[Any, list[Any]]:
    """A group's attention masks: its prefix's and each suffix's over (prefix, suffix); None where plain causal attention is the same.

    With ``hide_first`` (a doubled BOS) nothing attends to the first token but itself (its own output is never read).
    """
    import torch

    prefix_mask = None
    if hide_first and prefix:
        prefix_mask = torch.ones(prefix, prefix, dtype=torch.bool).tril()
        prefix_mask[1:, 0] = False
    suffix_masks = []
    for length in suffixes:
        if not prefix:
            suffix_masks.append(None)
            continue
        mask = torch.ones(length, prefix + length, dtype=torch.bool)
        mask[:, prefix:] = mask[:, prefix:].tril()
        if hide_first:
            mask[:, 0] = False
        suffix_masks.append(mask)
    return prefix_mask, suffix_masks


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
