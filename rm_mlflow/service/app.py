"""The HTTP side of ``rm-mlflow serve``: the webhook receiver, ``/healthz`` and the read-only ``/jobs`` view.

A delivery is verified (signature, timestamp window) before its body is even parsed, then recorded
with its job in one sqlite transaction (which also refuses a delivery id seen before); only then is
it answered 202. Forged or stale requests get 401 and replays 409, and neither touches the queue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rm_mlflow.service.queue import STATUSES, JobQueue
from rm_mlflow.service.signature import SignatureError, WebhookVerifier

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000

# The events that name a model version to evaluate, in ``data.name`` and ``data.version``.
VERSION_EVENTS = ("model_version.created", "model_version_alias.created")


def create_app(queue: JobQueue, verifier: WebhookVerifier, *, health: Callable[[], dict[str, Any]] | None = None) -> FastAPI:
    app = FastAPI(title="rm-mlflow", description="Evaluates reward models when they are registered in MLflow.", docs_url=None, redoc_url=None)

    @app.post("/webhook", status_code=202)
    async def receive(request: Request) -> JSONResponse:
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            raise HTTPException(413, "payload too large")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "payload too large")
        try:
            delivery = verifier.verify(request.headers, body)
        except SignatureError as error:
            logger.warning("refused a webhook delivery from %s: %s", request.client.host if request.client else "?", error)
            return JSONResponse({"error": f"unauthorized: {error}"}, status_code=401)
        event, target = _parse(body)
        admission = await run_in_threadpool(queue.accept_delivery, delivery.delivery_id, event, target)
        if admission.replayed:
            logger.warning("refused replayed webhook delivery %s", delivery.delivery_id)
            return JSONResponse({"error": f"delivery {delivery.delivery_id} was already received"}, status_code=409)
        if admission.job is None:
            return JSONResponse({"status": "ignored", "event": event}, status_code=202)
        status = "queued" if admission.created else "duplicate"
        logger.info("delivery %s (%s): %s job %d for %s", delivery.delivery_id, event, status, admission.job.id, admission.job.model_uri)
        return JSONResponse({"status": status, "event": event, "job": admission.job.as_dict()}, status_code=202)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "jobs": queue.counts(), **(health() if health else {})}

    @app.get("/jobs")
    def jobs(status: str | None = None, limit: int = 100) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise HTTPException(400, f"status must be one of {', '.join(STATUSES)}")
        return {"jobs": [job.as_dict() for job in queue.jobs(status=status, limit=max(1, min(limit, 1000)))]}

    @app.get("/jobs/{model_name}/{version}")
    def job(model_name: str, version: str) -> dict[str, Any]:
        found = queue.get(model_name, version)
        if found is None:
            raise HTTPException(404, f"no job for models:/{model_name}/{version}")
        return found.as_dict()

    return app


def _parse(body: bytes) -> tuple[str, tuple[str, str] | None]:
    """The event name and, for the events we act on, the (model name, version) it names. 400 names the bad field."""
    try:
        payload = json.loads(body)
        event = f"{payload['entity']}.{payload['action']}"
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPException(400, f"payload is not an MLflow webhook event (entity, action, data): {error}") from None
    if event not in VERSION_EVENTS:
        return event, None
    try:
        name, version = payload["data"]["name"], str(payload["data"]["version"])
    except (KeyError, TypeError) as error:
        raise HTTPException(400, f"{event} payload has no data field {error}") from None
    if not isinstance(name, str) or not name or not version:
        raise HTTPException(400, f"{event} payload: data.name and data.version must be non-empty")
    return event, (name, version)
