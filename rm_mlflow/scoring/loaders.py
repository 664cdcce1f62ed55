"""The model-loader registry: each model kind is one module that registers a :class:`ModelLoader`.

Kinds shipped here live in :mod:`rm_mlflow.scoring`; another package adds one through the
``rm_mlflow.model_kinds`` entry-point group, whose entries name a module that registers a loader, or a
:class:`ModelLoader` object (``my_kind = "my_package.kind:LOADER"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rm_mlflow._registry import Registry, unknown_name_message
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.errors import ModelLoadError, UnknownNameError
from rm_mlflow.scoring.base import RewardModel, Scorer
from rm_mlflow.scoring.settings import ScoringSettings


@dataclass(frozen=True)
class ModelLoader:
    """One model kind: ``accepts`` looks at a model's transformers config and the settings; ``load`` builds the model (reward model or judge).

    ``accepts`` answers for ``--model_kind auto``; kinds a checkpoint cannot reveal (pairwise, say) accept nothing.
    ``claims`` picks a kind from the settings alone, before any config is read (``--judge_endpoint`` means a
    generative judge, whose model is a name on a server).
    """

    name: str
    description: str
    accepts: Callable[[Any, ScoringSettings], bool]
    load: Callable[[str, ScoringSettings], Scorer]
    claims: Callable[[ScoringSettings], bool] | None = None
    preflight: Callable[[ScoringSettings], None] | None = None  # checks the kind's options before any data, weights or run
    # a weightless model (config and tokenizer only) whose ``tokenize`` applies the kind's formatting and length rules
    preview: Callable[[str, ScoringSettings], RewardModel | None] | None = None
    # whether the model, by its config, sees an example's images (None: the kind reads text only); asked before weights load
    sees_images: Callable[[str, ScoringSettings], bool] | None = None
    # refuses, before weights load, examples the kind cannot score as asked (a judge: rows of an authors' protocol it cannot follow)
    check_examples: Callable[[Sequence[PreferenceExample]], None] | None = None


def check_sees_images(kind: str, model: str, folder: str | None, settings: ScoringSettings, benchmark: str) -> None:
    """Refuse, before any weights load, a model that would read only the text of ``benchmark``'s image-bearing items.

    ``folder`` is where the model's config is read (None for an MLflow flavor other than rm_mlflow's: those are text pipelines);
    ``kind`` is the one the model loads as, detected already where it was ``auto``.
    """
    if folder is not None:
        sees = MODEL_LOADERS.get(kind).sees_images
        if sees is not None and sees(folder, settings):
            return
    raise ModelLoadError(f"{benchmark}: its items carry images, and {model} ({kind}) reads text only; evaluate a vision-language model "
                         "(an image-text-to-text judge, a vl-classifier reward model, or --judge_endpoint serving a judge)")


def check_examples(kind: str, examples: Sequence[PreferenceExample]) -> None:
    """The kind's own refusal of ``examples`` (:attr:`ModelLoader.check_examples`), before any weights load.

    ``kind`` is the one the model loads as; ``auto`` (a model of another MLflow flavor, a text pipeline) has no check.
    """
    if kind != "auto" and (check := MODEL_LOADERS.get(kind).check_examples) is not None:
        check(examples)


# the modules that register the shipped kinds (a generative judge is not a forward-pass model: it lives in rm_mlflow.judges)
BUILT_IN_KINDS = ("rm_mlflow.scoring.sequence_classifier", "rm_mlflow.scoring.dpo", "rm_mlflow.scoring.custom", "rm_mlflow.scoring.pairwise",
                  "rm_mlflow.scoring.vision_classifier", "rm_mlflow.judges.judge")


def _discover_kinds() -> None:
    import importlib

    for module in BUILT_IN_KINDS:
        importlib.import_module(module)
    load_plugin_kinds()


MODEL_LOADERS: Registry[ModelLoader] = Registry("model kind", discover=_discover_kinds)
ENTRY_POINT_GROUP = "rm_mlflow.model_kinds"


def register_loader(loader: ModelLoader) -> ModelLoader:
    """Add a model kind to :data:`MODEL_LOADERS`."""
    return MODEL_LOADERS.add(loader.name, loader)


def check_model_kind(kind: str, settings: ScoringSettings | None = None) -> None:
    """Raise :class:`UnknownNameError` (with the closest kind) unless ``kind`` is ``auto`` or registered; run the kind's preflight on ``settings``."""
    if kind != "auto" and kind not in MODEL_LOADERS:
        raise UnknownNameError(unknown_name_message("model kind", kind, ["auto", *MODEL_LOADERS.names()]))
    if settings is None:
        return
    names = [kind] if kind != "auto" else [name for name, loader in MODEL_LOADERS if loader.claims is not None and loader.claims(settings)]
    for name in names:
        preflight = MODEL_LOADERS.get(name).preflight
        if preflight is not None:
            preflight(settings)


