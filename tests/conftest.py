"""Shared fixtures: tiny models built in-test from a config, real benchmark rows from ../shared/data."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rm_mlflow.data.sample import SAMPLE_DATA_DIR, sample_corpus, sample_rows

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RM_MLFLOW_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SAMPLE_DATA = SAMPLE_DATA_DIR


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "rmb").is_dir():
        pytest.fail(f"the shared benchmark data is missing: expected {SHARED_DATA}/rmb (set RM_MLFLOW_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rm_mlflow.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-llama"), corpus=sample_corpus(), architecture="llama")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rm_mlflow.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-gpt2"), corpus=sample_corpus(), architecture="gpt2", max_positions=256)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def rewardbench_rows() -> list[dict]:
    """The shipped sample rows: exactly the allenai/reward-bench ``filtered`` schema."""
    return sample_rows()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process, log_path: Path, *, timeout: float = 120) -> None:
    """Wait until ``url`` answers 200, or fail with the tail of the process's log."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{url} did not come up: {log_path.read_text()[-3000:]}")
        time.sleep(0.3)


@contextlib.contextmanager
def running_mlflow_server(root: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """A real ``mlflow server`` (sqlite backend, local artifact store) on a free loopback port; yields its URL."""
    import subprocess
    import sys

    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log_path = root / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
             "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture
def tracking(mlflow_server, monkeypatch):
    """Point MLflow (this process and its children) at the loopback server for one test."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    yield mlflow_server
    while mlflow.active_run():
        mlflow.end_run()
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)  # mlflow.set_experiment exports it; it must not leak into later tests


@pytest.fixture(scope="session")
def registered_rm(mlflow_server, tiny_llama) -> str:
    """The tiny Llama reward model logged with the rm_mlflow flavor and registered as ``tiny-rm`` v1, alias ``champion``."""
    import mlflow

    import rm_mlflow

    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_experiment("registered-models")
    with mlflow.start_run():
        rm_mlflow.log_model(str(tiny_llama), "rm", registered_model_name="tiny-rm", settings={"max_length": 1024})
    mlflow.MlflowClient().set_registered_model_alias("tiny-rm", "champion", "1")
    return "tiny-rm"


def sample_metrics(model_dir: Path) -> dict[str, float]:
    """The metrics a direct library evaluation of ``model_dir`` on the shipped sample set gives: the numbers every path must match."""
    from rm_mlflow.evaluation import evaluate_reward_model

    report = evaluate_reward_model(str(model_dir), ["rewardbench"], data_dir=SAMPLE_DATA, progress=False)
    return {key: value for key, value in report.metrics().items() if not key.startswith("throughput/")}
