"""Which model an evaluation scores: a reference as the user named it, and what the registry says it is.

A model reference is a registry URI (``models:/name/3``, ``models:/name@champion``), a logged-model
URI (``models:/m-...``), a run URI (``runs:/<id>/model``), any other MLflow artifact URI, a local
MLflow model folder, a local Hugging Face folder, or a Hub id.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rm_mlflow.errors import ModelLoadError, first_line
from rm_mlflow.scoring.hf import register_locator

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
        """``name vN`` for a registered model, the URI otherwise."""
        if self.registered_name:
            return f"{self.registered_name} v{self.version}" if self.version else self.registered_name
        return self.uri

    def as_dict(self) -> dict[str, str | None]:
        """The fields, for ``results.json`` (``ModelReference(**d)`` reads them back)."""
        return asdict(self)

    def params(self) -> dict[str, str]:
        """Run params naming the model."""
        values = {"model.uri": self.uri, "model.registered_name": self.registered_name, "model.version": self.version, "model.alias": self.alias}
        return {key: value for key, value in values.items() if value is not None}

    def tags(self) -> dict[str, str]:
        """Run tags naming the model (the promotion gate finds a version's evaluations by them)."""
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
        found = (client or MlflowClient()).search_model_versions(f"run_id = '{run_id}'")
        versions = [v for v in found if model_id in (getattr(v, "model_id", None), v.source.removeprefix("models:/"))]
    except Exception as error:  # noqa: BLE001 - naming the model is best effort; the evaluation goes on
        logger.warning("could not look up registered versions of %s: %s", uri, error)
        versions = []
    if not versions:
        return ModelReference(uri=uri, source="mlflow", run_id=run_id)
    latest = max(versions, key=lambda v: int(v.version))
    return ModelReference(
        uri=f"models:/{latest.name}/{latest.version}", source="mlflow", registered_name=latest.name, version=str(latest.version), run_id=run_id
    )


def _tracking_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def mlflow_model_folder(uri: str) -> str | None:
    """The Hugging Face folder inside an MLflow model (``models:/``, ``runs:/``, ...), downloaded; None for other references.

    Registered with :func:`rm_mlflow.scoring.hf.register_locator`, so a DPO ``ref_model`` can be a registered model.
    """
    if not uri.startswith(_ARTIFACT_SCHEMES):
        return None
    import mlflow

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as error:  # noqa: BLE001 - registry, network or a missing artifact: one message naming the URI
        raise ModelLoadError(f"{uri}: cannot download the MLflow model: {error}") from error
    for folder in (local / "reward_model", local):  # the rm_mlflow flavor keeps the Hugging Face folder in reward_model/
        if (folder / "config.json").exists():
            return str(folder)
    raise ModelLoadError(f"{uri}: no Hugging Face model folder (config.json) in the MLflow model")


register_locator(mlflow_model_folder)


def logged_model_id(reference: Mapping[str, Any] | None, client: Any) -> str | None:
    """The MLflow 3 LoggedModel behind an evaluated model, or None.

    A registry version's (its ``model_id``, or the ``models:/m-...`` source it was registered from) or a ``models:/m-...``
    URI's. None for anything else, or when the tracking server has no such LoggedModel (an MLflow 2 registry, say):
    metrics then go to the run only.
    """
    if not reference or reference.get("source") != "mlflow":
        return None
    candidate = None
    if reference.get("registered_name") and reference.get("version"):
        try:
            version = client.get_model_version(reference["registered_name"], reference["version"])
        except Exception as error:  # noqa: BLE001 - the registry is consulted for a link only
            logger.warning("%s: cannot read the model version (%s); metrics go to the run only", reference.get("uri"), first_line(error))
            return None
        candidate = getattr(version, "model_id", None) or _logged_model_in(version.source or "")
    else:
        candidate = _logged_model_in(str(reference.get("uri") or ""))
    if candidate is None:
        return None
    try:
        return client.get_logged_model(candidate).model_id
    except Exception:  # noqa: BLE001 - no LoggedModel on this server: the run keeps the metrics
        logger.info("%s: no LoggedModel %s on this tracking server; metrics go to the run only", reference.get("uri"), candidate)
        return None


def _logged_model_in(uri: str) -> str | None:
    """``m-...`` from a logged-model URI (``models:/m-...``, with or without a trailing path)."""
    body = uri.removeprefix("models:/").split("/")[0] if uri.startswith("models:/") else ""
    return body if body.startswith("m-") else None


STORED_FILES_LIMIT = 10_000  # a model listing longer than this is not a model folder; it is not read to the end


def stored_model_digest(reference: ModelReference) -> str | None:
    """An MLflow model's weights as the artifact store holds them, listed without downloading the weights.

    Every file's path and size, and ``config.json`` by content. None when the store cannot be listed (the fingerprint
    then names the registry version). A registry version is listed at ``models:/name/version``: an alias moves, the
    version it resolved to does not.
    """
    from rm_mlflow.scoring.hf import checkpoint_fingerprint

    if reference.source != "mlflow":
        return None
    local = Path(reference.uri).expanduser()
    if local.is_dir():
        folder = local / "reward_model" if (local / "reward_model" / "config.json").exists() else local
        return checkpoint_fingerprint(str(folder))
    uri = f"models:/{reference.registered_name}/{reference.version}" if reference.registered_name and reference.version else reference.uri
    try:
        import mlflow

        files = _listed_files(mlflow.artifacts.list_artifacts, uri.rstrip("/"))
        configs = sorted(path for path in files if path.rsplit("/", 1)[-1] == "config.json")
        config = mlflow.artifacts.load_text(f"{uri.rstrip('/')}/{configs[0]}") if configs else ""
    except Exception as error:  # noqa: BLE001 - a store that cannot list: the fingerprint falls back to the registry version
        logger.warning("%s: cannot list the stored model files (%s); the fingerprint names the registry version instead", uri, first_line(error))
        return None
    digest = hashlib.sha256(config.encode())
    for path, size in sorted(files.items()):
        digest.update(f"{path}:{size}\n".encode())
    return f"stored:{digest.hexdigest()}"


def _listed_files(list_artifacts: Any, uri: str) -> dict[str, int]:
    """``{relative path: size}`` of every file under ``uri``, listing folders breadth-first up to :data:`STORED_FILES_LIMIT` entries."""
    files: dict[str, int] = {}
    folders = [""]
    while folders and len(files) < STORED_FILES_LIMIT:
        folder = folders.pop(0)
        for entry in list_artifacts(artifact_uri=f"{uri}/{folder}" if folder else uri):
            relative = f"{folder}/{entry.path.rsplit('/', 1)[-1]}" if folder else entry.path.rsplit("/", 1)[-1]
            if entry.is_dir:
                folders.append(relative)
            else:
                files[relative] = int(entry.file_size or 0)
    return files
