"""``rm-mlflow watch``: the polling fallback on a plain sqlite store, which delivers no webhooks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import SAMPLE_DATA, sample_metrics


@pytest.fixture
def sqlite_store(tmp_path):
    import mlflow

    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(previous)


def _watch_once(uri: str, state_dir, *extra: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "watch", "--once", "--tracking_uri", uri, "--state_dir", str(state_dir),
         "--dataset", "rewardbench", "--data_dir", str(SAMPLE_DATA), *extra],
        capture_output=True, text=True, timeout=300, cwd=state_dir.parent,  # a sqlite store keeps artifacts in ./mlruns
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_watch_evaluates_new_versions_once_and_backfill_adopts_earlier_runs(sqlite_store, tiny_llama, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    import rm_mlflow

    client = MlflowClient(sqlite_store)
    experiment = client.create_experiment("models", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        model_uri = rm_mlflow.log_model(str(tiny_llama), "rm").model_uri
    client.create_registered_model("rm-watched", tags={"rm_eval": "true"})
    client.create_registered_model("rm-ignored")
    mlflow.register_model(model_uri, "rm-watched")  # registered before the watcher ever ran

    state = tmp_path / "state"
    first = _watch_once(sqlite_store, state)  # first start: from now on, and it says how to include v1
    assert "queued 0 new version(s)\n1 selected version(s) registered before the first poll were left alone: pass --backfill" in first
    mlflow.register_model(model_uri, "rm-watched")
    mlflow.register_model(model_uri, "rm-ignored")
    assert "queued 1 new version(s)" in _watch_once(sqlite_store, state)
    assert "queued 0 new version(s)" in _watch_once(sqlite_store, state)

    v2 = client.get_model_version("rm-watched", "2").tags
    assert v2["rm_eval.status"] == "succeeded"
    run = client.get_run(v2["rm_eval.run_id"])
    expected = sample_metrics(tiny_llama)
    assert {key: run.data.metrics[key] for key in expected} == pytest.approx(expected, abs=1e-9)
    assert "rm_eval.status" not in client.get_model_version("rm-watched", "1").tags
    assert "rm_eval.status" not in client.get_model_version("rm-ignored", "1").tags

    # A second watcher with its own queue and --backfill evaluates v1, and adopts v2's recorded run instead of a new one.
    assert "queued 2 new version(s)" in _watch_once(sqlite_store, tmp_path / "other-state", "--backfill")
    v1, v2_again = (client.get_model_version("rm-watched", version).tags for version in ("1", "2"))
    assert v1["rm_eval.status"] == "succeeded" and v2_again["rm_eval.run_id"] == v2["rm_eval.run_id"]
    runs = client.search_runs([client.get_experiment_by_name("rm-eval").experiment_id])
    assert sorted(run.data.tags["rm_mlflow.model_version"] for run in runs) == ["1", "2"]


def test_watch_once_beside_a_running_worker_queues_for_it(sqlite_store, tiny_llama, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    import rm_mlflow
    from rm_mlflow.service.queue import QUEUED, JobQueue, WorkerLock
    from rm_mlflow.service.runner import QUEUE_FILE

    client = MlflowClient(sqlite_store)
    experiment = client.create_experiment("models", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        model_uri = rm_mlflow.log_model(str(tiny_llama), "rm").model_uri
    client.create_registered_model("rm-net", tags={"rm_eval": "true"})
    mlflow.register_model(model_uri, "rm-net")

    state = tmp_path / "state"
    state.mkdir()
    lock = WorkerLock(state / QUEUE_FILE)  # what a running `rm-mlflow serve` on this state folder holds
    assert lock.acquire()
    try:
        printed = _watch_once(sqlite_store, state, "--backfill")  # before: "another rm-mlflow process is the worker", exit 2
    finally:
        lock.release()
    assert "queued 1 new version(s); another rm-mlflow process is the worker" in printed
    assert JobQueue(state / QUEUE_FILE).get("rm-net", "1").status == QUEUED
    assert "rm_eval.status" not in client.get_model_version("rm-net", "1").tags  # left for the running worker
