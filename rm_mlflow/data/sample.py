"""The sample set shipped with rm-mlflow (RewardBench schema, written by the authors) for the demo and tests."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE_DATA_DIR = Path(__file__).parent / "samples"  # a --data-dir holding reward-bench/filtered.jsonl


def sample_rows() -> list[dict]:
    """The shipped sample rows, as dictionaries in the ``allenai/reward-bench`` schema."""
    with (SAMPLE_DATA_DIR / "reward-bench" / "filtered.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def sample_corpus() -> list[str]:
    """Every prompt and response of the sample set: text to train a tiny model's tokenizer on."""
    return [row[key] for row in sample_rows() for key in ("prompt", "chosen", "rejected")]
