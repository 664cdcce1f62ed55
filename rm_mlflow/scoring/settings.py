"""Scoring settings shared by every model kind, with the devices and dtypes they resolve to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

TruncationMode = Literal["none", "left", "right"]
TRUNCATION_MODES: tuple[str, ...] = ("none", "left", "right")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16", "float64")


@dataclass(frozen=True)
class ScoringSettings:
    """How conversations are formatted, truncated, batched and run.

    Truncation is named, never implicit: ``none`` is the rewardbench CLI default (no truncation
    unless ``--force_truncation``), ``left`` is ``run_rm.py``'s (keep the last ``max_length``
    tokens), ``right`` keeps the first ``max_length`` tokens.
    """

    tokenizer: str | None = None
    chat_template: str = "tokenizer"
    max_length: int = 2048
    truncation: TruncationMode = "none"
    batch_size: int = 64  # most sequences in one forward pass
    max_tokens_per_batch: int | None = None  # padded tokens per forward; None: a default for the device
    dtype: str = "auto"
    device: str = "auto"
    attn_implementation: str | None = "sdpa"
    score_index: int = 0
    trust_remote_code: bool = False
    revision: str | None = None

    def __post_init__(self) -> None:
        if self.truncation not in TRUNCATION_MODES:
            raise ValueError(f"truncation must be one of {', '.join(TRUNCATION_MODES)}, got {self.truncation!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.batch_size < 1 or self.max_length < 1:
            raise ValueError("batch_size and max_length must be positive")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "settings") -> ScoringSettings:
        """Build from a plain mapping (evaluator config, MLproject params, a logged model's defaults); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown scoring setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)


def resolve_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(requested: str, device: str):
    """``auto`` is bfloat16 on GPU and float32 on CPU."""
    import torch

    if requested == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, requested)


def default_token_budget(device: str) -> int:
    return 65536 if device.startswith("cuda") else 8192
