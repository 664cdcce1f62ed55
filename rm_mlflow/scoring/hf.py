"""Loading Hugging Face checkpoints for every model kind.

Tokenizer and padding, weights with an attention fallback, remote-code guards, and a content
fingerprint of a checkpoint (for caches shared across evaluations).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring.settings import ScoringSettings, resolve_dtype

logger = logging.getLogger(__name__)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# Functions that turn a reference this layer cannot read (an MLflow models:/ URI, say) into a local folder;
# the MLflow side registers its own, so a DPO reference can be a registered model.
_LOCATORS: list[Callable[[str], str | None]] = []


def register_locator(locator: Callable[[str], str | None]) -> None:
    """Add a function that maps a model reference to a local folder (None: not mine)."""
    if locator not in _LOCATORS:
        _LOCATORS.append(locator)


def locate(model: str) -> str:
    """A local folder or Hub id for ``model``, asking the registered locators first."""
    for locator in _LOCATORS:
        found = locator(model)
        if found is not None:
            return found
    return model


def load_config(model: str, settings: ScoringSettings) -> Any:
    """The checkpoint's transformers config; a config that needs remote code is refused unless ``trust_remote_code``."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model, revision=settings.revision, trust_remote_code=settings.trust_remote_code)
    except Exception as error:  # noqa: BLE001 - surface one actionable message
        if "trust_remote_code" in str(error):
            raise ModelLoadError(f"{model}: its config is custom code; pass --trust_remote_code to run it (only for code you trust)") from None
        raise ModelLoadError(f"cannot load model config from {model!r}: {error}") from error


def custom_code(config: Any) -> dict[str, str]:
    """The ``auto_map`` of a checkpoint that ships its own modelling code (empty for a stock architecture)."""
    return dict(getattr(config, "auto_map", None) or {})


def require_trust(model: str, config: Any, settings: ScoringSettings) -> None:
    """Refuse a checkpoint with custom modelling code unless ``trust_remote_code`` was asked for."""
    code = custom_code(config)
    if code and not settings.trust_remote_code:
        classes = ", ".join(f"{auto}: {target}" for auto, target in sorted(code.items()))
        raise ModelLoadError(f"{model}: the checkpoint runs its own code ({classes}); pass --trust_remote_code to run it (only for code you trust)")


def load_tokenizer(model: str, settings: ScoringSettings, *, name: str | None = None) -> Any:
    """The tokenizer (``settings.tokenizer`` or the model's), padding with EOS when it has no pad token, as rewardbench does."""
    from transformers import AutoTokenizer

    source = settings.tokenizer or model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=settings.revision, trust_remote_code=settings.trust_remote_code)
    except Exception as error:  # noqa: BLE001
        raise ModelLoadError(f"{name or model}: cannot load a tokenizer from {source!r}: {error}") from error
    return with_padding(tokenizer, name or model)


def config_and_tokenizer(model: str, settings: ScoringSettings) -> tuple[Any, Any]:
    """A checkpoint's config (refused when it runs its own code without ``trust_remote_code``) and its padded tokenizer: all but the weights."""
    config = load_config(model, settings)
    require_trust(model, config, settings)
    return config, load_tokenizer(model, settings)


