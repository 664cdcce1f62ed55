"""Automatic evaluation when a model version is registered: webhook receiver, durable queue, workers, polling fallback."""

from rm_mlflow.service.queue import Job, JobQueue
from rm_mlflow.service.runner import EvaluationService, ServiceConfig, serve, watch
from rm_mlflow.service.selection import ModelSelector
from rm_mlflow.service.signature import SignatureError, WebhookVerifier, load_secret, sign
from rm_mlflow.service.worker import EvaluationPlan, RetryPolicy, Worker

__all__ = [
    "EvaluationPlan", "EvaluationService", "Job", "JobQueue", "ModelSelector", "RetryPolicy", "ServiceConfig", "SignatureError",
    "WebhookVerifier", "Worker", "load_secret", "serve", "sign", "watch",
]
