"""Putting the service together: the queue, one worker per GPU (one on CPU), an optional poller, the HTTP app."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rm_mlflow.errors import OptionError
from rm_mlflow.service.poller import RegistryPoller, requeue_unfinished_versions
from rm_mlflow.service.queue import JobQueue, QueueFileLost, WorkerLock
from rm_mlflow.service.selection import ModelSelector
from rm_mlflow.service.worker import JobTemplate, RetryPolicy, Worker

logger = logging.getLogger(__name__)
QUEUE_FILE = "queue.sqlite"
QUEUE_CHECK_SECONDS = 1.0  # how often a running service checks that its queue file is still there


@dataclass(frozen=True)
class ServiceConfig:
    """How the service runs: its state folder, what it evaluates, which models, retries, workers and polling."""

    state_dir: Path
    plan: JobTemplate = field(default_factory=JobTemplate)
    selector: ModelSelector = field(default_factory=ModelSelector)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tracking_uri: str | None = None
    workers: int | None = None  # None: one per visible GPU (or group of gpus_per_worker GPUs), or one on CPU
    gpus_per_worker: int | str = 1  # GPUs each worker places one model over (device_map auto); "all": one worker for the node
    poll_interval: float | None = None  # seconds between registry polls; None: no polling
    backfill: bool = False


def worker_placements(count: int | None, configured_device: str | None, gpus_per_worker: int | str = 1) -> list[dict[str, str]]:
    """The scoring settings of each worker's devices.

    Each GPU gets its own worker unless the device is set explicitly; with ``gpus_per_worker`` above 1 (``all``:
    every GPU), each group of GPUs is one worker whose models accelerate places over the group.
    """
    import torch

    gpus = torch.cuda.device_count() if configured_device in (None, "auto", "cuda") else 0
    per_worker = gpus if gpus_per_worker == "all" else int(gpus_per_worker)
    if per_worker > 1 or gpus_per_worker == "all":
        if per_worker > gpus or not gpus:
            raise OptionError(f"--gpus_per_worker {gpus_per_worker}: this machine has {gpus} visible GPU(s)")
        groups = [list(range(start, start + per_worker)) for start in range(0, gpus - per_worker + 1, per_worker)]
        count = len(groups) if count is None else count
        return [_group_placement(groups[index % len(groups)]) for index in range(count)]
    if count is None:
        count = max(gpus, 1)
    if gpus:
        return [{"device": f"cuda:{index % gpus}"} for index in range(count)]
    return [{} for _ in range(count)]


def _group_placement(gpus: list[int]) -> dict[str, str]:
    """A model placed over ``gpus`` only: each given 90% of its memory (the rest for activations), no CPU or disk."""
    import torch

    limits = ",".join(f"{index}={int(torch.cuda.get_device_properties(index).total_memory * 0.9) >> 20}MiB" for index in gpus)
    return {"device": f"cuda:{gpus[0]}", "device_map": "auto", "max_memory": limits}


class RegistrationService:
    """Owns the queue and the background threads; ``start`` before serving, ``stop`` after."""

    def __init__(self, config: ServiceConfig) -> None:
        import mlflow

        if config.tracking_uri:
            mlflow.set_tracking_uri(config.tracking_uri)
        self.config = config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.queue = JobQueue(config.state_dir / QUEUE_FILE)
        self.lock = WorkerLock(self.queue.path)
        self.stop_event = threading.Event()
        self.workers: list[Worker] = []
        self.threads: list[threading.Thread] = []
        self.poller: RegistryPoller | None = None
        self.lost: QueueFileLost | None = None
        self.on_lost: Any = None  # called once when the queue file is lost (serve stops its HTTP server)

    def start(self, *, background: bool = True) -> None:
        """Become the queue's worker if no other process is, resume orphaned jobs, start the workers and the poller.

        With ``background`` false nothing is started in threads: the caller polls and drains (``watch --once``);
        when another process is the worker, this one only queues and that worker evaluates.
        """
        if self.lock.acquire():
            settings = self.config.plan.request.settings
            placements = worker_placements(self.config.workers, settings.get("device"), self.config.gpus_per_worker)
            for index, placement in enumerate(placements if background else placements[:1]):
                self.workers.append(Worker(self.queue, self.config.plan, self.config.selector, output_root=self.config.state_dir / "jobs",
                                           retry=self.config.retry, placement=placement, name=f"worker-{index}"))
            requeued, failed = self.queue.requeue_orphans(max_attempts=self.config.retry.max_attempts)
            if requeued:
                logger.info("resuming %d job(s) left running by a stopped service", len(requeued))
            for job in failed:
                self.workers[0].record_abandoned(job)
            self._reconcile()
        else:
            # A safety-net poll beside a running `serve` still queues what webhooks missed; that worker evaluates it.
            logger.warning("another rm-mlflow process is the worker for %s; this one only receives and queues", self.queue.path)
        if self.config.poll_interval or not background:
            self.poller = RegistryPoller(self.queue, self.config.selector, backfill=self.config.backfill)
        if background:
            for worker in self.workers:
                self._spawn(worker.name, worker.run_forever, self.stop_event)
            if self.poller is not None:
                self._spawn("poller", self._poll_forever)
            self._spawn("queue-watch", self._watch_queue_file)

    def _reconcile(self) -> None:
        """Re-queue the versions the registry shows as queued or running with no job here (a lost or replaced queue file)."""
        try:
            added = requeue_unfinished_versions(self.queue, self.config.selector)
        except QueueFileLost:
            raise
        except Exception as error:  # noqa: BLE001 - the registry may be down at start; webhooks and polls still queue
            logger.error("could not reconcile the queue with the registry: %s", error)
            return
        if added:
            logger.warning("re-queued %d version(s) the registry shows as queued or running but the queue did not hold", added)

    def _watch_queue_file(self) -> None:
        while not self.stop_event.wait(QUEUE_CHECK_SECONDS):
            try:
                self.queue.check_file()
            except QueueFileLost as error:
                self.fail(error)
                return

    def fail(self, error: QueueFileLost) -> None:
        """Stop everything because the queue file is gone: a log line, ``/healthz`` 503, and (under ``serve``) the process exits."""
        if self.lost is not None:
            return
        self.lost = error
        logger.error("%s", error)
        self.stop_event.set()
        self.queue.wakeup.set()
        if self.on_lost is not None:
            self.on_lost()

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _poll_forever(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poller.poll_once()
            except Exception as error:  # noqa: BLE001 - a failed poll is retried at the next interval
                logger.error("registry poll failed: %s", error)
            self.stop_event.wait(self.config.poll_interval)

    def drain(self) -> None:
        """Process due jobs in this thread until none is due (``rm-mlflow watch --once``)."""
        if not self.workers:
            return
        while self.workers[0].run_once() is not None:
            pass

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` shows to anyone besides the queue counts: whether this process is the worker."""
        self.queue.check_file()
        return {"worker": "active" if self.workers else "standby (another process holds the worker lock)"}

    def status(self) -> dict[str, Any]:
        """What ``/status`` shows to holders of the status token: the running jobs, the selection rule, the datasets."""
        return self.health() | {
            "running": [worker.current.model_uri for worker in self.workers if worker.current is not None],
            "selection": self.config.selector.describe(),
            "datasets": self.config.plan.benchmark_names(),
        }

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads; keep the worker lock while an evaluation is still running."""
        self.stop_event.set()
        self.queue.wakeup.set()
        for thread in self.threads:
            thread.join(timeout)
        if not any(thread.is_alive() for thread in self.threads):
            # Otherwise an evaluation is still running: keep the lock until the process exits, so no other
            # worker takes the job over while this one still writes to its run.
            self.lock.release()


def serve(service: RegistrationService, verifier: Any, *, host: str, port: int, status_token: str | None = None) -> None:
    """Run the webhook receiver until interrupted (uvicorn handles SIGINT/SIGTERM); job views need ``status_token``."""
    import uvicorn

    from rm_mlflow.service.app import create_app

    if not status_token:
        logger.info("no status token: /jobs and /status answer 403 (set one to read them)")
    app = create_app(service.queue, verifier, health=service.health, status=service.status, status_token=status_token,
                     on_lost=service.fail)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False))
    service.on_lost = lambda: setattr(server, "should_exit", True)
    service.start()
    try:
        server.run()
    finally:
        service.stop()
    if service.lost is not None:
        raise service.lost


def watch(service: RegistrationService, *, once: bool = False) -> int:
    """Poll the registry and evaluate until interrupted; with ``once``, one poll and the jobs due, then exit.

    Returns the number of jobs the single poll added (0 when running until interrupted). Beside a running
    ``serve`` (which holds the worker lock) ``once`` only queues; the service evaluates what was added.
    """
    service.start(background=not once)
    try:
        if once:
            added = service.poller.poll_once()
            service.drain()
            return added
        service.stop_event.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    if service.lost is not None:
        raise service.lost
    return 0
