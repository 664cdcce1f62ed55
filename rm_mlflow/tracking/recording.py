"""Logging a results folder to an MLflow run: params, metrics, tags, dataset inputs, tables and result files.

Everything is logged from the folder the evaluation wrote (``results.json``, ``<benchmark>_scores.parquet``,
``summary.md``, plots), never from memory. So the pipeline's log step and ``rm-mlflow log FOLDER
--run-id ID`` (re-logging results kept while the tracking server was down) are the same code, and
what a run shows is exactly what is on disk. MLflow's client retries each call itself (5xx, 429, connection
errors: ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``), so nothing here wraps it again.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rm_mlflow.metrics.outcomes import metric_slug
from rm_mlflow.results import RESULTS_FILE, BenchmarkResults, ResultsDocument, read_results, scores_table
from rm_mlflow.tracking.references import ModelReference, logged_model_id

ARTIFACT_DIR = "rm_eval"
_BATCH = 100  # MLflow's per-call limit for params and tags (metrics allow 1000)
_PARAM_LIMIT = 6000
_ARTIFACT_SUFFIXES = (".json", ".parquet", ".md", ".png", ".yaml")
_LIST_COLUMNS = ("chosen_scores", "rejected_scores", "chosen_tokens", "rejected_tokens")


def run_params(results: ResultsDocument) -> dict[str, str]:
    """Params of an evaluation run: the model, every scoring setting, each benchmark's source, split and revision."""
    params: dict[str, Any] = {"model.name": results.model.get("name")}
    params |= {f"scoring.{key}": value for key, value in results.settings.items()}
    params |= {f"model.{key}": value for key, value in results.model.items() if key != "name"}
    params["dataset.names"] = ",".join(results.benchmarks)
    for name, benchmark in results.benchmarks.items():
        params[f"dataset.{name}.source"] = benchmark.source
        params[f"dataset.{name}.split"] = benchmark.split
        params[f"dataset.{name}.revision"] = benchmark.revision
        params[f"dataset.{name}.digest"] = benchmark.digest
    for part in ("weights", "tokenizer", "chat_template", "settings"):
        params[f"fingerprint.{part}"] = results.fingerprint.get(part)
    if results.reference:
        params |= ModelReference(**results.reference).params()
    return {key: str(value)[:_PARAM_LIMIT] for key, value in params.items() if value is not None}


def run_tags(results: ResultsDocument) -> dict[str, str]:
    """Tags: rm-mlflow version, device, datasets, the model's registry name/version/alias and the gate's outcome."""
    tags = {
        "rm_mlflow.version": results.environment.get("rm-mlflow", "unknown"),
        "rm_mlflow.device": str(results.model.get("device")),
        "rm_mlflow.datasets": ",".join(results.benchmarks),
    }
    for key in ("kind", "leaderboard_type", "ref_model"):
        if results.model.get(key):
            tags[f"rm_mlflow.{'model_' if key == 'kind' else ''}{key}"] = str(results.model[key])
    if results.reference:
        tags |= ModelReference(**results.reference).tags()
    if results.gate:
        tags["rm_mlflow.gate"] = "passed" if results.gate["passed"] else "failed"
    if results.fingerprint.get("id"):
        tags["rm_mlflow.fingerprint"] = results.fingerprint["id"]
    for finding in results.checks:
        tags[f"rm_mlflow.doctor.{metric_slug(finding['check'])}"] = finding["verdict"]
    partial = partial_note(results)
    if partial:
        tags[PARTIAL_TAG] = partial
    return tags


PARTIAL_TAG = "rm_mlflow.partial"


def partial_note(results: ResultsDocument) -> str | None:
    """``rmb: --limit 2: 190 of 18,322 examples`` for each benchmark that is not whole, or None."""
    notes = [f"{name}: {benchmark.partial}" for name, benchmark in results.benchmarks.items() if benchmark.partial]
    return "; ".join(notes)[:5000] or None


def run_metrics(results: ResultsDocument) -> dict[str, float]:
    """Every metric of the evaluation, plus the gate's when a gate ran."""
    # null is a figure that does not apply to this run (examples/s of a resumed one): logged as NaN, so every run has the same keys
    metrics = {key: float("nan") if value is None else float(value) for key, value in results.metrics.items()}
    return metrics | gate_metrics(results.gate)


def gate_metrics(gate: Mapping[str, Any] | None) -> dict[str, float]:
    """``gate/passed`` and, with a confidence rule, ``gate/p_better``, ``gate/delta``, ``gate/delta_ci_low``, ``gate/delta_ci_high``."""
    if not gate:
        return {}
    metrics = {"gate/passed": float(gate["passed"])}
    figures = gate.get("confidence") or {}
    for key, name in (("p_better", "p_better"), ("delta", "delta"), ("ci_low", "delta_ci_low"), ("ci_high", "delta_ci_high")):
        if figures.get(key) is not None:
            metrics[f"gate/{name}"] = float(figures[key])
    return metrics