def load_reward_model(model: str, settings: ScoringSettings | None = None, *, kind: str = "auto") -> Scorer:
    """Load a local directory or Hub id as a reward model; ``kind='auto'`` picks the loader from the model's config."""
    settings = settings or ScoringSettings()
    if kind != "auto":
        return MODEL_LOADERS.get(kind).load(model, settings)
    return MODEL_LOADERS.get(detect_kind(model, settings)).load(model, settings)


def weightless(model_class: Any) -> Callable[[str, ScoringSettings], RewardModel]:
    """A kind's ``preview``: ``model_class.without_weights(config, tokenizer, settings, name=...)`` on the checkpoint's checked parts."""

    def preview(model_id: str, settings: ScoringSettings) -> RewardModel:
        from rm_mlflow.scoring.hf import config_and_tokenizer

        config, tokenizer = config_and_tokenizer(model_id, settings)
        return model_class.without_weights(config, tokenizer, settings, name=model_id)

    return preview


def preview_reward_model(model: str, settings: ScoringSettings, *, kind: str = "auto") -> RewardModel | None:
    """The model as :func:`load_reward_model` would build it, minus the weights: it tokenizes exactly as the loaded model will.

    None when the kind has no preview (its lengths are then checked as it scores).
    """
    loader = MODEL_LOADERS.get(kind if kind != "auto" else detect_kind(model, settings))
    return loader.preview(model, settings) if loader.preview is not None else None


def detect_kind(model: str, settings: ScoringSettings) -> str:
    """The kind whose ``claims`` takes the settings, else the one registered kind whose ``accepts`` takes the checkpoint (``--model_kind auto``)."""
    from rm_mlflow.scoring.hf import load_config

    claimed = [name for name, loader in MODEL_LOADERS if loader.claims is not None and loader.claims(settings)]
    if len(claimed) == 1:
        return claimed[0]

    config = load_config(model, settings)
    accepted = [name for name, loader in MODEL_LOADERS if loader.accepts(config, settings)]
    if len(accepted) == 1:
        return accepted[0]
    architectures = ", ".join(getattr(config, "architectures", None) or ["unknown"])
    if accepted:
        raise ModelLoadError(f"{model}: architecture {architectures} fits several model kinds ({', '.join(accepted)}); pass --model_kind")
    hint = (" (a causal LM: --model_kind dpo with --ref_model, or reference-free, --model_kind pairwise, or --model_kind generative for a judge)"
            if "CausalLM" in architectures else "")
    kinds = ", ".join(MODEL_LOADERS.names())
    raise ModelLoadError(f"{model}: no model kind takes architecture {architectures}{hint}; pass --model_kind, one of: {kinds}")


def load_plugin_kinds() -> None:
    """Register the kinds other packages declare in the ``rm_mlflow.model_kinds`` entry-point group."""
    import logging
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
            if isinstance(loaded, ModelLoader) and loaded.name not in MODEL_LOADERS:
                register_loader(loaded)
        except Exception as error:  # noqa: BLE001 - a broken plug-in must not take the built-in kinds down
            logging.getLogger(__name__).warning("could not load model-kind plug-in %s (%s): %s", entry.name, entry.value, error)
