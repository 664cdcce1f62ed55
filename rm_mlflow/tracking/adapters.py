"""How an MLflow model becomes a :class:`RewardModel` the batching engine scores.

MLflow models are adapted by flavor (one registry entry each): the ``rm_mlflow`` flavor and
``mlflow.transformers`` models are unwrapped to the native model and tokenizer; any other pyfunc that
returns one score per row is scored through ``predict`` (slower, with a warning).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rm_mlflow._registry import Registry
from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring.base import Conversation, RewardModel, Scorer, TokenizedConversation
from rm_mlflow.scoring.loaders import load_reward_model, preview_reward_model
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.tracking.flavor import FLAVOR_NAME
from rm_mlflow.tracking.references import ModelReference

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelPlan:
    """How a referenced model will be loaded, settled before any weights: its validated settings and kind.

    For an ``rm_mlflow``-flavor model the settings are the ones logged with it under the caller's explicit
    ones; ``pyfunc_model`` is the MLflow model fetched once to read them (its weights load only in :func:`load_planned`).
    """

    reference: ModelReference
    settings: ScoringSettings
    kind: str = "auto"
    pyfunc_model: Any = None
    chosen: frozenset[str] = frozenset()  # the settings someone set (the caller, or the model's logged ones); the rest are defaults


def plan_model(reference: ModelReference, explicit: Mapping[str, Any], *, kind: str = "auto") -> ModelPlan:
    """Validate the caller's ``explicit`` settings once, with what the model itself records, into a :class:`ModelPlan`."""
    if reference.source == "huggingface":
        return ModelPlan(reference, ScoringSettings.from_mapping(explicit, source="scoring settings"), kind, chosen=frozenset(explicit))
    pyfunc_model = open_mlflow_model(reference)
    logged = pyfunc_model.get_raw_model().chosen_settings() if FLAVOR_NAME in pyfunc_model.metadata.flavors else set()
    return ModelPlan(reference, *pyfunc_settings(pyfunc_model, explicit, kind), pyfunc_model, chosen=frozenset(explicit) | logged)


def pyfunc_settings(pyfunc_model: Any, explicit: Mapping[str, Any], kind: str = "auto") -> tuple[ScoringSettings, str]:
    """The validated settings and kind of a loaded pyfunc model: an ``rm_mlflow`` model's logged ones under ``explicit``, else ``explicit``."""
    if FLAVOR_NAME in pyfunc_model.metadata.flavors:
        return pyfunc_model.get_raw_model().settings(explicit, kind)
    return ScoringSettings.from_mapping(explicit, source="scoring settings"), kind


def load_planned(plan: ModelPlan) -> Scorer:
    """The planned model with its weights, named after its reference."""
    if plan.reference.source == "huggingface":
        model = load_reward_model(plan.reference.uri, plan.settings, kind=plan.kind)
    else:
        model = adapt_pyfunc(plan.pyfunc_model, plan.settings, kind=plan.kind)
    model.name = plan.reference.display_name
    return model


def open_mlflow_model(reference: ModelReference) -> Any:
    """The referenced MLflow model as a pyfunc; an ``rm_mlflow``-flavor model's weights are not loaded yet (its loading is lazy)."""
    import mlflow

    try:
        return mlflow.pyfunc.load_model(reference.uri)
    except Exception as error:  # noqa: BLE001
        raise ModelLoadError(f"{reference.uri}: cannot load the MLflow model: {error}") from error


def preview_model(plan: ModelPlan) -> RewardModel | None:
    """The planned model without its weights (config and tokenizer), tokenizing as the loaded one will; None where that needs the weights.

    Hugging Face folders and Hub ids, and ``rm_mlflow``-flavor models, have one; other MLflow flavors load
    their weights to reach the tokenizer, so they have none.
    """
    folder = model_folder(plan)
    return None if folder is None else preview_reward_model(folder, plan.settings, kind=plan.kind)


