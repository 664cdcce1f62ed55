"""Registering ``rm-mlflow serve`` with an MLflow server's model-registry webhooks: create (one per URL), list, delete.

MLflow refuses an ``http://`` or private-address receiver unless the *server* runs with
``MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https`` and ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true``, and it encrypts
each webhook's secret with ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`` (a key it makes up per process when unset,
so webhooks stop verifying after a restart). Its refusals are turned into one line naming those settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rm_mlflow.errors import OptionError

SERVER_SETTINGS_HINT = (
    "start the MLflow server with MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true "
    "(and a fixed MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY), or give an https:// URL with a public address; see docs/service.md"
)


def all_webhooks(client: Any) -> list[Any]:
    """Every webhook the MLflow server holds, page by page."""
    found, token = [], None
    while True:
        page = client.list_webhooks(max_results=100, page_token=token)
        found.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return found


def register_webhook(
    client: Any, *, name: str, url: str, events: Sequence[str], secret: str, replace: bool = False, description: str = ""
) -> Any:
    """Create the webhook; one that already delivers to ``url`` (or has ``name``) is refused, or deleted first with ``replace``."""
    from mlflow.exceptions import MlflowException

    existing = [hook for hook in all_webhooks(client) if hook.url == url or hook.name == name]
    if existing and not replace:
        hook = existing[0]
        raise OptionError(f"webhook {hook.webhook_id} ({hook.name}) already delivers to {hook.url}: pass --replace to replace it, "
                          f"or remove it with `rm-mlflow webhook delete {hook.webhook_id}`")
    for hook in existing:
        client.delete_webhook(hook.webhook_id)
    try:
        return client.create_webhook(name=name, url=url, events=list(events), secret=secret, description=description)
    except MlflowException as error:
        message = str(error.message).strip()
        if "scheme" in message or "non-public IP" in message:
            raise OptionError(f"the MLflow server refused {url}: {message} To allow it, {SERVER_SETTINGS_HINT}") from None
        raise


def delete_webhooks(client: Any, selectors: Sequence[str]) -> list[Any]:
    """Delete the webhooks named by id or name; an id or name that matches none is refused before anything is deleted."""
    hooks = all_webhooks(client)
    chosen = []
    for selector in selectors:
        matches = [hook for hook in hooks if selector in (hook.webhook_id, hook.name)]
        if not matches:
            known = ", ".join(f"{hook.webhook_id} ({hook.name})" for hook in hooks) or "none"
            raise OptionError(f"no webhook has id or name {selector!r}; the server has: {known}")
        chosen.extend(hook for hook in matches if hook not in chosen)
    for hook in chosen:
        client.delete_webhook(hook.webhook_id)
    return chosen


def describe_webhook(hook: Any) -> str:
    """One line: id, name, status, URL and events (never the secret)."""
    events = ",".join(str(event) for event in hook.events)
    return f"{hook.webhook_id}  {hook.name}  {getattr(hook.status, 'value', hook.status)}  {hook.url}  {events}"
