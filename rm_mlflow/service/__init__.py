"""Automatic evaluation when a model version is registered: webhook receiver, durable queue, workers, polling fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rm_mlflow._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("Job", "JobQueue"), "rm_mlflow.service.queue"),
    **dict.fromkeys(("RegistrationService", "ServiceConfig", "serve", "watch"), "rm_mlflow.service.runner"),
    "ModelSelector": "rm_mlflow.service.selection",
    **dict.fromkeys(("SignatureError", "WebhookVerifier", "load_secret", "sign"), "rm_mlflow.service.signature"),
    **dict.fromkeys(("JobTemplate", "RetryPolicy", "Worker"), "rm_mlflow.service.worker"),
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from rm_mlflow.service.queue import Job, JobQueue  # noqa: F401
    from rm_mlflow.service.runner import RegistrationService, ServiceConfig, serve, watch  # noqa: F401
    from rm_mlflow.service.selection import ModelSelector  # noqa: F401
    from rm_mlflow.service.signature import SignatureError, WebhookVerifier, load_secret, sign  # noqa: F401
    from rm_mlflow.service.worker import JobTemplate, RetryPolicy, Worker  # noqa: F401

__all__ = sorted(_EXPORTS)