def with_padding(tokenizer: Any, name: str) -> Any:
    """Pad with EOS when there is no pad token (rewardbench's rule); a tokenizer with neither is an error."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token_id is None:
        raise ModelLoadError(f"{name}: the tokenizer has neither a pad nor an EOS token to pad batches with")
    return tokenizer


def load_weights(auto_class: Any, model: str, settings: ScoringSettings, *, what: str) -> Any:
    """``auto_class.from_pretrained`` on the settings' device and dtype; retried without ``attn_implementation`` when the model has no such kernel.

    With ``device_map`` accelerate places the layers over the GPUs, the CPU and (past ``max_memory``) disk;
    with ``quantization`` bitsandbytes loads the weights in 8 or 4 bits. Either way the model is not moved afterwards.
    """
    device = settings.resolved_device
    kwargs: dict[str, Any] = {
        "revision": settings.revision,
        "trust_remote_code": settings.trust_remote_code,
        "dtype": resolve_dtype(settings.dtype, device),
    }
    if settings.attn_implementation:
        kwargs["attn_implementation"] = settings.attn_implementation
    kwargs |= placement_kwargs(settings, device)
    try:
        try:
            loaded = auto_class.from_pretrained(model, **kwargs)
        except (ValueError, ImportError) as error:
            if "attn_implementation" not in kwargs or "attn" not in str(error).lower():
                raise
            logger.warning("%s does not support attn_implementation=%s; using the default", model, settings.attn_implementation)
            kwargs.pop("attn_implementation")
            loaded = auto_class.from_pretrained(model, **kwargs)
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001
        raise ModelLoadError(f"cannot load {model!r} as {what}: {error}") from error
    return loaded.eval() if is_placed(loaded) else loaded.to(device).eval()


def placement_kwargs(settings: ScoringSettings, device: str) -> dict[str, Any]:
    """``from_pretrained`` arguments for big-model placement and quantized loading (none by default)."""
    kwargs: dict[str, Any] = {}
    if settings.device_map is not None:
        kwargs["device_map"] = settings.device_map
        limits = settings.memory_limits()
        if limits is not None:
            kwargs["max_memory"] = limits
        kwargs["offload_folder"] = _offload_folder()  # what fits on no device is offloaded there
    if settings.quantization != "none":
        check_quantization(settings, device)
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(**{f"load_in_{settings.quantization}": True})
        kwargs.setdefault("device_map", {"": device})
    return kwargs


def _offload_folder() -> str:
    """A folder of this process's own for weights offloaded to disk, removed at exit."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="rm-mlflow-offload-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


def check_quantization(settings: ScoringSettings, device: str) -> None:
    """8/4-bit loading needs bitsandbytes and a CUDA device: refused in one line before any weights load."""
    if settings.quantization == "none":
        return
    import importlib.util

    if not device.startswith("cuda"):
        raise ModelLoadError(f"quantization {settings.quantization} runs on a CUDA GPU (bitsandbytes); this run is on {device}: "
                             "drop --quantization or use --device cuda")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelLoadError(f"quantization {settings.quantization} needs the bitsandbytes package: pip install bitsandbytes")


def is_placed(model: Any) -> bool:
    """Whether accelerate placed the model (device_map or quantized loading): it stays where it was put."""
    return bool(getattr(model, "hf_device_map", None)) or bool(getattr(model, "is_quantized", False))


def input_device(model: Any) -> str:
    """Where a model's inputs go: its first placed module's device (accelerate's hooks move them on), else its parameters'."""
    device_map = getattr(model, "hf_device_map", None)
    if device_map:
        first = next(iter(device_map.values()))
        if isinstance(first, int):
            return f"cuda:{first}"
        return "cpu" if first in ("cpu", "disk", "meta") else str(first)
    return str(next(model.parameters()).device)


def checkpoint_fingerprint(model: str, revision: str | None = None) -> str:
    """Identifies a checkpoint by content, wherever it lies: its config and each weight file's name, size and first and last 64 KiB.

    A Hub id that is not on disk is identified by id and revision.
    """
    path = Path(model).expanduser()
    if not path.is_dir():
        return f"hub:{model}@{revision or 'main'}"
    digest = hashlib.sha256()
    config = path / "config.json"
    if config.exists():
        digest.update(json.dumps(json.loads(config.read_text()), sort_keys=True).encode())
    for weights in sorted(p for p in path.rglob("*") if p.suffix in _WEIGHT_SUFFIXES):
        size = weights.stat().st_size
        digest.update(f"{weights.relative_to(path)}:{size}".encode())
        with weights.open("rb") as handle:
            digest.update(handle.read(65536))
            handle.seek(max(0, size - 65536))
            digest.update(handle.read(65536))
    return f"sha256:{digest.hexdigest()}"


def vocabulary_fingerprint(tokenizer: Any) -> str:
    """A short hash of the tokenizer's vocabulary (token -> id), to tell tokenizers apart."""
    items = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]
