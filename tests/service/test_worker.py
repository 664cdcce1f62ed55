"""Failure handling of the worker against a tracking server that is down: retried with backoff, then failed once."""

from __future__ import annotations

import pytest

from rm_mlflow.service.queue import FAILED, QUEUED, JobQueue
from rm_mlflow.service.selection import ModelSelector
from rm_mlflow.service.worker import JobTemplate, RetryPolicy, Worker, describe_failure, is_transient_failure
from tests.helpers import free_port


@pytest.fixture
def unreachable_tracking(monkeypatch):
    import mlflow

    previous = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    mlflow.set_tracking_uri(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    yield
    mlflow.set_tracking_uri(previous)


def test_an_unreachable_tracking_server_is_retried_with_backoff_then_fails(tmp_path, unreachable_tracking):
    queue = JobQueue(tmp_path / "q.sqlite")
    queue.enqueue("rm", "1", origin="watch")
    worker = Worker(queue, JobTemplate(), ModelSelector(), output_root=tmp_path / "jobs",
                    retry=RetryPolicy(max_attempts=2, first_delay=30))

    first = worker.run_once()
    assert (first.status, first.attempts) == (QUEUED, 1)
    assert "Connection refused" in first.error, first.error
    assert first.not_before - first.updated_at == pytest.approx(30, abs=0.5)  # the first backoff step
    assert worker.run_once() is None  # not due yet

    queue.retry_later(first.id, first.error, delay=0)
    second = worker.run_once()
    assert (second.status, second.attempts) == (FAILED, 2)


def test_failure_classification():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, REQUEST_LIMIT_EXCEEDED, RESOURCE_DOES_NOT_EXIST

    from rm_mlflow.errors import DataValidationError, ModelLoadError

    assert is_transient_failure(MlflowException("server error", error_code=INTERNAL_ERROR))
    assert is_transient_failure(MlflowException("slow down", error_code=REQUEST_LIMIT_EXCEEDED))
    assert is_transient_failure(ConnectionRefusedError("refused"))
    assert not is_transient_failure(MlflowException("no such version", error_code=RESOURCE_DOES_NOT_EXIST))
    assert not is_transient_failure(ModelLoadError("models:/rm/1: not a model"))
    assert not is_transient_failure(DataValidationError("rows.jsonl", 3, "chosen", "empty string"))
    assert describe_failure(ValueError("two\nlines")) == "ValueError: two lines"
    assert describe_failure(ModelLoadError("models:/rm/1: not a model")) == "models:/rm/1: not a model"
    leaky = ConnectionError("POST https://alice:pa55word@mlflow.internal/api failed; token hf_abcdefghijklmnop rejected")
    assert describe_failure(leaky) == "ConnectionError: POST https://***@mlflow.internal/api failed; token hf_*** rejected"


def test_our_errors_wrapping_a_registry_outage_are_transient(unreachable_tracking):
    from rm_mlflow.errors import ModelLoadError
    from rm_mlflow.tracking.references import resolve_model_reference

    with pytest.raises(ModelLoadError, match="models:/rm/1: cannot resolve in the model registry") as caught:
        resolve_model_reference("models:/rm/1")
    assert is_transient_failure(caught.value)


def test_gpu_groups_become_workers_that_place_one_model_over_their_gpus(monkeypatch):
    """The arithmetic of ``--gpus_per_worker`` on an 8-GPU node (the CI machine has none: its GPU count is set here)."""
    from types import SimpleNamespace

    import torch

    from rm_mlflow.errors import OptionError
    from rm_mlflow.service.runner import worker_placements

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(total_memory=80 * 2**30))
    assert worker_placements(None, None) == [{"device": f"cuda:{index}"} for index in range(8)]
    halves = worker_placements(None, "auto", 4)
    assert halves == [
        {"device": "cuda:0", "device_map": "auto", "max_memory": "0=73728MiB,1=73728MiB,2=73728MiB,3=73728MiB"},
        {"device": "cuda:4", "device_map": "auto", "max_memory": "4=73728MiB,5=73728MiB,6=73728MiB,7=73728MiB"},
    ]
    (node,) = worker_placements(None, None, "all")
    assert node["device"] == "cuda:0" and node["max_memory"].count("MiB") == 8
    assert worker_placements(1, None, 2) == worker_placements(None, None, 2)[:1]
    with pytest.raises(OptionError, match="--gpus_per_worker 16: this machine has 8 visible GPU"):
        worker_placements(None, None, 16)
    assert worker_placements(None, "cpu", 1) == [{}]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert worker_placements(None, None) == [{}]
    with pytest.raises(OptionError, match="has 0 visible GPU"):
        worker_placements(None, None, "all")
