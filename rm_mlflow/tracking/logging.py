"""Logging an :class:`EvaluationReport` to an MLflow run: params, metrics, tags, dataset inputs, tables and result files.

Results are written to disk before anything is sent, and every MLflow call is retried with
backoff, so a flaky tracking server never loses an evaluation: what could not be sent stays in
the results folder and the last error is raised.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rm_mlflow.evaluation import BenchmarkReport, EvaluationReport

logger = logging.getLogger(__name__)
T = TypeVar("T")
ARTIFACT_DIR = "rm_eval"
_BATCH = 100  # MLflow's per-call limit for params and tags (metrics allow 1000)
_PARAM_LIMIT = 6000
_ARTIFACT_SUFFIXES = (".json", ".parquet", ".md", ".png", ".yaml")


def with_retries(call: Callable[[], T], *, what: str, attempts: int = 5, first_delay: float = 1.0) -> T:
    """Run an MLflow call, retrying transient errors (see :func:`is_transient`) with exponential backoff; the last error is raised."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - MLflow raises many types for transient failures
            if attempt == attempts or not is_transient(error):
                raise
            logger.warning("MLflow %s failed (%s); retry %d/%d in %.0fs", what, error, attempt, attempts - 1, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def is_transient(error: BaseException) -> bool:
    """Worth retrying: connection trouble, timeouts, 429 and 5xx. A rejected request (4xx) fails the same way again."""
    from mlflow.exceptions import MlflowException

    if isinstance(error, MlflowException):
        status = error.get_http_status_code()
        return status >= 500 or status == 429
    return True


def evaluation_params(report: EvaluationReport) -> dict[str, str]:
    params: dict[str, Any] = {"model.name": report.model.get("name")}
    params |= {f"scoring.{key}": value for key, value in report.settings.items()}
    params |= {f"model.{key}": value for key, value in report.model.items() if key != "name"}
    params["dataset.names"] = ",".join(report.benchmarks)
    for name, benchmark in report.benchmarks.items():
        params[f"dataset.{name}.source"] = benchmark.source
        params[f"dataset.{name}.split"] = benchmark.split
        params[f"dataset.{name}.revision"] = benchmark.revision
    return {key: str(value)[:_PARAM_LIMIT] for key, value in params.items() if value is not None}


def evaluation_tags(report: EvaluationReport) -> dict[str, str]:
    return {
        "rm_mlflow.version": report.environment.get("rm-mlflow", "unknown"),
        "rm_mlflow.device": str(report.model.get("device")),
        "rm_mlflow.datasets": ",".join(report.benchmarks),
    }


def log_evaluation(
    report: EvaluationReport,
    results_dir: Path | str,
    *,
    run_id: str,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    client: Any = None,
) -> dict[str, str]:
    """Log ``report`` (already written to ``results_dir``) to run ``run_id``; returns artifact name -> URI.

    ``params`` and ``tags`` are added to the evaluation's own (e.g. the model's registry name and version);
    ``metrics`` replaces ``report.metrics()`` when the caller added some (e.g. the promotion gate's outcome).
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = client or MlflowClient()
    results_dir = Path(results_dir)
    now = int(time.time() * 1000)

    all_params = evaluation_params(report) | dict(params or {})
    _in_batches(client, run_id, [Param(key, value) for key, value in all_params.items()], kind="params")
    values = report.metrics() if metrics is None else metrics
    _in_batches(client, run_id, [Metric(key, float(value), now, 0) for key, value in values.items()], kind="metrics", size=1000)
    all_tags = evaluation_tags(report) | dict(tags or {})
    _in_batches(client, run_id, [RunTag(key, value) for key, value in all_tags.items()], kind="tags")

    log_dataset_inputs(report, run_id=run_id, client=client)
    artifact_root = with_retries(lambda: client.get_run(run_id).info.artifact_uri, what="get_run").rstrip("/")
    uris: dict[str, str] = {}
    for path in sorted(results_dir.iterdir()):
        if path.is_file() and path.suffix in _ARTIFACT_SUFFIXES:
            with_retries(lambda path=path: client.log_artifact(run_id, str(path), ARTIFACT_DIR), what=f"log_artifact {path.name}")
            uris[path.stem] = f"{artifact_root}/{ARTIFACT_DIR}/{path.name}"
    for name, benchmark in report.benchmarks.items():
        artifact_file = f"{ARTIFACT_DIR}/{name}_examples.json"
        table = _table(benchmark)
        with_retries(lambda table=table, file=artifact_file: client.log_table(run_id, table, file), what="log_table")
        uris[f"{name}_examples"] = f"{artifact_root}/{artifact_file}"
    return uris


def _in_batches(client: Any, run_id: str, items: list, *, kind: str, size: int = _BATCH) -> None:
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        with_retries(lambda chunk=chunk: client.log_batch(run_id, **{kind: chunk}), what=f"log_batch ({kind})")


def _table(benchmark: BenchmarkReport):
    """The per-example table with list columns as JSON text, so the UI's table view shows them."""
    list_columns = ("chosen_scores", "rejected_scores", "chosen_tokens", "rejected_tokens")
    return benchmark.examples.assign(**{column: benchmark.examples[column].map(json.dumps) for column in list_columns})


def log_dataset_inputs(report: EvaluationReport, *, run_id: str, client: Any) -> None:
    """Record each benchmark as a run input (name, source, digest, schema), for MLflow's dataset lineage."""
    import mlflow
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = []
    for name, benchmark in report.benchmarks.items():
        frame = benchmark.examples[["id", "subset"]].astype(str)
        with warnings.catch_warnings():  # MLflow registers the local-file source twice ("" and "file:") and warns about it
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
            dataset = mlflow.data.from_pandas(frame, source=_dataset_source(benchmark), name=name)
        inputs.append(DatasetInput(dataset=dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, "evaluation")]))
    if inputs:
        with_retries(lambda: client.log_inputs(run_id, inputs), what="log_inputs")


def _dataset_source(benchmark: BenchmarkReport) -> Any:
    from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource

    if benchmark.source.startswith("hf://datasets/"):
        return HuggingFaceDatasetSource(path=benchmark.source.removeprefix("hf://datasets/"), split=benchmark.split, revision=benchmark.revision)
    return benchmark.source


def start_evaluation_run(*, tracking_uri: str | None = None, experiment: str | None = None, run_name: str | None = None) -> str:
    """Create a run (in ``experiment`` at ``tracking_uri``, defaults from the environment) and return its id."""
    import mlflow
    from mlflow import MlflowClient

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient()
    experiment_id = None
    if experiment:
        found = with_retries(lambda: client.get_experiment_by_name(experiment), what="get_experiment_by_name")
        experiment_id = found.experiment_id if found else with_retries(lambda: client.create_experiment(experiment), what="create_experiment")
    else:
        experiment_id = _default_experiment_id()
    run = with_retries(lambda: client.create_run(experiment_id, run_name=run_name), what="create_run")
    return run.info.run_id


def _default_experiment_id() -> str:
    from mlflow.tracking.fluent import _get_experiment_id

    return _get_experiment_id()
