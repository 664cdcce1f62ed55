"""Real loopback servers and published-schema benchmark files, for the tests and the benchmarks.

The servers: an ``mlflow server``, ``rm-mlflow serve``, a ``transformers serve`` judge. One copy, in the package
(as ``transformers.testing_utils`` is), so the benchmarks under ``benchmarks/`` use the same servers and files as
the tests without importing ``tests/``. Nothing here is used by the library itself.
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


class ProcessDidNotStart(RuntimeError):
    """A server process exited, or did not answer its health check in time; the message holds its log's tail."""


def stop_process_group(process: subprocess.Popen, *, timeout: float = 20) -> None:
    """SIGTERM to the process's group (started with ``start_new_session``: its workers and background children too), SIGKILL after ``timeout``."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


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
            raise ProcessDidNotStart(f"{url} did not come up: {log_path.read_text()[-3000:]}")
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
        """The server's address."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        """Start the server (on its earlier port, when restarted) and wait for its health check."""
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
        """Stop the server and its worker processes."""
        if self.process is not None:
            stop_process_group(self.process)


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
        """The service's address."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        """Start ``rm-mlflow serve`` on a free port with the loopback secret and status token; wait for ``/healthz``."""
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
        """Everything every start of the service logged."""
        return "\n".join(path.read_text() for path in sorted(self.state_dir.glob("serve-*.log")))

    def kill(self) -> None:
        """Kill the service at once (SIGKILL), as a crash would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL after 30s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def get(self, path: str, *, token: str | None = STATUS_TOKEN) -> dict:
        """GET ``path`` with the status token; the JSON answer."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}{path}", headers=headers), timeout=10) as response:
            return json.loads(response.read())

    def job(self, name: str, version: str) -> dict | None:
        """The job of ``name`` version ``version``, or None when the service has none."""
        try:
            return self.get(f"/jobs/{name}/{version}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise


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
        """The OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.root / "transformers-serve.log"

    def start(self) -> JudgeServer:
        """Start ``transformers serve`` on a free port and wait for ``/health``."""
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
        """Stop the server (SIGTERM, then SIGKILL after 20s)."""
        if self.process is not None:
            stop_process_group(self.process)


def write_vl_parquet(rows: list[dict], path: Path) -> Path:
    """VL-RewardBench rows as one parquet file in the Hub's schema, the image a {bytes, path} struct as datasets' Image feature stores it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("id", pa.string()), ("query", pa.string()), ("response", pa.list_(pa.string())), ("image", image),
                        ("human_ranking", pa.list_(pa.int64())), ("models", pa.list_(pa.string())), ("judge", pa.string()),
                        ("rationale", pa.string()), ("query_source", pa.string())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=8)
    return path


def vl_row(item_id: str, image: dict, *, query: str = "What is in the picture?", responses=("A red square.", "A blue circle."),
           ranking=(0, 1)) -> dict:
    """One VL-RewardBench row in the Hub schema."""
    return {"id": item_id, "query": query, "response": list(responses), "image": image, "human_ranking": list(ranking),
            "models": ["model-a", "model-b"], "judge": "human", "rationale": "", "query_source": "test"}
