"""Finding and fetching earlier evaluations: the latest finished run of a model version, and a run's results folder."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from rm_mlflow.errors import RmMlflowError
from rm_mlflow.results import RESULTS_FILE
from rm_mlflow.tracking.recording import ARTIFACT_DIR

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def latest_evaluation_run(name: str, version: str, *, client: Any, experiment_id: str | None = None) -> Any | None:
    """The newest FINISHED rm-mlflow evaluation run of ``models:/name/version`` (in ``experiment_id``, or anywhere), or None."""
    experiments = [experiment_id] if experiment_id else [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments,
        filter_string=(f"tags.`rm_mlflow.model_name` = '{name}' and tags.`rm_mlflow.model_version` = '{version}' "
                       "and attributes.status = 'FINISHED'"),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def download_results(run_id: str, destination: Path | str, *, client: Any) -> Path:
    """The run's ``rm_eval/`` results folder (``results.json`` and per-example tables), downloaded."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        folder = client.download_artifacts(run_id, ARTIFACT_DIR, str(destination))
    except Exception as error:  # noqa: BLE001 - missing run or artifacts: one line naming the run
        raise RmMlflowError(f"run {run_id}: cannot download its {ARTIFACT_DIR}/ results ({error}); is it an rm-mlflow evaluation run?") from error
    if not (Path(folder) / RESULTS_FILE).exists():
        raise RmMlflowError(f"run {run_id}: no {ARTIFACT_DIR}/{RESULTS_FILE}; is it an rm-mlflow evaluation run?")
    return Path(folder)


def results_folder(spec: str, *, client_factory: Any, workdir: Path | str | None = None) -> tuple[Path, str]:
    """A results folder and a label for one side of a comparison.

    ``spec`` is a folder holding ``results.json``, an MLflow run id, or ``models:/NAME/VERSION`` /
    ``models:/NAME@ALIAS`` (meaning that version's latest finished evaluation run).
    """
    path = Path(spec).expanduser()
    if (path / RESULTS_FILE).exists():
        return path, str(path)
    if path.exists():
        raise RmMlflowError(f"{spec}: no {RESULTS_FILE} in this folder")
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rm-mlflow-compare-"))
    client = client_factory()
    if _RUN_ID.match(spec):
        return download_results(spec, workdir / spec, client=client), f"run {spec}"
    if spec.startswith("models:/"):
        from rm_mlflow.tracking.references import resolve_model_reference

        reference = resolve_model_reference(spec, client=client)
        if not reference.registered_name:
            raise RmMlflowError(f"{spec}: name a registered model version or alias (models:/NAME/VERSION or models:/NAME@ALIAS)")
        run = latest_evaluation_run(reference.registered_name, reference.version, client=client)
        if run is None:
            raise RmMlflowError(f"{spec}: no finished rm-mlflow evaluation of {reference.display_name} yet")
        return download_results(run.info.run_id, workdir / run.info.run_id, client=client), f"{spec} (v{reference.version}, run {run.info.run_id})"
    raise RmMlflowError(f"{spec}: not a results folder, an MLflow run id or a models:/ reference")
