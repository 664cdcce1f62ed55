"""Helpers shared by the tests: data files, reference scores, waiting; the loopback servers come from :mod:`rm_mlflow.testing`.

Fixtures live in ``conftest.py``; everything a test module imports lives here, so tests never import each other.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from rm_mlflow.data import DataOptions
from rm_mlflow.data.sample import SAMPLE_DATA_DIR, sample_rows
from rm_mlflow.testing import (  # noqa: F401 - the servers tests start, imported from here like every helper
    SECRET,
    STATUS_TOKEN,
    WEBHOOK_SERVER_ENV,
    JudgeServer,
    MlflowServer,
    ServiceProcess,
    free_port,
    running_mlflow_server,
    vl_row,
    wait_for_http,
    write_vl_parquet,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RM_MLFLOW_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SAMPLE_DATA = SAMPLE_DATA_DIR
SAMPLE = DataOptions(data_dir=str(SAMPLE_DATA))  # the shipped RewardBench-schema sample rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` as JSON Lines (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def rewardbench_rows() -> list[dict]:
    """The shipped sample rows: exactly the allenai/reward-bench ``filtered`` schema."""
    return sample_rows()


def sample_metrics(model_dir: Path) -> dict[str, float]:
    """The metrics a direct library evaluation of ``model_dir`` on the shipped sample set gives: the numbers every path must match."""
    from rm_mlflow.benchmarking import score_reward_model

    report = score_reward_model(str(model_dir), ["rewardbench"], data=SAMPLE, progress=False)
    return {key: value for key, value in report.metrics().items() if not key.startswith("throughput/")}


def reference_scores(model_dir: Path, conversations) -> list[float]:
    """What rewardbench's pipeline computes with batch size 1: template text, tokenizer, logits[0][0]."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    scores = []
    with torch.no_grad():
        for conversation in conversations:
            text = tokenizer.apply_chat_template(list(conversation), tokenize=False)
            inputs = tokenizer(text, return_tensors="pt")
            scores.append(model(**inputs).logits[0][0].item())
    return scores


def evaluate_to_run(model, datasets, *, data: DataOptions = SAMPLE, run_name: str | None = None, **request):
    """Run the pipeline on ``model`` and log it to a new run at the current tracking URI (the loopback server)."""
    from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
    from rm_mlflow.tracking.run import TrackingTarget

    request.setdefault("progress", False)
    return run_evaluation(EvaluationRequest(model=model, datasets=datasets, data=data, **request), TrackingTarget(run_name=run_name))


def sample_args(*extra: str) -> list[str]:
    """Evaluate on the shipped RewardBench sample (the same rows ``sample_metrics`` scores)."""
    return ["--dataset", "rewardbench", "--data_dir", str(SAMPLE_DATA), *extra]


def wait_for(condition, *, timeout: float, interval: float = 0.3, what: str, on_timeout=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{on_timeout()[-4000:]}")
        time.sleep(interval)


def version_tags(client, name: str, version: str) -> dict[str, str]:
    return dict(client.get_model_version(name, version).tags)


def wait_for_outcome(client, name: str, version: str, *, timeout: float, service: ServiceProcess | None = None) -> dict[str, str]:
    """Wait until the version's ``rm_eval.status`` tag is final; returns its tags."""
    return wait_for(
        lambda: (tags := version_tags(client, name, version)).get("rm_eval.status") in ("succeeded", "failed") and tags,
        timeout=timeout, what=f"models:/{name}/{version} to be evaluated", on_timeout=service.log if service else lambda: "",
    )


# The environment variable the tests name with --judge_api_key_env; its value must never reach a log, run, artifact or store.
JUDGE_KEY_ENV = "RM_MLFLOW_TEST_JUDGE_KEY"