def log_results(results_dir: Path | str, *, run_id: str, client: Any = None) -> dict[str, str]:
    """Log the results folder of one evaluation to run ``run_id``; returns artifact name -> URI.

    Args:
        results_dir: a folder written by the pipeline's write step (holding ``results.json``).
        run_id: the run to log to (it is not ended here).
        client: an ``MlflowClient``; one for the current tracking URI when None.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = client or MlflowClient()
    results_dir = Path(results_dir)
    results = read_results(results_dir / RESULTS_FILE)
    now = int(time.time() * 1000)
    _in_batches(client, run_id, [Param(key, value) for key, value in run_params(results).items()], kind="params")
    model_id = logged_model_id(results.reference, client)
    metrics = [Metric(key, value, now, 0, **_model_metric_fields(key, results, model_id)) for key, value in run_metrics(results).items()]
    _in_batches(client, run_id, metrics, kind="metrics", size=1000)
    _in_batches(client, run_id, [RunTag(key, value) for key, value in run_tags(results).items()], kind="tags")

    tables = {name: scores_table(results_dir, name) for name in results.benchmarks}
    log_dataset_inputs(results, tables, run_id=run_id, client=client)
    artifact_root = client.get_run(run_id).info.artifact_uri.rstrip("/")
    uris: dict[str, str] = {}
    for path in sorted(results_dir.iterdir()):
        if path.is_file() and path.suffix in _ARTIFACT_SUFFIXES:
            client.log_artifact(run_id, str(path), ARTIFACT_DIR)
            uris[path.stem] = f"{artifact_root}/{ARTIFACT_DIR}/{path.name}"
    for name, table in tables.items():
        artifact_file = f"{ARTIFACT_DIR}/{name}_examples.json"
        shown = _displayable(table)
        client.log_table(run_id, shown, artifact_file)
        uris[f"{name}_examples"] = f"{artifact_root}/{artifact_file}"
    return uris


def _model_metric_fields(key: str, results: ResultsDocument, model_id: str | None) -> dict[str, str]:
    """A metric's link to the evaluated LoggedModel and, for a benchmark's figures, to its dataset (name and content digest).

    Logged once, the metric shows on the run and on the model's page, and ``mlflow.search_logged_models`` filters by it.
    """
    if model_id is None:
        return {}
    benchmark = results.benchmarks.get(key.split("/", 1)[0])
    if benchmark is None or not benchmark.digest:
        return {"model_id": model_id}
    return {"model_id": model_id, "dataset_name": key.split("/", 1)[0], "dataset_digest": benchmark.digest}


def _in_batches(client: Any, run_id: str, items: list, *, kind: str, size: int = _BATCH) -> None:
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        client.log_batch(run_id, **{kind: chunk})


def _displayable(table: pd.DataFrame) -> pd.DataFrame:
    """The per-example table with list columns as JSON text, so the UI's table view shows them."""
    as_json = {column: table[column].map(lambda value: json.dumps(np.asarray(value).tolist())) for column in _LIST_COLUMNS if column in table}
    return table.assign(**as_json)


def log_dataset_inputs(results: ResultsDocument, tables: Mapping[str, pd.DataFrame], *, run_id: str, client: Any) -> None:
    """Record each benchmark as a run input (name, source, digest, schema), for MLflow's dataset lineage."""
    import mlflow
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = []
    for name, benchmark in results.benchmarks.items():
        frame = tables[name][["id", "subset"]].astype(str)
        with warnings.catch_warnings():  # MLflow registers the local-file source twice ("" and "file:") and warns about it
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
            dataset = mlflow.data.from_pandas(frame, source=_dataset_source(benchmark), name=name, digest=benchmark.digest)
        inputs.append(DatasetInput(dataset=dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, "evaluation")]))
    if inputs:
        client.log_inputs(run_id, inputs)


def _dataset_source(benchmark: BenchmarkResults) -> Any:
    from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource

    source = str(benchmark.source)
    if source.startswith("hf://datasets/"):
        return HuggingFaceDatasetSource(path=source.removeprefix("hf://datasets/"), split=benchmark.split, revision=benchmark.revision)
    return source


def write_comparison(comparison: Any, output_dir: Path | str) -> Path:
    """Write a :class:`~rm_mlflow.comparison.Comparison` as ``comparison.json`` and its plot into ``output_dir``."""
    from rm_mlflow.comparison import comparison_document
    from rm_mlflow.tracking.plots import write_comparison_plot

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "comparison.json").write_text(json.dumps(comparison_document(comparison), indent=2, default=str), encoding="utf-8")
    write_comparison_plot(comparison, output_dir)
    return output_dir


def log_comparison(comparison: Any, output_dir: Path | str, *, run_id: str, client: Any) -> dict[str, str]:
    """Log a :class:`~rm_mlflow.comparison.Comparison` to a run: its metrics, ``comparison.json``, tables and plots."""
    from mlflow.entities import Metric, Param

    output_dir = write_comparison(comparison, output_dir)
    now = int(time.time() * 1000)
    params = {"compare.baseline": comparison.baseline, "compare.candidate": comparison.candidate,
              "compare.level": comparison.level, "compare.resamples": comparison.resamples}
    _in_batches(client, run_id, [Param(key, str(value)[:_PARAM_LIMIT]) for key, value in params.items()], kind="params")
    _in_batches(client, run_id, [Metric(key, value, now, 0) for key, value in comparison.metrics().items()], kind="metrics", size=1000)
    uris = {}
    for path in sorted(output_dir.iterdir()):
        if path.is_file() and path.suffix in _ARTIFACT_SUFFIXES:
            client.log_artifact(run_id, str(path), "rm_compare")
            uris[path.stem] = path.name
    client.log_table(run_id, comparison.table(), "rm_compare/differences.json")
    for name, benchmark in comparison.benchmarks.items():
        if not benchmark.flipped.empty:
            flipped = benchmark.flipped
            client.log_table(run_id, flipped, f"rm_compare/{name}_flipped.json")
    return uris
