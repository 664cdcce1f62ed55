"""Verifying MLflow webhook deliveries before any work is done.

MLflow signs each delivery the Standard Webhooks way (``mlflow/webhooks/delivery.py``):
``X-MLflow-Signature: v1,<base64 HMAC-SHA256>`` over ``"{delivery_id}.{timestamp}.{body}"`` with the
webhook's secret, next to ``X-MLflow-Delivery-Id`` and ``X-MLflow-Timestamp`` (Unix seconds).
Replays are stopped in two layers: the timestamp must be within the tolerance window, and the
delivery id must be new (checked atomically by the job queue, which remembers every id it accepted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rm_mlflow.errors import RmMlflowError

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
DEFAULT_SECRET_ENV = "RM_MLFLOW_WEBHOOK_SECRET"
_MAX_DELIVERY_ID_LENGTH = 200


class SignatureError(RmMlflowError):
    """A delivery that is not provably from MLflow (missing, forged or stale): answered 401, never queued."""


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery whose signature and timestamp checked out."""

    delivery_id: str
    timestamp: int


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


class WebhookVerifier:
    """Checks signature and timestamp of one delivery; the delivery-id check belongs to the queue."""

    def __init__(self, secret: str, *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
        if not secret:
            raise RmMlflowError("the webhook secret is empty")
        self._secret = secret
        self.tolerance_seconds = tolerance_seconds

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookVerifier(tolerance_seconds={self.tolerance_seconds})"

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> VerifiedDelivery:
        """Return the delivery id and timestamp, or raise :class:`SignatureError` saying which check failed."""
        lowered = {key.lower(): value for key, value in headers.items()}
        delivery_id = lowered.get(DELIVERY_ID_HEADER.lower(), "").strip()
        timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "").strip()
        signatures = lowered.get(SIGNATURE_HEADER.lower(), "").strip()
        if not (delivery_id and timestamp and signatures):
            raise SignatureError(f"missing {DELIVERY_ID_HEADER}, {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
        if len(delivery_id) > _MAX_DELIVERY_ID_LENGTH:
            raise SignatureError(f"{DELIVERY_ID_HEADER} is longer than {_MAX_DELIVERY_ID_LENGTH} characters")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise SignatureError(f"{TIMESTAMP_HEADER} is not a Unix timestamp") from None
        expected = sign(self._secret, delivery_id, timestamp, body)
        # Standard Webhooks allows several space-separated signatures (secret rotation); any may match.
        if not any(hmac.compare_digest(candidate, expected) for candidate in signatures.split()):
            raise SignatureError("signature does not match")
        age = (time.time() if now is None else now) - sent_at
        if abs(age) > self.tolerance_seconds:
            raise SignatureError(f"timestamp is {age:+.0f}s from now, outside the {self.tolerance_seconds}s window")
        return VerifiedDelivery(delivery_id=delivery_id, timestamp=sent_at)


def load_secret(*, env: str | None = DEFAULT_SECRET_ENV, file: str | Path | None = None) -> str:
    """The shared webhook secret from a file (first line) or an environment variable; never from a URL or argument."""
    if file is not None:
        path = Path(file)
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise RmMlflowError(f"{path}: cannot read the webhook secret file: {error.strerror}") from None
        if not secret:
            raise RmMlflowError(f"{path}: the webhook secret file is empty")
        return secret
    secret = os.environ.get(env or "", "").strip()
    if not secret:
        raise RmMlflowError(f"no webhook secret: set the {env} environment variable or pass --secret_file")
    return secret
