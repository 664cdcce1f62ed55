"""Running queued jobs: one evaluation per registered model version, progress and outcome as model-version tags.

Each job gets one MLflow run, created before scoring and remembered in the queue, and one results
folder under the state directory holding its score cache; a retried or resumed job reuses both, so
a version is evaluated exactly once however often it is interrupted. Transient failures (the
tracking server or network) are retried with exponential backoff; anything else (bad model files,
bad data, a rejected request) fails the job once, with the message in the ``rm_eval.error`` tag.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rm_mlflow.data.loading import resolve_benchmarks
from rm_mlflow.errors import RmMlflowError, first_line
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.retry import is_transient
from rm_mlflow.service.queue import Job, JobQueue, QueueFileLost
from rm_mlflow.service.selection import ModelSelector
from rm_mlflow.tracking.recording import PARTIAL_TAG
from rm_mlflow.tracking.run import TrackingTarget, create_run
from rm_mlflow.tracking.version_tags import ERROR_TAG, RUN_ID_TAG, STATUS_TAG, succeeded_tags

logger = logging.getLogger(__name__)

_TAG_VALUE_LIMIT = 5000
_URL_CREDENTIALS = re.compile(r"(\w+://)[^/\s@]+@")
_HUB_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}")


@dataclass(frozen=True)
class JobTemplate:
    """What every job runs: the request ``rm-mlflow evaluate`` would build (its model filled in per job), into ``experiment``."""

    request: EvaluationRequest = field(default_factory=lambda: EvaluationRequest(model="", datasets=("rewardbench",), progress=False))
    experiment: str = "rm-eval"

    def benchmark_names(self) -> list[str]:
        """The metric prefixes of the plan's benchmarks, in order."""
        return [benchmark.name for benchmark in resolve_benchmarks(self.request.datasets)]


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts for transient failures, and the exponential backoff between them."""

    max_attempts: int = 5
    first_delay: float = 30.0
    max_delay: float = 900.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt``."""
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


class JobSkipped(Exception):
    """The version is not to be evaluated (its model is not a reward model, or it no longer exists)."""


def is_transient_failure(error: BaseException) -> bool:
    """Worth another attempt (see :func:`rm_mlflow.retry.is_transient`)."""
    return is_transient(error)


def describe_failure(error: BaseException) -> str:
    """One line for the ``rm_eval.error`` tag and ``/jobs``, with credentials in URLs and Hub tokens masked."""
    text = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, RmMlflowError):
        text = f"{type(error).__name__}: {text}"
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    return _HUB_TOKEN.sub("hf_***", text)[:_TAG_VALUE_LIMIT]


def _recorded_run(version: Any) -> str | None:
    """The run the registry records for this version's evaluation, whatever its status (a service with another queue, or a lost one).

    Reusing it is what keeps one run per version: a finished run is adopted, an unfinished one resumed.
    """
    return (version.tags or {}).get(RUN_ID_TAG)