def model_folder(plan: ModelPlan) -> str | None:
    """Where the planned model's config and tokenizer are read without its weights (a Hub id, a folder); None for other MLflow flavors."""
    if plan.reference.source == "huggingface":
        return plan.reference.uri
    if FLAVOR_NAME not in plan.pyfunc_model.metadata.flavors:
        return None
    return str(plan.pyfunc_model.get_raw_model().model_dir)


@dataclass(frozen=True)
class FlavorAdapter:
    """Turns a loaded pyfunc model of one MLflow flavor into a :class:`RewardModel` scored natively."""

    flavor: str
    adapt: Callable[[Any, ScoringSettings, str], Scorer]


FLAVOR_ADAPTERS: Registry[FlavorAdapter] = Registry("MLflow flavor adapter")


def register_flavor_adapter(adapter: FlavorAdapter) -> FlavorAdapter:
    """Add an adapter for one MLflow flavor."""
    return FLAVOR_ADAPTERS.add(adapter.flavor, adapter)


def reward_model_from_pyfunc(pyfunc_model: Any, explicit: Mapping[str, Any] | None = None, *, kind: str = "auto") -> Scorer:
    """The reward model inside an already-loaded pyfunc model (``mlflow.models.evaluate`` hands one over), with the caller's settings."""
    settings, kind = pyfunc_settings(pyfunc_model, dict(explicit or {}), kind)
    return adapt_pyfunc(pyfunc_model, settings, kind=kind)


def adapt_pyfunc(pyfunc_model: Any, settings: ScoringSettings, *, kind: str = "auto") -> Scorer:
    """The native reward model inside a loaded pyfunc model, or a slower ``predict``-based one when no adapter applies."""
    flavors = pyfunc_model.metadata.flavors
    for flavor in flavors:
        if flavor in FLAVOR_ADAPTERS:
            return FLAVOR_ADAPTERS.get(flavor).adapt(pyfunc_model, settings, kind)
    logger.warning(
        "model flavor(s) %s have no native reward-model adapter: scoring row by row through pyfunc predict (slower); "
        "log the model with rm_mlflow.log_model or mlflow.transformers for the batched engine",
        ", ".join(sorted(flavors)),
    )
    return PyfuncRewardModel(pyfunc_model, settings)  # a generic pyfunc is scored through predict, whatever kind it is


def _adapt_rm_mlflow(pyfunc_model: Any, settings: ScoringSettings, kind: str) -> Scorer:
    return pyfunc_model.get_raw_model().load(settings, kind)


def _adapt_transformers(pyfunc_model: Any, settings: ScoringSettings, kind: str) -> Scorer:
    from rm_mlflow.scoring.sequence_classifier import wrap_sequence_classifier

    if kind not in ("auto", "sequence-classifier"):
        raise ModelLoadError("an mlflow.transformers model is scored as a sequence classifier; log other kinds with rm_mlflow.log_model")
    pipeline = pyfunc_model.get_raw_model()
    model, tokenizer = getattr(pipeline, "model", None), getattr(pipeline, "tokenizer", None)
    architecture = type(model).__name__
    if model is None or tokenizer is None or not architecture.endswith("ForSequenceClassification"):
        raise ModelLoadError(
            f"the transformers model is a {architecture} pipeline; a reward model must be a sequence classifier "
            "(log it with task='text-classification')"
        )
    return wrap_sequence_classifier(model, tokenizer, settings, name=architecture)


register_flavor_adapter(FlavorAdapter(FLAVOR_NAME, _adapt_rm_mlflow))
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
        """Each conversation's JSON bytes stand in for tokens."""
        return [TokenizedConversation(input_ids=tuple(json.dumps(list(c), sort_keys=True).encode())) for c in conversations]

    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        """One ``predict`` call on the batch as a ``messages`` DataFrame."""
        frame = pd.DataFrame({"messages": [json.loads(bytes(item.input_ids)) for item in batch]})
        output = self.pyfunc_model.predict(frame)
        scores = _one_score_per_row(output)
        if len(scores) != len(batch):
            raise ModelLoadError(f"{self.name}: predict returned {len(scores)} scores for {len(batch)} rows")
        return scores

    def describe(self) -> dict[str, Any]:
        """Kind and device of a pyfunc-scored model."""
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
