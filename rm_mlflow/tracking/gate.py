"""The promotion gate: a candidate's metrics checked with MLflow's own validation (``MetricThreshold``),
optionally against the latest evaluation of a baseline alias (e.g. ``champion``) of the same registered model."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rm_mlflow.tracking.models import ModelReference

logger = logging.getLogger(__name__)
_THRESHOLD_FIELDS = ("threshold", "min_absolute_change", "min_relative_change", "greater_is_better")


@dataclass(frozen=True)
class GateConfig:
    """``thresholds`` maps a metric name to a number (minimum value) or to MetricThreshold's fields."""

    thresholds: Mapping[str, Any]
    baseline_alias: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GateConfig:
        unknown = sorted(set(values) - {"thresholds", "baseline_alias"})
        if unknown or not values.get("thresholds"):
            raise ValueError(f"gate: expected {{'thresholds': {{metric: value or {{...}}}}, 'baseline_alias': ...}}, got keys {sorted(values)}")
        return cls(thresholds=dict(values["thresholds"]), baseline_alias=values.get("baseline_alias"))


@dataclass(frozen=True)
class GateOutcome:
    passed: bool
    message: str
    baseline: str | None = None
    baseline_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_thresholds(thresholds: Mapping[str, Any]) -> dict[str, Any]:
    from mlflow.models import MetricThreshold

    built = {}
    for metric, spec in thresholds.items():
        values = {"threshold": float(spec)} if isinstance(spec, (int, float)) else dict(spec)
        unknown = sorted(set(values) - set(_THRESHOLD_FIELDS))
        if unknown:
            raise ValueError(f"gate threshold for {metric!r}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_THRESHOLD_FIELDS)}")
        values.setdefault("greater_is_better", True)
        built[metric] = MetricThreshold(**values)
    return built


def check_gate(
    metrics: Mapping[str, float],
    config: GateConfig,
    *,
    reference: ModelReference | None = None,
    experiment_id: str | None = None,
    client: Any = None,
) -> GateOutcome:
    """Validate ``metrics`` with ``mlflow.validate_evaluation_results``; a failed check is an outcome, not an exception."""
    import mlflow
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    baseline_metrics, baseline, baseline_run = None, None, None
    if config.baseline_alias:
        baseline, baseline_run, baseline_metrics = _baseline(config.baseline_alias, reference, experiment_id, client)
    try:
        mlflow.validate_evaluation_results(
            metric_thresholds(config.thresholds),
            EvaluationResult(dict(metrics), {}, run_id="candidate"),
            EvaluationResult(baseline_metrics, {}, run_id=baseline_run) if baseline_metrics is not None else None,
        )
    except ModelValidationFailedException as error:
        return GateOutcome(False, str(error.message).strip(), baseline, baseline_run)
    return GateOutcome(True, "all thresholds met", baseline, baseline_run)


def _baseline(alias: str, reference: ModelReference | None, experiment_id: str | None, client: Any) -> tuple[str, str | None, dict | None]:
    """The metrics of the latest finished evaluation run of ``name@alias``; none when the alias or its run is missing."""
    from mlflow import MlflowClient

    if reference is None or not reference.registered_name:
        raise ValueError(f"gate baseline_alias {alias!r} needs a registered model (models:/NAME/VERSION or models:/NAME@ALIAS)")
    client = client or MlflowClient()
    name = reference.registered_name
    try:
        version = client.get_model_version_by_alias(name, alias)
    except Exception:  # noqa: BLE001 - a missing alias means there is no baseline yet
        logger.warning("gate: %s has no alias %r; thresholds that compare with a baseline will fail", name, alias)
        return f"{name}@{alias} (missing)", None, {}
    label = f"{name}@{alias} (v{version.version})"
    experiments = [experiment_id] if experiment_id else [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments,
        filter_string=f"tags.`rm_mlflow.model_name` = '{name}' and tags.`rm_mlflow.model_version` = '{version.version}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        logger.warning("gate: no finished evaluation of %s found; thresholds that compare with a baseline will fail", label)
        return label, None, {}
    return label, runs[0].info.run_id, dict(runs[0].data.metrics)
