"""A webhook-enabled MLflow server and the real ``rm-mlflow serve`` process, both on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DATA, _free_port, running_mlflow_server, wait_for_http

SECRET = "rm-mlflow-test-secret-0123456789"
WEBHOOK_SERVER_ENV = {
    # an in-cluster http receiver on a private address needs both; MLflow's defaults refuse it
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",  # each test registers its own webhook; MLflow would cache the list for 60s
}


@pytest.fixture(scope="module")
def webhook_server(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Iterator[str]:
    import mlflow

    previous = mlflow.get_tracking_uri()
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-webhooks"), env=WEBHOOK_SERVER_ENV) as url:
        monkeypatch_module.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        yield url
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


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
        self.port = _free_port()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.state_dir / f"serve-{self.port}.log"
        env = {**os.environ, "RM_MLFLOW_WEBHOOK_SECRET": SECRET, "MLFLOW_TRACKING_URI": self.tracking_uri}
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

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
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


@pytest.fixture
def webhook_for(webhook_server, monkeypatch, capsys):
    """Register a service's /webhook with ``rm-mlflow webhook create --test``; deleted after the test."""
    from mlflow import MlflowClient

    from rm_mlflow.cli import main

    client = MlflowClient(webhook_server)
    monkeypatch.setenv("RM_MLFLOW_WEBHOOK_SECRET", SECRET)
    created = []

    def register(service: ServiceProcess, events: tuple[str, ...] = ("model_version.created",)):
        name = f"rm-mlflow-{service.port}"
        code = main(["webhook", "create", "--url", f"{service.url}/webhook", "--name", name, "--events", ",".join(events),
                     "--tracking_uri", webhook_server, "--test"])
        printed = capsys.readouterr().out
        assert code == 0 and "test delivery: ok (HTTP 202)" in printed, printed
        assert SECRET not in printed
        webhook = next(hook for hook in client.list_webhooks() if hook.name == name)
        created.append(webhook.webhook_id)
        time.sleep(1.2)  # past MLFLOW_WEBHOOK_CACHE_TTL, so the server's next delivery sees the new webhook
        return webhook

    yield register
    for webhook_id in created:
        client.delete_webhook(webhook_id)


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
