"""Delivery verification against the signatures MLflow's own webhook sender produces."""

from __future__ import annotations

import json
import time

import pytest
from mlflow.webhooks.delivery import _generate_hmac_signature

from rm_mlflow.errors import RmMlflowError
from rm_mlflow.service.signature import SignatureError, WebhookVerifier, load_secret, sign

SECRET = "s3cret-for-tests"
BODY = json.dumps({"entity": "model_version", "action": "created", "data": {"name": "rm", "version": "1"}})


def _headers(delivery_id: str = "d-1", timestamp: int | None = None, signature: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "x-mlflow-delivery-id": delivery_id,
        "x-mlflow-timestamp": stamp,
        "x-mlflow-signature": signature or _generate_hmac_signature(SECRET, delivery_id, stamp, BODY),
    }


def test_mlflows_signature_verifies_and_ours_is_identical():
    headers = _headers()
    delivery = WebhookVerifier(SECRET).verify(headers, BODY.encode())
    assert delivery.delivery_id == "d-1"
    assert sign(SECRET, "d-1", headers["x-mlflow-timestamp"], BODY.encode()) == headers["x-mlflow-signature"]


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (_headers(signature="v1,AAAA"), BODY, "does not match"),
        (_headers(), BODY.replace('"1"', '"2"'), "does not match"),
        ({**_headers(), "x-mlflow-delivery-id": "d-2"}, BODY, "does not match"),  # the id is part of the signed content
        ({key: value for key, value in _headers().items() if key != "x-mlflow-signature"}, BODY, "missing"),
        ({**_headers(), "x-mlflow-timestamp": "yesterday"}, BODY, "not a Unix timestamp"),
    ],
)
def test_forged_or_malformed_deliveries_are_refused(headers, body, reason):
    with pytest.raises(SignatureError, match=reason):
        WebhookVerifier(SECRET).verify(headers, body.encode())


def test_the_timestamp_must_be_inside_the_window():
    verifier = WebhookVerifier(SECRET, tolerance_seconds=300)
    now = time.time()
    verifier.verify(_headers(timestamp=int(now) - 299), BODY.encode(), now=now)
    for offset in (-301, 301):
        with pytest.raises(SignatureError, match="outside the 300s window"):
            verifier.verify(_headers(timestamp=int(now) + offset), BODY.encode(), now=now)


def test_a_rotated_secret_is_accepted_among_several_signatures():
    headers = _headers()
    old = sign("old-secret", "d-1", headers["x-mlflow-timestamp"], BODY.encode())
    headers["x-mlflow-signature"] = f"{old} {headers['x-mlflow-signature']}"
    assert WebhookVerifier(SECRET).verify(headers, BODY.encode()).delivery_id == "d-1"


def test_the_secret_never_appears_in_repr_and_comes_from_env_or_file(monkeypatch, tmp_path):
    assert SECRET not in repr(WebhookVerifier(SECRET))
    monkeypatch.setenv("MY_SECRET", f"  {SECRET}\n")
    assert load_secret(env="MY_SECRET") == SECRET
    (tmp_path / "secret").write_text(SECRET + "\n")
    assert load_secret(file=tmp_path / "secret") == SECRET
    monkeypatch.delenv("MY_SECRET")
    with pytest.raises(RmMlflowError, match="set the MY_SECRET environment variable"):
        load_secret(env="MY_SECRET")
    with pytest.raises(RmMlflowError, match="missing-file: cannot read"):
        load_secret(file=tmp_path / "missing-file")
