"""A webhook-enabled MLflow server for the service tests (the service process itself is in ``tests.helpers``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.helpers import SECRET, WEBHOOK_SERVER_ENV, ServiceProcess, running_mlflow_server


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
        assert code == 0 and "test delivery: ok (HTTP 200)" in printed, printed  # acknowledged, no job
        assert SECRET not in printed
        webhook = next(hook for hook in client.list_webhooks() if hook.name == name)
        created.append(webhook.webhook_id)
        time.sleep(1.2)  # past MLFLOW_WEBHOOK_CACHE_TTL, so the server's next delivery sees the new webhook
        return webhook

    yield register
    for webhook_id in created:
        if any(hook.webhook_id == webhook_id for hook in client.list_webhooks()):  # a test may have replaced or deleted it
            client.delete_webhook(webhook_id)
