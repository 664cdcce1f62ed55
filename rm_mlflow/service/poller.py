"""The polling fallback (``rm-mlflow watch``): find new versions of selected models and feed the same queue.

For stores that deliver no webhooks (a plain ``sqlite:///`` or file store, or a server where they
are not configured). The high-water mark lives in the queue file, so versions registered while the
watcher was down are found on restart; the queue's uniqueness makes overlapping polls harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from rm_mlflow.service.queue import JobQueue
from rm_mlflow.service.selection import ModelSelector
from rm_mlflow.tracking.version_tags import STATUS_TAG

logger = logging.getLogger(__name__)
_WATERMARK = "watch.since_ms"
_CLOCK_SKEW_MS = 60_000  # look back this far on each poll: the store's clock and ours may differ


class RegistryPoller:
    """Finds versions of selected models registered since the last poll and queues them."""

    def __init__(self, queue: JobQueue, selector: ModelSelector, *, backfill: bool = False, client: Any = None) -> None:
        from mlflow import MlflowClient

        self.queue = queue
        self.selector = selector
        self.client = client or MlflowClient()
        self.passed_over = 0  # selected versions older than the watermark seen by the last poll (--backfill queues them)
        if backfill:
            queue.set_state(_WATERMARK, "0")  # every existing version; those already queued are not queued twice
        elif queue.get_state(_WATERMARK) is None:
            queue.set_state(_WATERMARK, str(int(time.time() * 1000)))  # first start: only versions registered from now on

    def poll_once(self) -> int:
        """Queue every new version of every selected model; returns how many jobs were added."""
        started_ms = int(time.time() * 1000)
        since_ms = int(self.queue.get_state(_WATERMARK) or 0)
        added, self.passed_over = 0, 0
        for version in selected_versions(self.client, self.selector):
            if (version.creation_timestamp or 0) < since_ms:
                self.passed_over += not self.queue.get(version.name, str(version.version))
            else:
                _, created = self.queue.enqueue(version.name, str(version.version), origin="watch")
                if created:
                    logger.info("watch: queued models:/%s/%s", version.name, version.version)
                    added += 1
        self.queue.set_state(_WATERMARK, str(max(since_ms, started_ms - _CLOCK_SKEW_MS)))
        return added



def selected_versions(client: Any, selector: ModelSelector) -> Iterator[Any]:
    """Every version of every registered model ``selector`` takes, page by page."""
    for model in _pages(lambda token: client.search_registered_models(max_results=200, page_token=token)):
        if not selector.matches(model.name, model.tags):
            continue
        quoted = model.name.replace("'", "\\'")
        yield from _pages(lambda token, quoted=quoted: client.search_model_versions(f"name='{quoted}'", max_results=200, page_token=token))


def _pages(fetch: Any) -> list[Any]:
    items, token = [], None
    while True:
        page = fetch(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


UNFINISHED = ("queued", "running")


def requeue_unfinished_versions(queue: JobQueue, selector: ModelSelector, *, client: Any = None) -> int:
    """Queue every version of a selected model whose ``rm_eval.status`` is queued or running but which has no job in ``queue``.

    That is what a lost or replaced queue file leaves behind. The job's worker reuses the run the version
    records (``rm_eval.run_id``), so the evaluation resumes instead of starting a second run. Returns how many were queued.
    """
    from mlflow import MlflowClient

    client = client or MlflowClient()
    added = 0
    for version in selected_versions(client, selector):
        if (version.tags or {}).get(STATUS_TAG) in UNFINISHED and queue.get(version.name, str(version.version)) is None:
            queue.enqueue(version.name, str(version.version), origin="reconcile")
            logger.info("reconcile: queued models:/%s/%s (the registry shows it %s)", version.name, version.version, version.tags[STATUS_TAG])
            added += 1
    return added
