"""Logging an :class:`EvaluationReport` to the active MLflow run: params, metrics, tags and result files.

Results are written to disk before anything is sent, and every MLflow call is retried with
backoff, so a flaky tracking server never loses an evaluation.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rm_mlflow.evaluation import EvaluationReport

logger = logging.getLogger(__name__)
T = TypeVar("T")
_METRICS_PER_CALL = 500
_PARAM_LIMIT = 6000


def with_retries(call: Callable[[], T], *, what: str, attempts: int = 5, first_delay: float = 1.0) -> T:
    """Run an MLflow call, retrying on any error with exponential backoff; the last error is raised."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - MLflow raises many types for transient failures
            if attempt == attempts:
                raise
            logger.warning("MLflow %s failed (%s); retry %d/%d in %.0fs", what, error, attempt, attempts - 1, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def evaluation_params(report: EvaluationReport) -> dict[str, str]:
    params: dict[str, Any] = {"model": report.model.get("name")}
    params |= {f"scoring.{key}": value for key, value in report.settings.items()}
    params |= {f"model.{key}": value for key, value in report.model.items() if key != "name"}
    for name, benchmark in report.benchmarks.items():
        params[f"dataset.{name}.source"] = benchmark.source
        params[f"dataset.{name}.split"] = benchmark.split
        params[f"dataset.{name}.revision"] = benchmark.revision
    return {key: str(value)[:_PARAM_LIMIT] for key, value in params.items() if value is not None}


def log_evaluation(report: EvaluationReport, results_dir: Path | str) -> None:
    """Log ``report`` (already written to ``results_dir`` by :func:`rm_mlflow.results.write_results`) to the active run."""
    import mlflow

    results_dir = Path(results_dir)
    with_retries(lambda: mlflow.log_params(evaluation_params(report)), what="log_params")
    metrics = report.metrics()
    items = list(metrics.items())
    for start in range(0, len(items), _METRICS_PER_CALL):
        chunk = dict(items[start : start + _METRICS_PER_CALL])
        with_retries(lambda chunk=chunk: mlflow.log_metrics(chunk), what="log_metrics")
    tags = {"rm_mlflow.version": report.environment.get("rm-mlflow", "unknown"), "rm_mlflow.device": str(report.model.get("device"))}
    with_retries(lambda: mlflow.set_tags(tags), what="set_tags")
    for path in sorted(results_dir.iterdir()):
        if path.suffix in (".json", ".parquet", ".md", ".png"):
            with_retries(lambda path=path: mlflow.log_artifact(str(path), artifact_path="rm_eval"), what=f"log_artifact {path.name}")
    for name, benchmark in report.benchmarks.items():
        table = benchmark.examples.assign(
            chosen_scores=benchmark.examples["chosen_scores"].map(json.dumps),
            rejected_scores=benchmark.examples["rejected_scores"].map(json.dumps),
            chosen_tokens=benchmark.examples["chosen_tokens"].map(json.dumps),
            rejected_tokens=benchmark.examples["rejected_tokens"].map(json.dumps),
        )
        with_retries(lambda table=table, name=name: mlflow.log_table(table, artifact_file=f"rm_eval/{name}_examples.json"), what="log_table")


def log_to_new_run(
    report: EvaluationReport,
    results_dir: Path | str,
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
) -> str:
    """Start a run (in ``experiment`` at ``tracking_uri``, defaults from the environment), log the report, return the run id."""
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    if experiment:
        with_retries(lambda: mlflow.set_experiment(experiment), what="set_experiment")
    run = with_retries(lambda: mlflow.start_run(run_name=run_name), what="start_run")
    try:
        log_evaluation(report, results_dir)
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run()
    return run.info.run_id
