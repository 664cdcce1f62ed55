"""The MLflow run an evaluation logs to: created (or adopted) after the inputs are validated, ended once with its outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rm_mlflow.errors import first_line
from rm_mlflow.tracking.recording import log_results

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingTarget:
    """Where an evaluation is logged: an existing run (``run_id``), or a new run in ``experiment``.

    Attributes:
        run_id: log to this run (``mlflow run``, ``mlflow.models.evaluate`` and the service create theirs first).
        tracking_uri: the tracking server and registry; ``MLFLOW_TRACKING_URI`` when None. Applied before any
            ``models:/`` reference is resolved.
        experiment: experiment name for a new run (the default experiment when None).
        run_name: name of a new run (the model's name and version when None).
    """

    run_id: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    run_name: str | None = None

    def apply(self) -> None:
        """Point this process's MLflow client at :attr:`tracking_uri`."""
        if self.tracking_uri:
            import mlflow

            mlflow.set_tracking_uri(self.tracking_uri)  # the registry follows it unless MLFLOW_REGISTRY_URI says otherwise

    def client(self) -> Any:
        """An ``MlflowClient`` for this target (:meth:`apply` first, so ``models:/`` references resolve there too)."""
        from mlflow import MlflowClient

        self.apply()
        return MlflowClient()


class TrackedRun:
    """One MLflow run and the client that talks to it."""

    def __init__(self, run_id: str, client: Any) -> None:
        self.run_id = run_id
        self.client = client

    @classmethod
    def open(cls, target: TrackingTarget, *, default_name: str | None = None) -> TrackedRun:
        """The target's run, or a new run in its experiment; a given run still under MLflow's made-up name gets ``default_name``.

        ``mlflow.models.evaluate`` starts its run as ``vaunted-hound-421``: it is named as the CLI names its runs
        (``my-rm-v3``), unless the caller chose a name.
        """
        client = target.client()
        if target.run_id:
            if default_name and is_generated_name(client.get_run(target.run_id).info.run_name):
                client.set_tag(target.run_id, "mlflow.runName", default_name)
            return cls(target.run_id, client)
        return cls(create_run(client, experiment=target.experiment, run_name=target.run_name or default_name), client)

    @cached_property
    def experiment_id(self) -> str:
        """The run's experiment (asked once: the gate and the run's link both need it)."""
        return self.client.get_run(self.run_id).info.experiment_id

    def log(self, results_dir: Path) -> dict[str, str]:
        """Log the results folder to this run; returns artifact name -> URI."""
        return log_results(results_dir, run_id=self.run_id, client=self.client)

    def set_tag(self, key: str, value: str) -> None:
        """Set one run tag."""
        self.client.set_tag(self.run_id, key, value)

    def end(self, status: str) -> None:
        """End the run with ``status`` unless it is the caller's active run (e.g. inside ``mlflow.models.evaluate``), which its owner ends.

        A failed status update is logged, never raised: it must not hide the evaluation's own outcome.
        """
        import mlflow

        active = mlflow.active_run()
        if active is not None and active.info.run_id == self.run_id:
            return
        try:
            self.client.set_terminated(self.run_id, status)
        except Exception as error:  # noqa: BLE001
            logger.error("could not mark run %s as %s: %s", self.run_id, status, first_line(error))


def is_generated_name(name: str | None) -> bool:
    """Whether ``name`` is one MLflow made up for an unnamed run (``predicate-noun-number`` from its own word lists)."""
    from mlflow.utils.name_utils import _GENERATOR_NOUNS, _GENERATOR_PREDICATES

    parts = (name or "").split("-")
    return len(parts) == 3 and parts[0] in _GENERATOR_PREDICATES and parts[1] in _GENERATOR_NOUNS and parts[2].isdigit()


def where_to_view(run_id: str, experiment_id: str, tracking_uri: str) -> str:
    """The run's page on a tracking server, or the ``mlflow ui`` command that serves a local store and the page it opens."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}"
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/{page}"
    return f"mlflow ui --backend-store-uri {tracking_uri}, then open http://127.0.0.1:5000/{page}"


def create_run(client: Any, *, experiment: str | None = None, run_name: str | None = None) -> str:
    """Create a run in ``experiment`` (created when missing; the default experiment when None) and return its id."""
    if experiment:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    else:
        from mlflow.tracking.fluent import _get_experiment_id

        experiment_id = _get_experiment_id()
    return client.create_run(experiment_id, run_name=run_name).info.run_id
