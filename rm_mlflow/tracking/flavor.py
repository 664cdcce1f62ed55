"""The ``rm_mlflow`` model flavor: a reward model's weights, tokenizer, chat template and scoring settings as one MLflow model.

``log_model`` copies a Hugging Face model folder (or a Hub snapshot) into the run and records the
scoring settings it should be evaluated with. Its pyfunc takes a DataFrame of conversations and
returns one score per row, so a logged reward model also serves with
``mlflow models serve -m models:/NAME/VERSION --env-manager local``. rm-mlflow's own evaluator never
goes through pyfunc ``predict``: it takes the loaded :class:`RewardModel` and uses the batching engine.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rm_mlflow.data.validation import Row
from rm_mlflow.errors import DataValidationError, ModelLoadError, OptionError
from rm_mlflow.judges.backends.endpoint import ENDPOINT_FILE
from rm_mlflow.scoring.base import Conversation, Scorer
from rm_mlflow.scoring.engine import score_conversations
from rm_mlflow.scoring.loaders import load_reward_model
from rm_mlflow.scoring.settings import ScoringSettings, model_setting_keys
from rm_mlflow.scoring.templates import resolve_template

logger = logging.getLogger(__name__)

FLAVOR_NAME = "rm_mlflow"
MODEL_SUBPATH = "reward_model"
# Settings that belong to the model (how it must be prompted and read: declared ``model=True`` with each option);
# batch size and device belong to the machine.
MODEL_SETTINGS = model_setting_keys()
# Never trust_remote_code: whoever evaluates a registered model decides whether its code may run. Never a key: an
# endpoint judge records the NAME of the environment variable holding it.
_SKIP_FILES = shutil.ignore_patterns(".git", ".cache", "*.lock", "score_cache.jsonl")


def save_model(
    reward_model: str | Path,
    path: str | Path,
    *,
    settings: Mapping[str, Any] | None = None,
    revision: str | None = None,
    mlflow_model: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    """Save ``reward_model`` (a local Hugging Face model folder or a Hub id) as an MLflow model at ``path``."""
    from mlflow import pyfunc
    from mlflow.models import Model
    from mlflow.utils.environment import _process_pip_requirements, _PythonEnv

    path = Path(path).absolute()
    if path.exists() and any(path.iterdir()):
        raise ModelLoadError(f"{path}: the target folder already exists and is not empty")
    model_settings = _model_settings(settings or {})
    if model_settings.get("judge_endpoint"):
        # a judge behind an endpoint has no weights here: the model is its name on that server
        (path / MODEL_SUBPATH).mkdir(parents=True)
        (path / MODEL_SUBPATH / ENDPOINT_FILE).write_text(json.dumps({"model": str(reward_model)}), encoding="utf-8")
    else:
        shutil.copytree(_local_model_folder(str(reward_model), revision), path / MODEL_SUBPATH, ignore=_SKIP_FILES)

    mlflow_model = mlflow_model or Model()
    if metadata:
        mlflow_model.metadata = metadata
    pyfunc.add_to_model(mlflow_model, loader_module=__name__, data=MODEL_SUBPATH, conda_env="conda.yaml", python_env="python_env.yaml")
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        reward_model=MODEL_SUBPATH,
        settings=model_settings,
        source=str(reward_model),
        revision=revision,
        rm_mlflow_version=_version(),
    )
    mlflow_model.save(str(path / "MLmodel"))

    conda_env, requirements, constraints = _process_pip_requirements(_default_requirements(), pip_requirements, extra_pip_requirements)
    import yaml

    (path / "conda.yaml").write_text(yaml.safe_dump(conda_env, default_flow_style=False), encoding="utf-8")
    (path / "requirements.txt").write_text("\n".join(requirements), encoding="utf-8")
    if constraints:
        (path / "constraints.txt").write_text("\n".join(constraints), encoding="utf-8")
    _PythonEnv.current().to_yaml(str(path / "python_env.yaml"))


def log_model(
    reward_model: str | Path,
    name: str = "reward_model",
    *,
    registered_model_name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    revision: str | None = None,
    **kwargs: Any,
):
    """Log a reward model (local folder or Hub id) to the active run, optionally registering it; returns MLflow's ``ModelInfo``.

    ``settings`` holds the scoring settings the model must be evaluated with (e.g.
    ``{"chat_template": "llama-3", "max_length": 4096}``); evaluations start from them.
    """
    from mlflow.models import Model

    return Model.log(
        artifact_path=None,
        name=name,
        flavor=sys.modules[__name__],
        registered_model_name=registered_model_name,
        reward_model=str(reward_model),
        settings=dict(settings or {}),
        revision=revision,
        **kwargs,
    )


def load_model(model_uri: str, settings: Mapping[str, Any] | None = None, *, dst_path: str | None = None) -> Scorer:
    """Load a model logged with :func:`log_model` as a reward model (or judge); ``settings`` override the logged ones."""
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    local = Path(_download_artifact_from_uri(model_uri, output_path=dst_path))
    return _RewardModelPyfunc(local / MODEL_SUBPATH).reward_model(settings or {})


def _load_pyfunc(data_path: str, model_config: Mapping[str, Any] | None = None) -> _RewardModelPyfunc:
    """MLflow's pyfunc entry point. Loading is lazy: weights load on first use, with the caller's device settings."""
    return _RewardModelPyfunc(Path(data_path), dict(model_config or {}))


class _RewardModelPyfunc:
    def __init__(self, model_dir: Path, model_config: Mapping[str, Any] | None = None) -> None:
        from mlflow.models import Model

        self.model_dir = model_dir
        flavor = Model.load(str(model_dir.parent / "MLmodel")).flavors.get(FLAVOR_NAME)
        if flavor is None:
            raise ModelLoadError(f"{model_dir.parent}: not an rm_mlflow model (no '{FLAVOR_NAME}' flavor in MLmodel)")
        self.logged_settings: dict[str, Any] = dict(flavor.get("settings") or {})
        self.model_config = dict(model_config or {})
        self._loaded: tuple[tuple[ScoringSettings, str], Scorer] | None = None

    def chosen_settings(self) -> set[str]:
        """The names of the settings logged with the model or given as its MLflow model config."""
        return set(self.logged_settings) | set(self.model_config)

    def settings(self, overrides: Mapping[str, Any], kind: str = "auto") -> tuple[ScoringSettings, str]:
        """The logged settings under ``overrides``, validated, and the kind: ``kind`` unless ``auto``, else the logged one."""
        values = self.logged_settings | self.model_config | dict(overrides)
        logged_kind = values.pop("model_kind", "auto")
        return ScoringSettings.from_mapping(values, source=f"{self.model_dir.parent}/MLmodel"), kind if kind != "auto" else logged_kind

    def reward_model(self, overrides: Mapping[str, Any] | None = None) -> Scorer:
        """The loaded model with the logged settings under ``overrides``."""
        return self.load(*self.settings(dict(overrides or {})))

    def load(self, settings: ScoringSettings, kind: str = "auto") -> Scorer:
        """The model's weights with these (already merged and validated) settings; loaded again only when they change."""
        if self._loaded is None or self._loaded[0] != (settings, kind):
            self._loaded = ((settings, kind), load_reward_model(str(self.model_dir), settings, kind=kind))
        return self._loaded[1]

    def get_raw_model(self) -> _RewardModelPyfunc:
        """Itself: callers pick their scoring settings with :meth:`reward_model` before the weights load."""
        return self

    def predict(self, data: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Score each row: a ``messages`` column (list of ``{role, content}``) or ``prompt`` and ``response`` strings."""
        model = self.reward_model()
        if model.describe().get("kind") == "generative":
            raise OptionError("a generative judge compares answers: evaluate it with rm-mlflow evaluate or mlflow.models.evaluate, "
                              "not row by row through pyfunc predict")
        scored = score_conversations(model, conversations_from_frame(pd.DataFrame(data)), model.settings, progress=False)
        return pd.DataFrame({"score": scored.scores})


def conversations_from_frame(frame: pd.DataFrame, *, source: str = "model input") -> list[Conversation]:
    """Conversations from a DataFrame with a ``messages`` column, or ``prompt`` and ``response`` string columns."""
    conversations: list[Conversation] = []
    for index, record in enumerate(frame.to_dict(orient="records"), start=1):
        row = Row(source=source, index=index, data=record)
        if row.has("messages"):
            conversations.append(row.messages("messages"))
        elif row.has("prompt") and row.has("response"):
            prompt = row.prompt("prompt")
            conversations.append((*prompt, {"role": "assistant", "content": row.text("response")}))
        else:
            raise DataValidationError(source, index, None, "expected a 'messages' column, or 'prompt' and 'response' columns")
    return conversations


def _model_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(MODEL_SETTINGS))
    if unknown:
        raise OptionError(f"settings: {', '.join(unknown)} cannot be logged with a model; allowed: {', '.join(MODEL_SETTINGS)}")
    values = dict(settings)
    template = values.get("chat_template")
    if template and template not in ("tokenizer", "raw"):
        values["chat_template"] = resolve_template(template)  # a file path is stored as its text
    scoring_only = {key: value for key, value in values.items() if key != "model_kind"}
    checked = ScoringSettings.from_mapping(scoring_only, source="settings")  # validate now, not at evaluation time
    if checked.custom.objective_weights is not None:
        values["objective_weights"] = list(checked.custom.objective_weights)
    reference = values.get("ref_model")
    if reference and Path(reference).expanduser().is_dir():
        values["ref_model"] = str(Path(reference).expanduser().resolve())
        logger.warning("ref_model %s is a local folder: it must exist at that path wherever the model is evaluated; "
                       "register the reference and log models:/NAME/VERSION to make the version self-contained", values["ref_model"])
    return values


def _local_model_folder(reward_model: str, revision: str | None) -> Path:
    path = Path(reward_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelLoadError(f"{path}: not a Hugging Face model folder (no config.json)")
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(reward_model, revision=revision))
    except Exception as error:  # noqa: BLE001 - one actionable message for offline, missing or gated repos
        raise ModelLoadError(f"{reward_model!r} is neither a local model folder nor a reachable Hub model: {error}") from error


def _default_requirements() -> list[str]:
    import logging

    from mlflow.utils.requirements_utils import _get_pinned_requirement

    # MLflow warns that a local torch build (2.13.0+cpu) is pinned without its label; that pin is what we want.
    pinning = logging.getLogger("mlflow.utils.requirements_utils")
    level = pinning.level
    pinning.setLevel(logging.ERROR)
    try:
        return [_get_pinned_requirement(package) for package in ("mlflow", "torch", "transformers")] + [f"rm-mlflow=={_version()}"]
    finally:
        pinning.setLevel(level)


def _version() -> str:
    from importlib.metadata import version

    return version("rm-mlflow")

