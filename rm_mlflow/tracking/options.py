"""Evaluation options as plain mappings (``evaluator_config``, MLproject params, service settings), validated in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.tracking.gate import GateConfig
from rm_mlflow.tracking.run import SYNC_MODES, DataOptions

_DATA_KEYS = tuple(f.name for f in fields(DataOptions))
_SETTING_KEYS = tuple(f.name for f in fields(ScoringSettings))
_OWN_KEYS = ("model_kind", "gate", "output_dir", "model_uri", "dataset_name", "progress", "resume", "sync_model_card", "model_card")


@dataclass(frozen=True)
class EvaluationOptions:
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
    model_card: dict[str, Any] = field(default_factory=dict)  # CardTarget fields: model_dir, repo_id, create_pr, ...

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, *, source: str = "evaluator_config") -> EvaluationOptions:
        values = dict(values or {})
        unknown = sorted(set(values) - set(_DATA_KEYS) - set(_SETTING_KEYS) - set(_OWN_KEYS))
        if unknown:
            known = ", ".join(sorted((*_DATA_KEYS, *_SETTING_KEYS, *_OWN_KEYS)))
            raise ValueError(f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {known}")
        settings = {key: values[key] for key in _SETTING_KEYS if key in values}
        ScoringSettings.from_mapping(settings, source=source)  # fail now on a bad value, not after loading the model
        own = {key: values[key] for key in _OWN_KEYS if key in values}
        gate = own.pop("gate", None)
        if own.get("sync_model_card", "off") not in SYNC_MODES:
            raise ValueError(f"{source}: sync_model_card must be one of {', '.join(SYNC_MODES)}, got {own['sync_model_card']!r}")
        return cls(
            settings=settings,
            data=DataOptions.from_mapping({key: values[key] for key in _DATA_KEYS if key in values}),
            gate=GateConfig.from_mapping(gate) if gate else None,
            **own,
        )
