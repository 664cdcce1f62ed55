"""Shared fixtures: tiny models built in-test from a config, real benchmark rows from ../shared/data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RM_MLFLOW_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SAMPLE_DATA = REPO_ROOT / "rm_mlflow" / "data" / "samples"


def _corpus() -> list[str]:
    rows = [json.loads(line) for line in (SAMPLE_DATA / "reward-bench" / "filtered.jsonl").open()]
    return [row[key] for row in rows for key in ("prompt", "chosen", "rejected")]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "rmb").is_dir():
        pytest.fail(f"the shared benchmark data is missing: expected {SHARED_DATA}/rmb (set RM_MLFLOW_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rm_mlflow.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-llama"), corpus=_corpus(), architecture="llama")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rm_mlflow.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-gpt2"), corpus=_corpus(), architecture="gpt2", max_positions=256)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def rewardbench_rows() -> list[dict]:
    """The shipped sample rows: exactly the allenai/reward-bench ``filtered`` schema."""
    return [json.loads(line) for line in (SAMPLE_DATA / "reward-bench" / "filtered.jsonl").open()]
