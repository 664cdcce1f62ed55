"""Time from registering a model version to its finished evaluation run, through webhooks and ``rm-mlflow serve``.

Baseline, measured in the same invocation: the same evaluation started by hand,
``rm-mlflow evaluate --mlflow --model models:/NAME/1`` (a cold process, as a user would run it).
Everything is local: a webhook-enabled ``mlflow server`` (sqlite) and the service on loopback,
a tiny random-init Llama reward model, the shipped RewardBench sample rows.

    python benchmarks/registration_latency.py --versions 3

The last line is machine-readable: ``RESULT median_latency_s=... manual_s=... ratio=...``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rm_mlflow.data.sample import SAMPLE_DATA_DIR  # noqa: E402
from rm_mlflow.testing import SECRET, WEBHOOK_SERVER_ENV, ServiceProcess, running_mlflow_server  # noqa: E402

NAME = "rm-latency"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=3, help="versions to register one after another")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rm-latency-") as tmp:
        latencies, manual = _measure(Path(tmp), args.versions)
    median = statistics.median(latencies)
    print(f"\nmanual `rm-mlflow evaluate --mlflow` (cold process): {manual:.2f}s")
    print(f"registration -> finished run via webhook + serve: median {median:.2f}s over {len(latencies)} versions "
          f"(min {min(latencies):.2f}s, max {max(latencies):.2f}s)")
    print(f"RESULT median_latency_s={median:.2f} manual_s={manual:.2f} ratio={median / manual:.2f}")


def _measure(root: Path, versions: int) -> tuple[list[float], float]:
    import mlflow
    from mlflow import MlflowClient

    import rm_mlflow
    from rm_mlflow.data.sample import sample_corpus
    from rm_mlflow.tiny_models import build_tiny_reward_model

    model_dir = build_tiny_reward_model(root / "tiny-rm", corpus=sample_corpus(), architecture="llama")
    with running_mlflow_server(root / "mlflow", env=WEBHOOK_SERVER_ENV) as url:
        os.environ["MLFLOW_TRACKING_URI"] = url
        mlflow.set_tracking_uri(url)
        client = MlflowClient(url)
        mlflow.set_experiment("models")
        with mlflow.start_run():
            model_uri = rm_mlflow.log_model(str(model_dir), "rm").model_uri
        client.create_registered_model(NAME, tags={"rm_eval": "true"})

        # Baseline: v1 evaluated by hand, before any webhook exists.
        mlflow.register_model(model_uri, NAME)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--mlflow", "--quiet", "--model", f"models:/{NAME}/1",
                        "--dataset", "rewardbench", "--data_dir", str(SAMPLE_DATA_DIR), "--experiment", "manual",
                        "--output", str(root / "manual")], check=True, capture_output=True)
        manual = time.monotonic() - started

        service = ServiceProcess(root / "service", url, ["--dataset", "rewardbench", "--data_dir", str(SAMPLE_DATA_DIR)]).start()
        try:
            os.environ["RM_MLFLOW_WEBHOOK_SECRET"] = SECRET
            subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "webhook", "create", "--url", f"{service.url}/webhook",
                            "--tracking_uri", url, "--events", "model_version.created"], check=True, capture_output=True)
            time.sleep(1.5)  # the server's webhook cache (MLFLOW_WEBHOOK_CACHE_TTL=1)
            latencies = []
            for _ in range(versions):
                registered = time.monotonic()
                version = mlflow.register_model(model_uri, NAME).version
                latencies.append(_wait_finished(client, version, registered))
                metrics = client.get_run(client.get_model_version(NAME, version).tags["rm_eval.run_id"]).data.metrics
                print(f"v{version}: registration -> finished run {latencies[-1]:.2f}s "
                      f"({metrics['rewardbench/num_examples']:.0f} examples, {metrics['throughput/conversations']:.0f} conversations "
                      f"scored, {metrics['throughput/cached_conversations']:.0f} from cache, rewardbench/score {metrics['rewardbench/score']:.4f})")
        finally:
            service.stop()
    return latencies, manual


def _wait_finished(client, version: str, registered: float, timeout: float = 300) -> float:
    while time.monotonic() - registered < timeout:
        tags = client.get_model_version(NAME, version).tags
        if tags.get("rm_eval.status") == "failed":
            raise SystemExit(f"v{version} failed: {tags.get('rm_eval.error')}")
        if tags.get("rm_eval.status") == "succeeded" and client.get_run(tags["rm_eval.run_id"]).info.status == "FINISHED":
            return time.monotonic() - registered
        time.sleep(0.1)
    raise SystemExit(f"v{version} was not evaluated within {timeout:.0f}s")


if __name__ == "__main__":
    main()
