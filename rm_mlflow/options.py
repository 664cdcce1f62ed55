"""Evaluation options as plain mappings (``evaluator_config``, MLproject parameters), validated in one place.

The command line builds its :class:`~rm_mlflow.pipeline.EvaluationRequest` from flags; the evaluator
plugin and the MLproject entry point build theirs from these mappings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.card.results_dataset import ResultsDatasetTarget
from rm_mlflow.card.sync import SYNC_MODES, CardTarget
from rm_mlflow.data.benchmark import Benchmark
from rm_mlflow.data.options import DataOptions
from rm_mlflow.errors import OptionError
from rm_mlflow.metrics.intervals import DEFAULT_LEVEL, DEFAULT_RESAMPLES
from rm_mlflow.pipeline import EvaluationRequest, ModelSpec
from rm_mlflow.scoring.settings import ScoringSettings, scoring_options
from rm_mlflow.tracking.gate import GateConfig

_SETTING_KEYS = tuple(spec.key for spec in scoring_options())
_OWN_KEYS = (
    "model_kind", "gate", "output_dir", "model_uri", "dataset_name", "progress", "resume", "sync_model_card", "model_card",
    "bootstrap_resamples", "ci_level", "seed", "log_traces", "push_results_to_hub", "public_results",
)


@dataclass(frozen=True)
class EvaluatorConfig:
    """An ``evaluator_config`` (or MLproject parameters) split into scoring settings, data options and our own keys."""

    settings: dict[str, Any] = field(default_factory=dict)  # explicit ScoringSettings fields only
    data: DataOptions = field(default_factory=DataOptions)
    gate: GateConfig | None = None
    model_kind: str = "auto"
    output_dir: str | None = None
    model_uri: str | None = None  # names the evaluated model when MLflow hands over an already-loaded one
    dataset_name: str = "dataframe"  # the benchmark name for DataFrame data
    progress: bool = True
    resume: bool = True
    sync_model_card: str = "off"  # off, local or hub
    model_card: dict[str, Any] = field(default_factory=dict)  # CardTarget fields: model_dir, repo_id, create_pr, card_format, ...
    push_results_to_hub: str | None = None  # a Hub dataset (OWNER/NAME) for the per-example tables
    public_results: bool = False
    bootstrap_resamples: int = DEFAULT_RESAMPLES  # 0: no intervals
    ci_level: float = DEFAULT_LEVEL
    seed: int = 0
    log_traces: int = 0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, *, source: str = "evaluator_config") -> EvaluatorConfig:
        """Split and validate ``values``; an unknown key or a bad value is an :class:`OptionError` naming it."""
        values = dict(values or {})
        data_keys = DataOptions.field_names()
        unknown = sorted(set(values) - set(data_keys) - set(_SETTING_KEYS) - set(_OWN_KEYS))
        if unknown:
            known = ", ".join(sorted((*data_keys, *_SETTING_KEYS, *_OWN_KEYS)))
            raise OptionError(f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {known}")
        settings = {key: values[key] for key in _SETTING_KEYS if key in values}
        ScoringSettings.from_mapping(settings, source=source)  # fail now on a bad value, not after loading the model
        own = {key: values[key] for key in _OWN_KEYS if key in values}
        gate = own.pop("gate", None)
        if own.get("sync_model_card", "off") not in SYNC_MODES:
            raise OptionError(f"{source}: sync_model_card must be one of {', '.join(SYNC_MODES)}, got {own['sync_model_card']!r}")
        try:
            data = DataOptions.from_mapping({key: values[key] for key in data_keys if key in values}, source=source)
        except OptionError as error:
            raise OptionError(f"{source}: {error}") from None
        options = cls(settings=settings, data=data, gate=GateConfig.from_mapping(gate) if gate else None, **own)
        options.intervals()  # a bad resample count or level fails now
        try:  # a bad card target or results dataset fails now, before any weights
            CardTarget.from_options(options.sync_model_card, options.model_card)
            options.results_dataset()
        except OptionError as error:
            raise OptionError(f"{source}: {error}") from None
        if not isinstance(options.log_traces, int) or options.log_traces < 0:
            raise OptionError(f"{source}: log_traces must be 0 or a number of examples, got {options.log_traces!r}")
        return options

    def intervals(self) -> IntervalOptions:
        """The bootstrap options these keys describe."""
        return IntervalOptions(resamples=self.bootstrap_resamples, level=self.ci_level, seed=self.seed)

    def results_dataset(self) -> ResultsDatasetTarget | None:
        """The Hub dataset ``push_results_to_hub`` names, or None."""
        return ResultsDatasetTarget(self.push_results_to_hub, public=bool(self.public_results)) if self.push_results_to_hub else None

    def request(self, model: ModelSpec, datasets: Sequence[str | Benchmark], **overrides: Any) -> EvaluationRequest:
        """The :class:`~rm_mlflow.pipeline.EvaluationRequest` these options describe, for ``model`` and ``datasets``."""
        values = {
            "model": model,
            "datasets": list(datasets),
            "data": self.data,
            "settings": self.settings,
            "model_kind": self.model_kind,
            "output_dir": self.output_dir,
            "resume": self.resume,
            "progress": self.progress,
            "gate": self.gate,
            "card": CardTarget.from_options(self.sync_model_card, self.model_card),
            "results_dataset": self.results_dataset(),
            "intervals": self.intervals(),
            "log_traces": self.log_traces,
        }
        return EvaluationRequest(**(values | overrides))