class Worker:
    """Takes jobs from ``queue`` one at a time; one worker per GPU or group of GPUs (``placement``), or one on CPU."""

    def __init__(
        self,
        queue: JobQueue,
        plan: JobTemplate,
        selector: ModelSelector,
        *,
        output_root: Path | str,
        retry: RetryPolicy | None = None,
        placement: Mapping[str, Any] | None = None,
        name: str = "worker",
    ) -> None:
        self.queue = queue
        self.plan = plan
        self.selector = selector
        self.output_root = Path(output_root)
        self.retry = retry or RetryPolicy()
        self.placement = dict(placement or {})  # scoring settings of this worker's devices, unless the plan sets them
        self.name = name
        self.current: Job | None = None

    def run_forever(self, stop: threading.Event, *, idle_wait: float = 1.0) -> None:
        """Process due jobs until ``stop`` is set, waking when one is queued; a lost queue file stops the worker (the service reports it)."""
        try:
            while not stop.is_set():
                if self.run_once() is None:
                    due_in = self.queue.next_due_in()
                    self.queue.wakeup.wait(idle_wait if due_in is None else min(idle_wait, due_in))
                    self.queue.wakeup.clear()
        except QueueFileLost as error:
            logger.error("%s: stopped: %s", self.name, error)

    def run_once(self) -> Job | None:
        """Claim and process one due job; None when none is due."""
        job = self.queue.claim()
        if job is None:
            return None
        self.current = job
        try:
            return self.process(job)
        finally:
            self.current = None

    def process(self, job: Job) -> Job:
        """Evaluate one claimed job and record its outcome in the queue and the registry; never raises."""
        from mlflow import MlflowClient

        client = MlflowClient()
        logger.info("%s: evaluating %s (attempt %d)", self.name, job.model_uri, job.attempts)
        run_id: str | None = None
        try:
            version = self._check_selected(client, job)
            run = self._active_run(client, job.run_id or _recorded_run(version))
            run_id = run.info.run_id if run is not None else None
            # a run an earlier attempt finished (killed before it could record that) is adopted, not repeated
            metrics = dict(run.data.metrics) if run is not None and run.info.status == "FINISHED" else None
            if metrics is None:
                run_id = self._prepare_run(client, job, run_id)
                self._set_tags(client, job, {STATUS_TAG: "running"})
                request = replace(
                    self.plan.request, model=job.model_uri, settings=self._settings(), output_dir=self.output_root / f"job-{job.id}", resume=True,
                )
                metrics = run_evaluation(request, TrackingTarget(run_id=run_id)).metrics
        except JobSkipped as reason:
            logger.info("%s: skipped %s: %s", self.name, job.model_uri, reason)
            return self.queue.skip(job.id, str(reason))
        except Exception as error:  # noqa: BLE001 - every failure is recorded in the queue and the registry
            return self._record_failure(client, job, error, run_id=run_id)

        partial = client.get_run(run_id).data.tags.get(PARTIAL_TAG)
        tags, headline = succeeded_tags(metrics, run_id, self.plan.benchmark_names(), partial=partial)
        finished = self.queue.succeed(job.id, run_id=run_id, score=headline)
        if ERROR_TAG in (version.tags or {}):  # left by a failed earlier attempt
            self._delete_tag(client, job, ERROR_TAG)
        self._set_tags(client, job, tags)
        self._log_leaderboard(client, job, run_id)
        logger.info("%s: %s finished: run %s, score %s", self.name, job.model_uri, run_id, headline)
        return finished

    def _log_leaderboard(self, client: Any, job: Job, run_id: str) -> None:
        """The model's leaderboard, as it stands with this evaluation, logged to its run; a failure is a warning, not a failed job."""
        from rm_mlflow.tracking.leaderboard import log_leaderboard

        try:
            log_leaderboard(job.model_name, run_id, client)
        except Exception as error:  # noqa: BLE001 - the evaluation itself succeeded and is recorded
            logger.warning("%s: %s: the leaderboard was not logged (%s)", self.name, job.model_uri, first_line(error))

    def _check_selected(self, client: Any, job: Job) -> Any:
        """The job's model version, unless it is gone or its model is not selected (:class:`JobSkipped`)."""
        from mlflow.exceptions import MlflowException

        try:
            model = client.get_registered_model(job.model_name)
            version = client.get_model_version(job.model_name, job.version)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise JobSkipped(f"{job.model_uri} does not exist") from None
            raise
        if not self.selector.matches(model.name, model.tags):
            raise JobSkipped(f"{job.model_name} is not selected as a reward model ({self.selector.describe()})")
        return version

    def _prepare_run(self, client: Any, job: Job, run_id: str | None) -> str:
        """The run this attempt logs to: the one an earlier attempt created (marked running again), or a new one."""
        if run_id:
            client.update_run(run_id, status="RUNNING")
            return run_id
        run_id = create_run(client, experiment=self.plan.experiment, run_name=f"{job.model_name}-v{job.version}")
        self.queue.set_run_id(job.id, run_id)
        self._set_tags(client, job, {RUN_ID_TAG: run_id})
        return run_id

    @staticmethod
    def _active_run(client: Any, run_id: str | None) -> Any:
        """The run ``run_id`` names, read once, unless it does not exist or was deleted."""
        from mlflow.exceptions import MlflowException

        if not run_id:
            return None
        try:
            run = client.get_run(run_id)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return run if run.info.lifecycle_stage == "active" else None

    def _settings(self) -> dict[str, Any]:
        settings = dict(self.plan.request.settings)
        for key, value in self.placement.items():
            settings.setdefault(key, value)
        return settings

    def _record_failure(self, client: Any, job: Job, error: BaseException, *, run_id: str | None = None) -> Job:
        message = describe_failure(error)
        if is_transient_failure(error) and job.attempts < self.retry.max_attempts:
            delay = self.retry.delay(job.attempts)
            logger.warning("%s: %s attempt %d failed (%s); retrying in %.0fs", self.name, job.model_uri, job.attempts, message, delay)
            queued = self.queue.retry_later(job.id, message, delay=delay)
            self._set_tags(client, job, {STATUS_TAG: "queued", ERROR_TAG: f"attempt {job.attempts} failed, retrying: {message}"})
            return queued
        logger.error("%s: %s failed: %s", self.name, job.model_uri, message)
        failed = self.queue.fail(job.id, message)
        if run_id:  # the pipeline ends the runs it opens; one that failed before opening (bad model files) leaves ours to us
            _write_registry(job, "end the run", lambda: client.set_terminated(run_id, "FAILED"))
        self._set_tags(client, job, {STATUS_TAG: "failed", ERROR_TAG: message})
        return failed

    def record_abandoned(self, job: Job) -> None:
        """Mirror a job the queue failed after repeated service deaths into the registry."""
        from mlflow import MlflowClient

        logger.error("%s failed: %s", job.model_uri, job.error)
        self._set_tags(MlflowClient(), job, {STATUS_TAG: "failed", ERROR_TAG: job.error or "failed"})

    def _set_tags(self, client: Any, job: Job, tags: Mapping[str, str]) -> None:
        """The status tag goes last, so whoever sees a final status also sees the run id, score or error."""
        for key, value in sorted(tags.items(), key=lambda item: item[0] == STATUS_TAG):
            _write_registry(job, f"set tag {key}",
                            lambda key=key, value=value: client.set_model_version_tag(job.model_name, job.version, key, value))

    def _delete_tag(self, client: Any, job: Job, key: str) -> None:
        _write_registry(job, f"delete tag {key}", lambda: client.delete_model_version_tag(job.model_name, job.version, key))


def _write_registry(job: Job, what: str, call: Any) -> None:
    """Registry tags are a view of the queue: a write that fails (after MLflow's own retries) is logged, never fatal."""
    try:
        call()
    except Exception as error:  # noqa: BLE001
        logger.error("could not %s on %s: %s", what, job.model_uri, error)
