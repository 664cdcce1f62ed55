"""The promotion gate: a candidate's metrics checked with MLflow's own validation (``MetricThreshold``).

Optionally against the latest evaluation of a baseline alias (e.g. ``champion``) of the same registered
model, and optionally with a confidence rule: a paired bootstrap over the examples both evaluations
scored must show the candidate better with at least ``min_probability`` (superiority), or its interval
for the difference must not reach below ``-max_regression`` (non-inferiority).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rm_mlflow.errors import OptionError
from rm_mlflow.results import Results
from rm_mlflow.tracking.earlier_runs import download_results, latest_evaluation_run
from rm_mlflow.tracking.references import ModelReference

logger = logging.getLogger(__name__)
_THRESHOLD_FIELDS = ("threshold", "min_absolute_change", "min_relative_change", "greater_is_better")


_CONFIDENCE_FIELDS = ("metric", "min_probability", "max_regression", "level", "resamples", "seed")


@dataclass(frozen=True)
class GateConfig:
    """``thresholds`` maps a metric name to a number (minimum value) or to MetricThreshold's fields.

    ``confidence`` (needs ``baseline_alias``): ``{"metric": "rewardbench/score", "min_probability": 0.95}``
    (the candidate is better with at least that probability) and/or ``"max_regression": 0.01`` (the lower
    end of the difference's interval is above -0.01); ``level``, ``resamples`` and ``seed`` set the bootstrap.
    """

    thresholds: Mapping[str, Any]
    baseline_alias: str | None = None
    confidence: Mapping[str, Any] | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GateConfig:
        """Build from ``evaluator_config["gate"]``, validating every threshold and the confidence rule now."""
        unknown = sorted(set(values) - {"thresholds", "baseline_alias", "confidence"})
        if unknown or not (values.get("thresholds") or values.get("confidence")):
            raise OptionError(
                "gate: expected {'thresholds': {metric: value or {...}}, 'baseline_alias': ..., 'confidence': {...}}, "
                f"got keys {sorted(values)}"
            )
        config = cls(thresholds=dict(values.get("thresholds") or {}), baseline_alias=values.get("baseline_alias"),
                     confidence=dict(values["confidence"]) if values.get("confidence") else None)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`OptionError` for a threshold MLflow's ``MetricThreshold`` would refuse, or a malformed confidence rule."""
        metric_thresholds(self.thresholds)
        if self.confidence is None:
            return
        unknown = sorted(set(self.confidence) - set(_CONFIDENCE_FIELDS))
        if unknown or "metric" not in self.confidence:
            raise OptionError(f"gate confidence: needs 'metric' and takes {', '.join(_CONFIDENCE_FIELDS)}; got {sorted(self.confidence)}")
        if not self.baseline_alias:
            raise OptionError("gate confidence: compares with a baseline; set baseline_alias (e.g. 'champion')")
        probability, regression = self.confidence.get("min_probability"), self.confidence.get("max_regression")
        if probability is None and regression is None:
            raise OptionError("gate confidence: give min_probability (e.g. 0.95), max_regression (e.g. 0.01), or both")
        if probability is not None and not 0 < float(probability) < 1:
            raise OptionError(f"gate confidence: min_probability must be between 0 and 1, got {probability!r}")
        if regression is not None and float(regression) < 0:
            raise OptionError(f"gate confidence: max_regression must be 0 or more, got {regression!r}")


@dataclass(frozen=True)
class GateOutcome:
    """Whether the candidate passed, MLflow's message, and the baseline it was compared with."""

    passed: bool
    message: str
    baseline: str | None = None
    baseline_run_id: str | None = None
    confidence: dict[str, float] | None = None  # delta, ci_low, ci_high, p_better of the confidence rule's metric

    def as_dict(self) -> dict[str, Any]:
        """The outcome as plain values, for ``results.json``."""
        return asdict(self)


def _threshold_fields(metric: str, spec: Any) -> dict[str, Any]:
    if isinstance(spec, bool) or not isinstance(spec, (int, float, Mapping)):
        raise OptionError(f"gate threshold for {metric!r}: expected a number or a mapping of {', '.join(_THRESHOLD_FIELDS)}, got {spec!r}")
    values = {"threshold": float(spec)} if isinstance(spec, (int, float)) else dict(spec)
    unknown = sorted(set(values) - set(_THRESHOLD_FIELDS))
    if unknown:
        raise OptionError(f"gate threshold for {metric!r}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_THRESHOLD_FIELDS)}")
    values.setdefault("greater_is_better", True)
    return values


def metric_thresholds(thresholds: Mapping[str, Any]) -> dict[str, Any]:
    """MLflow ``MetricThreshold`` objects for ``{metric: number or fields}``."""
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation.validation import MetricThresholdClassException

    built = {}
    for metric, spec in thresholds.items():
        try:
            built[metric] = MetricThreshold(**_threshold_fields(metric, spec))
        except MetricThresholdClassException as error:
            raise OptionError(f"gate threshold for {metric!r}: {error.message}") from None
    return built


def check_gate(
    metrics: Mapping[str, float],
    config: GateConfig,
    *,
    reference: ModelReference | None = None,
    experiment_id: str | None = None,
    client: Any = None,
    candidate: Results | None = None,
) -> GateOutcome:
    """Validate ``metrics`` with ``mlflow.validate_evaluation_results`` and the confidence rule; a failed check is an outcome.

    ``candidate`` holds the candidate's results (in memory, before they are written), which the confidence
    rule compares example by example with the baseline run's.
    """
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
    if config.confidence is None:
        return GateOutcome(True, "all thresholds met", baseline, baseline_run)
    if baseline_run is None or candidate is None:
        return GateOutcome(False, f"no finished evaluation of {baseline} to compare with, so the confidence rule cannot pass", baseline, baseline_run)
    passed, message, figures = _confidence(config.confidence, candidate, baseline_run, client)
    return GateOutcome(passed, message, baseline, baseline_run, figures)


def _confidence(rule: Mapping[str, Any], candidate: Results, baseline_run: str, client: Any) -> tuple[bool, str, dict[str, float] | None]:
    """Compare the candidate's examples with the baseline run's by paired bootstrap and apply the rule."""
    import tempfile

    from rm_mlflow.comparison import compare_folders, probability_better

    metric = rule["metric"]
    level = float(rule.get("level", 0.95))
    with tempfile.TemporaryDirectory(prefix="rm-mlflow-gate-") as tmp:
        baseline_dir = download_results(baseline_run, tmp, client=client)
        comparison = compare_folders(baseline_dir, candidate, resamples=int(rule.get("resamples", 1000)), level=level,
                                     seed=int(rule.get("seed", 0)))
    figures = probability_better(comparison, metric)
    if figures is None:
        return False, f"confidence rule: {metric} was not evaluated by both the candidate and the baseline", None
    checks, failed = [], False
    if rule.get("min_probability") is not None:
        ok = figures["p_better"] >= float(rule["min_probability"])
        failed |= not ok
        checks.append(f"P(better) {figures['p_better']:.3f} {'>=' if ok else '<'} {float(rule['min_probability']):.3f}")
    if rule.get("max_regression") is not None:
        ok = figures["ci_low"] >= -float(rule["max_regression"])
        failed |= not ok
        checks.append(f"interval low end {figures['ci_low']:+.4f} {'>=' if ok else '<'} {-float(rule['max_regression']):+.4f}")
    detail = (f"{metric}: delta {figures['delta']:+.4f} [{figures['ci_low']:+.4f}, {figures['ci_high']:+.4f}] "
              f"({100 * level:.0f}% paired bootstrap); " + "; ".join(checks))
    return not failed, ("confidence rule met: " if not failed else "confidence rule not met: ") + detail, figures


def _baseline(alias: str, reference: ModelReference | None, experiment_id: str | None, client: Any) -> tuple[str, str | None, dict | None]:
    """The metrics of the latest finished evaluation run of ``name@alias``; none when the alias or its run is missing."""
    from mlflow import MlflowClient

    if reference is None or not reference.registered_name:
        raise OptionError(f"gate baseline_alias {alias!r} needs a registered model (models:/NAME/VERSION or models:/NAME@ALIAS)")
    client = client or MlflowClient()
    name = reference.registered_name
    try:
        version = client.get_model_version_by_alias(name, alias)
    except Exception:  # noqa: BLE001 - a missing alias means there is no baseline yet
        logger.warning("gate: %s has no alias %r; thresholds that compare with a baseline will fail", name, alias)
        return f"{name}@{alias} (missing)", None, {}
    label = f"{name}@{alias} (v{version.version})"
    run = latest_evaluation_run(name, str(version.version), client=client, experiment_id=experiment_id)
    if run is None:
        logger.warning("gate: no finished evaluation of %s found; thresholds that compare with a baseline will fail", label)
        return label, None, {}
    return label, run.info.run_id, dict(run.data.metrics)
