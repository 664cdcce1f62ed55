"""The HTTP side of ``rm-mlflow serve``: the webhook receiver, ``/healthz`` and the token-protected ``/jobs`` views.

A delivery's body is read up to :data:`MAX_BODY_BYTES` and no further (a declared or a chunked
body beyond it gets 413 without being held in memory), verified (signature, timestamp window)
before it is parsed, then recorded with its job in one sqlite transaction (which also refuses a
delivery id seen before); only then is it answered 202. Forged or stale requests get 401 and
replays 409, and neither touches the queue.

What is shown without credentials: ``/healthz`` (status, job counts per status, whether this process
is the worker): enough for a liveness probe, nothing about which models exist. ``/jobs``,
``/jobs/NAME/VERSION`` and ``/status`` (model names, versions, errors, the running job, the
selection rule) need ``Authorization: Bearer <token>`` with the token from ``--status_token_env``;
without a configured token they answer 403. ``skipped`` jobs (versions of models that are not
selected) are listed only when asked for with ``?status=skipped``.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rm_mlflow.service.queue import SKIPPED, STATUSES, JobQueue, QueueFileLost
from rm_mlflow.service.signature import SignatureError, WebhookVerifier

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000

# The events that name a model version to evaluate, in ``data.name`` and ``data.version``.
VERSION_EVENTS = ("model_version.created", "model_version_alias.created")
_EVENT_PART = re.compile(r"^[a-z][a-z_]{0,63}$")  # MLflow's entity and action names
_MAX_NAME_LENGTH = 256  # MLflow's own limit on registered-model names
_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, streamed and refused at ``limit`` bytes whatever Content-Length says (or omits, with chunked encoding)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    queue: JobQueue,
    verifier: WebhookVerifier,
    *,
    health: Callable[[], dict[str, Any]] | None = None,
    status: Callable[[], dict[str, Any]] | None = None,
    status_token: str | None = None,
    on_lost: Callable[[QueueFileLost], None] | None = None,
) -> FastAPI:
    """The FastAPI app: ``POST /webhook``, ``GET /healthz``, and with ``status_token`` ``GET /status``, ``/jobs``, ``/jobs/NAME/VERSION``.

    A lost queue file (:class:`QueueFileLost`) answers 503 on every route and is reported through ``on_lost``.
    """
    app = FastAPI(title="rm-mlflow", description="Evaluates reward models when they are registered in MLflow.", docs_url=None, redoc_url=None)

    @app.exception_handler(QueueFileLost)
    async def queue_lost(request: Request, error: QueueFileLost) -> JSONResponse:
        if on_lost is not None:
            on_lost(error)
        return JSONResponse({"status": "failing", "error": str(error)}, status_code=503)

    def authorized(request: Request) -> None:
        if not status_token:
            raise HTTPException(403, "job views are off: start rm-mlflow serve with a status token (--status_token_env)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), status_token.encode()):
            raise HTTPException(401, "a valid 'Authorization: Bearer <status token>' header is required", headers={"WWW-Authenticate": "Bearer"})

    @app.post("/webhook", status_code=202)
    async def receive(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, MAX_BODY_BYTES)
        except _TooLarge:
            return JSONResponse({"error": f"payload too large (limit {MAX_BODY_BYTES} bytes)"}, status_code=413, headers={"Connection": "close"})
        try:
            delivery = verifier.verify(request.headers, body)
        except SignatureError as error:
            logger.warning("refused a webhook delivery from %s: %s", request.client.host if request.client else "?", error)
            return JSONResponse({"error": f"unauthorized: {error}"}, status_code=401)
        event, target = _parse(body)
        if target is not None and _is_test_delivery(event, body):
            logger.info("delivery %s (%s): MLflow's test delivery, acknowledged without a job", delivery.delivery_id, event)
            return JSONResponse({"status": "test delivery acknowledged", "event": event}, status_code=200)
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

    @app.get("/status", dependencies=[Depends(authorized)])
    def details() -> dict[str, Any]:
        return {"jobs": queue.counts(), **(status() if status else {})}

    @app.get("/jobs", dependencies=[Depends(authorized)])
    def jobs(status: str | None = None, limit: int = 100) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise HTTPException(400, f"status must be one of {', '.join(STATUSES)}")
        found = queue.jobs(status=status, limit=max(1, min(limit, 1000)))
        return {"jobs": [job.as_dict() for job in found if status == SKIPPED or job.status != SKIPPED]}

    @app.get("/jobs/{model_name}/{version}", dependencies=[Depends(authorized)])
    def job(model_name: str, version: str) -> dict[str, Any]:
        found = queue.get(model_name, version)
        if found is None:
            raise HTTPException(404, f"no job for models:/{model_name}/{version}")
        return found.as_dict()

    return app


def _is_test_delivery(event: str, body: bytes) -> bool:
    """``MlflowClient.test_webhook`` sends the event's example payload (``example_model``, run ``abcd1234abcd5678``): no model to evaluate."""
    from mlflow.entities.webhook import WebhookEvent
    from mlflow.webhooks.types import get_example_payload_for_event

    try:
        example = get_example_payload_for_event(WebhookEvent.from_str(event))
    except Exception:  # noqa: BLE001 - an event this MLflow has no example for is not a test delivery
        return False
    return json.loads(body).get("data") == dict(example)


def _parse(body: bytes) -> tuple[str, tuple[str, str] | None]:
    """The event name and, for the events we act on, the (model name, version) it names. 400 names the bad field."""
    try:
        payload = json.loads(body)
        entity, action = payload["entity"], payload["action"]
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPException(400, f"payload is not an MLflow webhook event (entity, action, data): {error}") from None
    if not all(isinstance(part, str) and _EVENT_PART.match(part) for part in (entity, action)):
        raise HTTPException(400, "entity and action must be short lower-case names")
    event = f"{entity}.{action}"
    if event not in VERSION_EVENTS:
        return event, None
    data = payload.get("data")
    if not isinstance(data, dict):
        raise HTTPException(400, f"{event} payload: data must be an object")
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME_LENGTH:
        raise HTTPException(400, f"{event} payload: data.name must be a non-empty string of at most {_MAX_NAME_LENGTH} characters")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise HTTPException(400, f"{event} payload: data.version must be a version number as a string, like \"3\"")
    return event, (name, version)
