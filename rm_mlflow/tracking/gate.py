"""The promotion gate: a candidate's metrics checked with MLflow's own validation (``MetricThreshold``).

Optionally against the latest evaluation of a baseline alias (e.g. ``champion``) of the same registered
model, and optionally with a confidence rule: a paired bootstrap over the examples both evaluations
scored must show the candidate better with at least ``min_probability`` (superiority), or its interval
for the difference must not reach below ``-max_regression`` (non-inferiority).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Mapping
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

    @classmethod
    def from_flags(
        cls, *, metric: str, minimum: float | None = None, alias: str | None = None, margin: float | None = None,
        confidence: float | None = None, max_regression: float | None = None, baseline_given: bool = False,
    ) -> GateConfig | None:
        """The gate the ``--gate_*`` flags describe (None when none is set).

        ``--gate_min``: ``metric`` at least this; ``--gate_margin``: above the baseline's by at least this; ``--gate_confidence``:
        better than the baseline with at least this probability (paired bootstrap); ``--gate_max_regression``: the lower end
        of the difference's interval above minus this. The last three need a baseline: ``--gate_alias`` (or ``baseline_given``).
        """
        if minimum is None and margin is None and confidence is None and max_regression is None:
            if alias:
                raise OptionError("--gate_alias needs a rule: --gate_min, --gate_margin, --gate_confidence or --gate_max_regression")
            return None
        if not (alias or baseline_given) and (margin is not None or confidence is not None or max_regression is not None):
            raise OptionError("--gate_margin, --gate_confidence and --gate_max_regression compare with the champion: add --gate_alias "
                              "(e.g. --gate_alias champion)")
        threshold = {key: value for key, value in (("threshold", minimum), ("min_absolute_change", margin)) if value is not None}
        rule = {key: value for key, value in (("min_probability", confidence), ("max_regression", max_regression)) if value is not None}
        config = cls(thresholds={metric: threshold} if threshold else {}, baseline_alias=alias,
                     confidence={"metric": metric, **rule} if rule else None)
        config.validate(baseline_given=baseline_given)
        return config

    def validate(self, *, baseline_given: bool = False) -> None:
        """Raise :class:`OptionError` for a threshold MLflow's ``MetricThreshold`` would refuse, or a malformed confidence rule."""
        metric_thresholds(self.thresholds)
        if self.confidence is None:
            return
        unknown = sorted(set(self.confidence) - set(_CONFIDENCE_FIELDS))
        if unknown or "metric" not in self.confidence:
            raise OptionError(f"gate confidence: needs 'metric' and takes {', '.join(_CONFIDENCE_FIELDS)}; got {sorted(self.confidence)}")
        if not (self.baseline_alias or baseline_given):
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
    """Gate an evaluation in progress against the latest evaluation of ``config.baseline_alias`` (the champion).

    ``candidate`` holds the candidate's results (in memory, before they are written), which the confidence
    rule compares example by example with the champion's. A missing or unevaluated champion is a failed
    outcome whose message says what to do.
    """
    if not config.baseline_alias:
        return decide_gate(metrics, config)
    from mlflow import MlflowClient

    client = client or MlflowClient()
    baseline, run, problem = _baseline(config.baseline_alias, reference, experiment_id, client)
    if run is None:
        return GateOutcome(False, str(problem), baseline)
    return decide_gate(metrics, config, baseline=baseline, baseline_run=run.info.run_id, baseline_metrics=dict(run.data.metrics),
                       candidate=candidate, baseline_results=lambda: _downloaded(run.info.run_id, client))


def gate_between(candidate: Results, baseline: Results, config: GateConfig, *, baseline_label: str) -> GateOutcome:
    """Gate one finished evaluation against another (``rm-mlflow gate``): the same thresholds and confidence rule."""
    metrics = {key: value for key, value in candidate.document.metrics.items() if value is not None}
    baseline_metrics = {key: value for key, value in baseline.document.metrics.items() if value is not None}
    return decide_gate(metrics, config, baseline=baseline_label, baseline_metrics=baseline_metrics, candidate=candidate,
                       baseline_results=lambda: contextlib.nullcontext(baseline))


