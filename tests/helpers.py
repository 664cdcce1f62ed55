"""Helpers shared by the tests (and the benchmarks that reuse them): data files, loopback servers, reference scores.

Fixtures live in ``conftest.py``; everything a test module imports lives here, so tests never import each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rm_mlflow.data import DataOptions
from rm_mlflow.data.sample import SAMPLE_DATA_DIR, sample_rows

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
    from rm_mlflow.evaluation import evaluate_reward_model

    report = evaluate_reward_model(str(model_dir), ["rewardbench"], data=SAMPLE, progress=False)
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


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process, log_path: Path, *, timeout: float = 120) -> None:
    """Wait until ``url`` answers 200, or fail with the tail of the process's log."""
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


@dataclass
class MlflowServer:
    """A real ``mlflow server`` (sqlite backend, local artifact store) on loopback; stop and start it again on the same port and store."""

    root: Path
    env: dict[str, str] | None = None
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log_path = self.root / "server.log"
        with log_path.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                 "--artifacts-destination", str(self.root / "artifacts"), "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(self.env or {})}, start_new_session=True,
            )
        wait_for_http(f"{self.url}/health", self.process, log_path)
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the server's worker processes too
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)


@contextlib.contextmanager
def running_mlflow_server(root: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """A real ``mlflow server`` on a free loopback port for the duration of the block; yields its URL."""
    server = MlflowServer(root, env).start()
    try:
        yield server.url
    finally:
        server.stop()


SECRET = "rm-mlflow-test-secret-0123456789"
STATUS_TOKEN = "rm-mlflow-test-status-token-9876543210"
WEBHOOK_SERVER_ENV = {
    # an in-cluster http receiver on a private address needs both; MLflow's defaults refuse it
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",  # each test registers its own webhook; MLflow would cache the list for 60s
}


@dataclass
class ServiceProcess:
    """``rm-mlflow serve`` in a subprocess, restartable on the same state folder."""

    state_dir: Path
    tracking_uri: str
    args: list[str]
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.port = free_port()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.state_dir / f"serve-{self.port}.log"
        env = {**os.environ, "RM_MLFLOW_WEBHOOK_SECRET": SECRET, "RM_MLFLOW_STATUS_TOKEN": STATUS_TOKEN, "MLFLOW_TRACKING_URI": self.tracking_uri}
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rm_mlflow.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--state_dir", str(self.state_dir), "--tracking_uri", self.tracking_uri, *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        wait_for_http(f"{self.url}/healthz", self.process, log_path)
        return self

    def log(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.state_dir.glob("serve-*.log")))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def get(self, path: str, *, token: str | None = STATUS_TOKEN) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}{path}", headers=headers), timeout=10) as response:
            return json.loads(response.read())

    def job(self, name: str, version: str) -> dict | None:
        try:
            return self.get(f"/jobs/{name}/{version}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise


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


@dataclass
class JudgeServer:
    """``transformers serve`` (a real OpenAI-compatible server) on loopback, preloading one local judge; counts the completions it served."""

    model_dir: Path  # a folder, or a name that resolves to one under cwd
    root: Path
    port: int = 0
    process: subprocess.Popen | None = None
    cwd: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        return self.root / "transformers-serve.log"

    def start(self) -> JudgeServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        executable = Path(sys.executable).parent / "transformers"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [str(executable), "serve", "--host", "127.0.0.1", "--port", str(self.port), str(self.model_dir)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True, cwd=self.cwd,
            )
        wait_for_http(f"http://127.0.0.1:{self.port}/health", self.process, self.log_path, timeout=180)
        return self

    def completions_served(self) -> int:
        """Chat completions answered so far (uvicorn's access log)."""
        return self.log_path.read_text().count('"POST /v1/chat/completions HTTP/1.1" 200')

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
