"""What an evaluation's numbers depend on, as digests: two evaluations with the same fingerprint scored the same thing the same way.

The fingerprint names the weights (a local folder by :func:`~rm_mlflow.scoring.hf.checkpoint_fingerprint`: its
config and each weight file's name, size and first and last 64 KiB; an MLflow model by its stored files' paths and
sizes and its config, listed without downloading; by registry version and run when the store cannot be listed), the
tokenizer files and the chat template actually applied, each benchmark's content digest (the MLflow dataset input's
digest), the settings that change scores, the model kind, package versions and the device type. ``id`` is a
digest of all of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rm_mlflow.scoring.hf import checkpoint_fingerprint
from rm_mlflow.scoring.settings import number_changing_keys

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "tokenizer.model", "vocab.json",
                   "merges.txt")


def short_digest(value: Any) -> str:
    """16 hex digits of SHA-256 over ``value`` (bytes as they are, anything else as sorted JSON)."""
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def tokenizer_digest(folder: Path) -> str | None:
    """The tokenizer files of a model folder, by content; None when it holds none."""
    present = [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]
    return short_digest({path.name: short_digest(path.read_bytes()) for path in present}) if present else None


def evaluation_fingerprint(
    *, model: Mapping[str, Any], settings: Mapping[str, Any], digests: Mapping[str, str | None], environment: Mapping[str, str],
    model_folder: Path | None = None, stored_weights: str | None = None, reference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The fingerprint of one evaluation.

    ``model`` is the scorer's description, ``digests`` each benchmark's content digest, ``stored_weights`` an MLflow
    model's stored files (:func:`rm_mlflow.tracking.references.stored_model_digest`).
    """
    folder = model_folder if model_folder is not None and model_folder.is_dir() else None
    weights = short_digest(checkpoint_fingerprint(str(folder))) if folder is not None else None
    if weights is None and stored_weights is not None:
        weights = short_digest(stored_weights)
    tokenizer = tokenizer_digest(folder) if folder is not None else None
    if weights is None and reference:  # a registered model: the registry names the weights
        weights = short_digest({key: reference.get(key) for key in ("uri", "registered_name", "version", "run_id")})
    changing = number_changing_keys()
    parts = {
        "weights": weights,
        "revision": settings.get("revision"),
        "tokenizer": tokenizer,
        "chat_template": model.get("chat_template_digest") or short_digest(model.get("chat_template")),
        "datasets": dict(digests),
        "settings": short_digest({key: value for key, value in settings.items() if key in changing}),
        "kind": model.get("kind"),
        "packages": {name: version for name, version in environment.items() if name != "python"},
        "device": str(model.get("device", "")).split(":")[0] or None,
    }
    return {"id": short_digest(parts), **parts}
