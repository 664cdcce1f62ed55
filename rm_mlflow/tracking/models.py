"""Which model an evaluation scores, and how an MLflow model becomes a :class:`RewardModel`.

A model reference is a registry URI (``models:/name/3``, ``models:/name@champion``), a logged-model
URI (``models:/m-...``), a run URI (``runs:/<id>/model``), any other MLflow artifact URI, a local
MLflow model folder, a local Hugging Face folder, or a Hub id. MLflow models are adapted by flavor
(one registry entry each): the ``rm_mlflow`` flavor and ``mlflow.transformers`` models are unwrapped
to the native model and tokenizer and scored by the batching engine; any other pyfunc that returns
one score per row is scored through ``predict`` (slower, with a warning).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rm_mlflow._registry import Registry
from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring.base import Conversation, RewardModel, TokenizedConversation
from rm_mlflow.scoring.loaders import load_reward_model
from rm_mlflow.scoring.settings import ScoringSettings

logger = logging.getLogger(__name__)

_ARTIFACT_SCHEMES = ("runs:/", "models:/", "file:", "s3://", "gs://", "wasbs://", "abfss://", "dbfs:/", "mlflow-artifacts:/", "hdfs://")


@dataclass(frozen=True)
class ModelReference:
    """A model as the user named it, and what the registry says it is."""

    uri: str
    source: str  # "mlflow" or "huggingface"
    registered_name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None

    @property
    def display_name(self) -> str:
        if self.registered_name:
            return f"{self.registered_name} v{self.version}" if self.version else self.registered_name
        return self.uri

    def params(self) -> dict[str, str]:
        values = {"model.uri": self.uri, "model.registered_name": self.registered_name, "model.version": self.version, "model.alias": self.alias}
        return {key: value for key, value in values.items() if value is not None}

    def tags(self) -> dict[str, str]:
        values = {
            "rm_mlflow.model_uri": self.uri,
            "rm_mlflow.model_name": self.registered_name,
            "rm_mlflow.model_version": self.version,
            "rm_mlflow.model_alias": self.alias,
        }
        return {key: value for key, value in values.items() if value is not None}


def resolve_model_reference(uri: str, *, client: Any = None) -> ModelReference:
    """Classify ``uri`` and, for registry URIs, look up the version it points at (an alias resolves to its version now)."""
    if uri.startswith("models:/"):
        return _registry_reference(uri, client)
    if uri.startswith(_ARTIFACT_SCHEMES):
        return ModelReference(uri=uri, source="mlflow", run_id=uri.split("/")[1] if uri.startswith("runs:/") else None)
    path = Path(uri).expanduser()
    if path.is_dir():
        if (path / "MLmodel").exists():
            return ModelReference(uri=str(path.resolve()), source="mlflow")
        if (path / "config.json").exists():
            return ModelReference(uri=str(path.resolve()), source="huggingface")
        raise ModelLoadError(f"{path}: neither an MLflow model (no MLmodel) nor a Hugging Face model folder (no config.json)")
    if path.exists() or uri.startswith((".", "/", "~")):
        raise ModelLoadError(f"{uri}: no such model folder")
    return ModelReference(uri=uri, source="huggingface")


def _registry_reference(uri: str, client: Any) -> ModelReference:
    from mlflow import MlflowClient

    client = client or MlflowClient()
    body = uri.removeprefix("models:/").strip("/")
    try:
        if "@" in body:
            name, alias = body.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
            return ModelReference(uri, "mlflow", name, str(version.version), alias, version.run_id)
        if "/" in body:
            name, number = body.rsplit("/", 1)
            if number == "latest":
                versions = client.search_model_versions(f"name = '{name}'")
                if not versions:
                    raise ModelLoadError(f"{uri}: registered model {name!r} has no versions")
                version = max(versions, key=lambda v: int(v.version))
            else:
                version = client.get_model_version(name, number)
            return ModelReference(uri, "mlflow", name, str(version.version), None, version.run_id)
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - MlflowException, connection errors: one message naming the URI
        raise ModelLoadError(f"{uri}: cannot resolve in the model registry at {_tracking_uri()}: {error}") from error
    return ModelReference(uri, "mlflow")  # models:/m-<logged model id>


def reference_from_pyfunc(pyfunc_model: Any, *, client: Any = None) -> ModelReference:
    """Name a model MLflow has already loaded: its logged-model URI and, when registered, its registry name and latest version."""
    from mlflow import MlflowClient

    metadata = pyfunc_model.metadata
    model_id, run_id = getattr(metadata, "model_id", None), getattr(metadata, "run_id", None)
    uri = f"models:/{model_id}" if model_id else (f"runs:/{run_id}/{metadata.artifact_path}" if run_id else "pyfunc")
    if not model_id or not run_id:
        return ModelReference(uri=uri, source="mlflow", run_id=run_id)
    try:
        versions = [v for v in (client or MlflowClient()).search_model_versions(f"run_id = '{run_id}'") if model_id in (getattr(v, "model_id", None), v.source.removeprefix("models:/"))]
    except Exception as error:  # noqa: BLE001 - naming the model is best effort; the evaluation goes on
        logger.warning("could not look up registered versions of %s: %s", uri, error)
        versions = []
    if not versions:
        return ModelReference(uri=uri, source="mlflow", run_id=run_id)
    latest = max(versions, key=lambda v: int(v.version))
    return ModelReference(uri=f"models:/{latest.name}/{latest.version}", source="mlflow", registered_name=latest.name, version=str(latest.version), run_id=run_id)


def _tracking_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def load_model_for_scoring(reference: ModelReference, settings: Mapping[str, Any] | None = None, *, kind: str = "auto") -> RewardModel:
    """Load the referenced model as a :class:`RewardModel`. ``settings`` are the caller's explicit scoring settings;
    for an ``rm_mlflow``-flavor model they override the settings logged with it."""
    settings = dict(settings or {})
    if reference.source == "huggingface":
        model = load_reward_model(reference.uri, ScoringSettings.from_mapping(settings), kind=kind)
    else:
        import mlflow

        try:
            pyfunc_model = mlflow.pyfunc.load_model(reference.uri)
        except Exception as error:  # noqa: BLE001
            raise ModelLoadError(f"{reference.uri}: cannot load the MLflow model: {error}") from error
        model = reward_model_from_pyfunc(pyfunc_model, settings)
    model.name = reference.display_name
    return model


@dataclass(frozen=True)
class FlavorAdapter:
    """Turns a loaded pyfunc model of one MLflow flavor into a :class:`RewardModel` scored natively."""

    flavor: str
    adapt: Callable[[Any, Mapping[str, Any]], RewardModel]


FLAVOR_ADAPTERS: Registry[FlavorAdapter] = Registry("MLflow flavor adapter")


def register_flavor_adapter(adapter: FlavorAdapter) -> FlavorAdapter:
    return FLAVOR_ADAPTERS.add(adapter.flavor, adapter)


def reward_model_from_pyfunc(pyfunc_model: Any, settings: Mapping[str, Any] | None = None) -> RewardModel:
    """The native reward model inside a loaded pyfunc model, or a slower ``predict``-based one when no adapter applies."""
    settings = dict(settings or {})
    flavors = pyfunc_model.metadata.flavors
    for flavor in flavors:
        if flavor in FLAVOR_ADAPTERS:
            return FLAVOR_ADAPTERS.get(flavor).adapt(pyfunc_model, settings)
    logger.warning(
        "model flavor(s) %s have no native reward-model adapter: scoring row by row through pyfunc predict (slower); "
        "log the model with rm_mlflow.log_model or mlflow.transformers for the batched engine",
        ", ".join(sorted(flavors)),
    )
    return PyfuncRewardModel(pyfunc_model, ScoringSettings.from_mapping(settings))


def _adapt_rm_mlflow(pyfunc_model: Any, settings: Mapping[str, Any]) -> RewardModel:
    return pyfunc_model.get_raw_model().reward_model(settings)


def _adapt_transformers(pyfunc_model: Any, settings: Mapping[str, Any]) -> RewardModel:
    from rm_mlflow.scoring.sequence_classifier import wrap_sequence_classifier

    pipeline = pyfunc_model.get_raw_model()
    model, tokenizer = getattr(pipeline, "model", None), getattr(pipeline, "tokenizer", None)
    architecture = type(model).__name__
    if model is None or tokenizer is None or not architecture.endswith("ForSequenceClassification"):
        raise ModelLoadError(
            f"the transformers model is a {architecture} pipeline; a reward model must be a sequence classifier "
            "(log it with task='text-classification')"
        )
    return wrap_sequence_classifier(model, tokenizer, ScoringSettings.from_mapping(settings), name=architecture)


register_flavor_adapter(FlavorAdapter("rm_mlflow", _adapt_rm_mlflow))
register_flavor_adapter(FlavorAdapter("transformers", _adapt_transformers))


class PyfuncRewardModel(RewardModel):
    """Any pyfunc returning one score per row of a ``messages`` DataFrame.

    There is no tokenizer to count with, so a conversation's "tokens" are the UTF-8 bytes of its
    JSON form: they order batches by length and key the score cache, and throughput is in bytes.
    """

    def __init__(self, pyfunc_model: Any, settings: ScoringSettings) -> None:
        self.pyfunc_model = pyfunc_model
        self.settings = settings
        self.name = "pyfunc"
        self.device = "pyfunc"

    def tokenize(self, conversations: Sequence[Conversation]) -> list[TokenizedConversation]:
        return [TokenizedConversation(input_ids=tuple(json.dumps(list(c), sort_keys=True).encode())) for c in conversations]

    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        frame = pd.DataFrame({"messages": [json.loads(bytes(item.input_ids)) for item in batch]})
        output = self.pyfunc_model.predict(frame)
        scores = _one_score_per_row(output)
        if len(scores) != len(batch):
            raise ModelLoadError(f"{self.name}: predict returned {len(scores)} scores for {len(batch)} rows")
        return scores

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "pyfunc", "device": self.device, "token_unit": "utf-8 bytes"}


def _one_score_per_row(output: Any) -> list[float]:
    if isinstance(output, pd.DataFrame):
        column = "score" if "score" in output.columns else output.columns[0]
        output = output[column]
    if isinstance(output, pd.Series):
        output = output.tolist()
    try:
        return [float(value) for value in list(output)]
    except (TypeError, ValueError) as error:
        raise ModelLoadError(f"pyfunc predict must return one number per row, got {type(output).__name__}: {error}") from error
