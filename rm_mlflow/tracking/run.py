"""One evaluation recorded in one MLflow run: resolve the model, score, write results, plot, gate, log.

Every entry point (the ``reward_model`` evaluator plugin, ``mlflow run``, ``rm-mlflow evaluate --mlflow``,
the demo, the registration service) calls :func:`evaluate_to_run`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rm_mlflow.data.benchmark import Benchmark
from rm_mlflow.evaluation import EvaluationReport, evaluate_reward_model
from rm_mlflow.results import write_results
from rm_mlflow.scoring.base import RewardModel
from rm_mlflow.tracking.gate import GateConfig, GateOutcome, check_gate
from rm_mlflow.tracking.logging import log_evaluation, start_evaluation_run, with_retries
from rm_mlflow.tracking.models import ModelReference, load_model_for_scoring, resolve_model_reference
from rm_mlflow.tracking.plots import write_plots

logger = logging.getLogger(__name__)
SYNC_MODES = ("off", "local", "hub")


@dataclass(frozen=True)
class DataOptions:
    """How benchmarks are loaded (see :func:`rm_mlflow.data.load_benchmark`)."""

    data_dir: str | None = None
    split: str | None = None
    revision: str | None = None
    subsets: tuple[str, ...] = ()
    limit: int | None = None
    skip_invalid: bool = False

    def load_kwargs(self) -> dict[str, Any]:
        """These options as :func:`rm_mlflow.evaluate_reward_model` keyword arguments."""
        return {"data_dir": self.data_dir, "split": self.split, "revision": self.revision, "subsets": self.subsets or None,
                "limit": self.limit, "skip_invalid": self.skip_invalid}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DataOptions:
        values = dict(values)
        if isinstance(values.get("subsets"), str):
            values["subsets"] = tuple(s for s in values["subsets"].split(",") if s)
        return cls(**values)


@dataclass
class RunResult:
    run_id: str
    report: EvaluationReport
    metrics: dict[str, float]
    artifacts: dict[str, str]
    results_dir: Path
    reference: ModelReference | None = None
    gate: GateOutcome | None = None
    card_sync: list[dict[str, Any]] = field(default_factory=list)


def evaluate_to_run(
    model: str | ModelReference | RewardModel,
    datasets: Sequence[str | Benchmark],
    *,
    run_id: str | None = None,
    reference: ModelReference | None = None,
    settings: Mapping[str, Any] | None = None,
    model_kind: str = "auto",
    data: DataOptions | None = None,
    gate: GateConfig | None = None,
    output_dir: Path | str | None = None,
    resume: bool = True,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    progress: bool = True,
    sync_model_card: str = "off",
    model_card: Mapping[str, Any] | None = None,
) -> RunResult:
    """Evaluate ``model`` on ``datasets`` and log everything to run ``run_id`` (a new run when None).

    ``reference`` names an already-loaded ``model`` (its registry name and version go into params and tags).
    ``settings`` are explicit scoring settings (``ScoringSettings`` fields); a model logged with
    :func:`rm_mlflow.log_model` starts from its logged ones. Results are written to ``output_dir``
    (a temporary folder when None) before anything is sent to MLflow; scores cached there are reused
    when ``resume`` is true, so a killed run picks up where it stopped.

    ``sync_model_card`` (``off``, ``local``, ``hub``) writes the results into the model card once
    they are logged (see :func:`rm_mlflow.card.sync_after_evaluation`); a failed sync is reported in
    the run (tag ``rm_mlflow.card_sync``) and never loses the evaluation.
    """
    from mlflow import MlflowClient

    data = data or DataOptions()
    reward_model: RewardModel | None = None
    if isinstance(model, RewardModel):
        reward_model = model
    else:
        reference = model if isinstance(model, ModelReference) else resolve_model_reference(model)
    if run_id is None:
        run_id = start_evaluation_run(tracking_uri=tracking_uri, experiment=experiment, run_name=run_name or _run_name(reference))
    client = MlflowClient()
    output = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="rm-mlflow-"))
    cache_path = output / "score_cache.jsonl"
    if not resume and cache_path.exists():
        cache_path.unlink()

    try:
        if reward_model is None:
            reward_model = load_model_for_scoring(reference, settings, kind=model_kind)
        elif reference is not None:
            reward_model.name = reference.display_name
        report = evaluate_reward_model(reward_model, datasets, cache_path=cache_path, progress=progress, **data.load_kwargs())
    except BaseException:
        _end_run(client, run_id, "FAILED")
        raise

    metrics = report.metrics()
    outcome = None
    if gate is not None:
        experiment_id = with_retries(lambda: client.get_run(run_id).info.experiment_id, what="get_run")
        outcome = check_gate(metrics, gate, reference=reference, experiment_id=experiment_id, client=client)
        metrics["gate/passed"] = float(outcome.passed)
        logger.info("promotion gate %s: %s", "passed" if outcome.passed else "FAILED", outcome.message)
    write_results(report, output, extra={"gate": outcome.as_dict()} if outcome else None)
    write_plots(report, output)

    tags = dict(reference.tags()) if reference else {}
    if outcome is not None:
        tags["rm_mlflow.gate"] = "passed" if outcome.passed else "failed"
    try:
        artifacts = log_evaluation(
            report, output, run_id=run_id, params=reference.params() if reference else None, tags=tags, metrics=metrics, client=client,
        )
    except BaseException:
        logger.error("logging to MLflow run %s failed; the results are kept in %s", run_id, output)
        _end_run(client, run_id, "FAILED")
        raise
    card_sync = []
    if sync_model_card != "off":
        card_sync = _sync_card(sync_model_card, dict(model_card or {}), output, run_id, reference, client)
    _end_run(client, run_id, "FINISHED")
    return RunResult(
        run_id=run_id, report=report, metrics=metrics, artifacts=artifacts, results_dir=output, reference=reference, gate=outcome,
        card_sync=card_sync,
    )


def _sync_card(mode: str, options: dict[str, Any], output: Path, run_id: str, reference: ModelReference | None, client: Any) -> list[dict]:
    from rm_mlflow.card import CardTarget, sync_after_evaluation

    if mode not in SYNC_MODES:
        raise ValueError(f"sync_model_card must be one of {', '.join(SYNC_MODES)}, got {mode!r}")
    if reference is not None:
        if reference.source == "huggingface" and Path(reference.uri).is_dir():
            options.setdefault("model_dir", reference.uri)
            options.setdefault("model_name", Path(reference.uri).name)
        elif reference.source == "huggingface":
            options.setdefault("repo_id", reference.uri)
        options.setdefault("model_name", reference.registered_name or options.get("repo_id") or reference.uri)
    outcomes = sync_after_evaluation(CardTarget(mode=mode, **options), output / "results.json", run_id=run_id, client=client)
    failed = [item for item in outcomes if item["status"] == "failed"]
    status = "failed" if failed else "succeeded"
    with_retries(lambda: client.set_tag(run_id, "rm_mlflow.card_sync", status), what="set_tag")
    if failed:
        with_retries(lambda: client.set_tag(run_id, "rm_mlflow.card_sync.error", failed[0]["error"][:5000]), what="set_tag")
    return outcomes


def _run_name(reference: ModelReference | None) -> str | None:
    if reference is None:
        return None
    if reference.registered_name:
        return f"{reference.registered_name}-v{reference.version}"
    return Path(reference.uri).name or reference.uri


def _end_run(client: Any, run_id: str, status: str) -> None:
    """End the run unless it is the caller's active run (e.g. inside ``mlflow.models.evaluate``), which its owner ends."""
    import mlflow

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        return
    try:
        with_retries(lambda: client.set_terminated(run_id, status), what="set_terminated")
    except Exception as error:  # noqa: BLE001 - the results are logged; a failed status update must not hide them
        logger.error("could not mark run %s as %s: %s", run_id, status, error)