def decide_gate(
    metrics: Mapping[str, float],
    config: GateConfig,
    *,
    baseline: str | None = None,
    baseline_run: str | None = None,
    baseline_metrics: Mapping[str, float] | None = None,
    candidate: Results | None = None,
    baseline_results: Any = None,
) -> GateOutcome:
    """``mlflow.validate_evaluation_results`` on the thresholds, then the confidence rule; a failed check is an outcome.

    MLflow's own "Model validation passed!" line is held back: only the gate's whole outcome is reported.
    """
    import mlflow
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    validation_log = logging.getLogger("mlflow.models.evaluation.validation")
    level = validation_log.level
    validation_log.setLevel(logging.WARNING)
    try:
        mlflow.validate_evaluation_results(
            metric_thresholds(config.thresholds),
            EvaluationResult(dict(metrics), {}, run_id="candidate"),
            EvaluationResult(dict(baseline_metrics), {}, run_id=baseline_run or "baseline") if baseline_metrics is not None else None,
        )
    except ModelValidationFailedException as error:
        return GateOutcome(False, " ".join(str(error.message).split()), baseline, baseline_run)
    finally:
        validation_log.setLevel(level)
    if config.confidence is None:
        return GateOutcome(True, "all thresholds met", baseline, baseline_run)
    if candidate is None or baseline_results is None:
        return GateOutcome(False, "the confidence rule needs both evaluations' per-example results", baseline, baseline_run)
    with baseline_results() as base:
        passed, message, figures = _confidence(config.confidence, candidate, base)
    return GateOutcome(passed, message, baseline, baseline_run, figures)


@contextlib.contextmanager
def _downloaded(run_id: str, client: Any) -> Iterator[Results]:
    """A finished run's results, downloaded into a temporary folder for the duration of the block."""
    with tempfile.TemporaryDirectory(prefix="rm-mlflow-gate-") as tmp:
        yield Results.read(download_results(run_id, tmp, client=client))


def _confidence(rule: Mapping[str, Any], candidate: Results, baseline: Results) -> tuple[bool, str, dict[str, float] | None]:
    """Compare the candidate's examples with the baseline's by paired bootstrap and apply the rule."""
    from rm_mlflow.comparison import compare_folders, probability_better

    metric = rule["metric"]
    level = float(rule.get("level", 0.95))
    comparison = compare_folders(baseline, candidate, resamples=int(rule.get("resamples", 1000)), level=level, seed=int(rule.get("seed", 0)))
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


def _baseline(alias: str, reference: ModelReference | None, experiment_id: str | None, client: Any) -> tuple[str, Any, str | None]:
    """(label, the latest finished evaluation run of ``name@alias``, None), or (label, None, what to do) when there is none."""
    from mlflow import MlflowClient

    if reference is None or not reference.registered_name:
        raise OptionError(f"gate baseline_alias {alias!r} needs a registered model (models:/NAME/VERSION or models:/NAME@ALIAS)")
    client = client or MlflowClient()
    name = reference.registered_name
    try:
        version = client.get_model_version_by_alias(name, alias)
    except Exception:  # noqa: BLE001 - a missing alias means there is no baseline yet
        return (f"{name}@{alias} (missing)", None,
                f"{name} has no alias {alias!r} to compare with: point it at the current champion "
                f"(MlflowClient().set_registered_model_alias({name!r}, {alias!r}, VERSION)) and evaluate it, or gate without --gate_alias")
    label = f"{name}@{alias} (v{version.version})"
    run = latest_evaluation_run(name, str(version.version), client=client, experiment_id=experiment_id)
    if run is None:
        return (label, None, f"{label} has no finished rm-mlflow evaluation to compare with: evaluate it first "
                             f"(rm-mlflow evaluate --model models:/{name}@{alias} --mlflow, same benchmarks and experiment)")
    return label, run, None
