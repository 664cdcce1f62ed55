"""Scoring settings shared by every model kind, with the devices and dtypes they resolve to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from rm_mlflow.errors import OptionError

TruncationMode = Literal["none", "left", "right"]
TRUNCATION_MODES: tuple[str, ...] = ("none", "left", "right")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16", "float64")
ATTN_IMPLEMENTATIONS: tuple[str, ...] = ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")
REF_FREE_TYPES: tuple[str, ...] = ("avg", "sum", "norm")  # rewardbench's ref_free_norm modes
SHARED_PREFIX_MODES: tuple[str, ...] = ("auto", "off")
JUDGE_BACKEND_NAMES: tuple[str, ...] = ("auto", "transformers", "vllm", "endpoint")
JUDGE_MODES: tuple[str, ...] = ("ranking", "ratings")  # rewardbench-gen's default, and its --score_w_ratings
JUDGE_ORDERS: tuple[str, ...] = ("one", "both")
DEVICE_MAPS: tuple[str, ...] = ("auto", "balanced", "balanced_low_0", "sequential")  # accelerate's big-model placements
QUANTIZATIONS: tuple[str, ...] = ("none", "8bit", "4bit")
_MEMORY_PART = re.compile(r"^\s*(cpu|disk|mps|\d+)\s*=\s*(\d+(?:\.\d+)?\s*(?:[KMGT]i?B|B))\s*$", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda|xpu)(:\d+)?$")


@dataclass(frozen=True)
class ScoringSettings:
    """How conversations are formatted, truncated, batched and run.

    Truncation is named, never implicit: ``none`` is the rewardbench CLI default (no truncation
    unless ``--force_truncation``), ``left`` is ``run_rm.py``'s (keep the last ``max_length``
    tokens), ``right`` keeps the first ``max_length`` tokens.
    """

    tokenizer: str | None = None
    chat_template: str = "tokenizer"
    max_length: int = 2048
    truncation: TruncationMode = "none"
    batch_size: int = 64  # most sequences in one forward pass
    max_tokens_per_batch: int | None = None  # padded tokens per forward; None: a default for the device
    dtype: str = "auto"
    device: str = "auto"
    attn_implementation: str | None = "sdpa"
    score_index: int = 0
    trust_remote_code: bool = False
    revision: str | None = None
    shared_prefix: str = "auto"  # compute a prompt's common token prefix once for all its responses, where the model allows it
    # models bigger than one device: accelerate's placement over GPUs, CPU and disk, and bitsandbytes loading
    device_map: str | None = None
    max_memory: str | None = None  # "0=70GiB,1=70GiB,cpu=200GiB": per device, for device_map
    quantization: str = "none"
    # DPO (implicit reward): the reference model, or, without one, how the policy's log-probs are reduced
    ref_model: str | None = None
    ref_free_type: str = "avg"
    # custom heads: the forward output's attribute, or a model method, holding the reward; weights over objectives
    score_attribute: str | None = None
    score_method: str | None = None
    objective_weights: tuple[float, ...] | None = None
    # generative judges: where the text comes from, how verdicts are asked for, and how many tokens an answer may take
    judge_backend: str = "auto"
    judge_endpoint: str | None = None
    judge_api_key_env: str | None = None  # the NAME of the environment variable holding the key, never the key
    judge_mode: str = "ranking"
    judge_orders: str = "one"
    judge_seed: int = 0
    max_new_tokens: int = 2048
    judge_concurrency: int = 10
    no_system_prompt: bool = False
    tensor_parallel_size: int = 1
    judge_warn_share: float = 0.1  # warn when a subset's share of unparsed verdicts is above this

    def __post_init__(self) -> None:
        _check_choice("truncation", self.truncation, TRUNCATION_MODES)
        _check_choice("dtype", self.dtype, DTYPES)
        for name in ("batch_size", "max_length"):
            _check_positive(name, getattr(self, name))
        if self.max_tokens_per_batch is not None:
            _check_positive("max_tokens_per_batch", self.max_tokens_per_batch)
        if not isinstance(self.score_index, int) or isinstance(self.score_index, bool) or self.score_index < 0:
            raise OptionError(f"score_index must be a logit index (0 or more), got {self.score_index!r}")
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise OptionError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or 'xpu', got {self.device!r}")
        if self.attn_implementation is not None:
            _check_choice("attn_implementation", self.attn_implementation, ATTN_IMPLEMENTATIONS)
        _check_choice("ref_free_type", self.ref_free_type, REF_FREE_TYPES)
        _check_choice("shared_prefix", self.shared_prefix, SHARED_PREFIX_MODES)
        self._check_placement()
        if self.objective_weights is not None:
            weights = self.objective_weights
            if isinstance(weights, str):
                weights = tuple(part.strip() for part in weights.split(",") if part.strip())
            try:
                object.__setattr__(self, "objective_weights", tuple(float(weight) for weight in weights))
            except (TypeError, ValueError):
                raise OptionError(f"objective_weights must be numbers (one per objective), got {self.objective_weights!r}") from None
            if not self.objective_weights:
                raise OptionError("objective_weights must name at least one weight")
        self._check_judge()
        for name in ("tokenizer", "chat_template", "revision", "ref_model", "score_attribute", "score_method"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise OptionError(f"{name} must be a non-empty string, got {value!r}")

    def _check_placement(self) -> None:
        if self.device_map is not None:
            _check_choice("device_map", self.device_map, DEVICE_MAPS)
        _check_choice("quantization", self.quantization, QUANTIZATIONS)
        if self.max_memory is not None:
            if self.device_map is None:
                raise OptionError("max_memory places a model over devices: give it with device_map (e.g. --device_map auto)")
            self.memory_limits()

    def memory_limits(self) -> dict[int | str, str] | None:
        """``max_memory`` as accelerate takes it: GPU indices as ints, ``cpu``/``disk`` as names, sizes as given."""
        if self.max_memory is None:
            return None
        limits: dict[int | str, str] = {}
        for part in str(self.max_memory).split(","):
            match = _MEMORY_PART.match(part)
            if not match:
                raise OptionError(f"max_memory must be DEVICE=SIZE pairs such as '0=70GiB,cpu=200GiB', got {part.strip()!r}")
            device, size = match.group(1).lower(), match.group(2).replace(" ", "")
            limits[int(device) if device.isdigit() else device] = size
        return limits

    def _check_judge(self) -> None:
        _check_choice("judge_backend", self.judge_backend, JUDGE_BACKEND_NAMES)
        _check_choice("judge_mode", self.judge_mode, JUDGE_MODES)
        _check_choice("judge_orders", self.judge_orders, JUDGE_ORDERS)
        for name in ("max_new_tokens", "judge_concurrency", "tensor_parallel_size"):
            _check_positive(name, getattr(self, name))
        if not isinstance(self.judge_seed, int) or isinstance(self.judge_seed, bool):
            raise OptionError(f"judge_seed must be an integer, got {self.judge_seed!r}")
        if not isinstance(self.judge_warn_share, (int, float)) or not 0 <= self.judge_warn_share <= 1:
            raise OptionError(f"judge_warn_share must be a share between 0 and 1, got {self.judge_warn_share!r}")
        if self.judge_endpoint is not None:
            check_endpoint(self.judge_endpoint)
        if self.judge_api_key_env is not None and (not isinstance(self.judge_api_key_env, str) or not _ENV_NAME.match(self.judge_api_key_env)):
            # never echo the value: someone may have passed the key itself
            raise OptionError("judge_api_key_env must be the NAME of an environment variable holding the key (letters, digits, _), not the key")

    def as_dict(self) -> dict[str, Any]:
        """Every setting, as recorded with results and in run params."""
        values = asdict(self)
        if self.objective_weights is not None:
            values["objective_weights"] = list(self.objective_weights)
        return values

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "settings") -> ScoringSettings:
        """Build from a plain mapping (evaluator config, MLproject params, a logged model's defaults); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionError(f"{source}: unknown scoring setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        try:
            return cls(**values)
        except OptionError as error:
            raise OptionError(f"{source}: {error}") from None


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OptionError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OptionError(f"{name} must be a positive integer, got {value!r}")


def check_endpoint(endpoint: Any) -> None:
    """An http(s) URL without credentials or query (a key belongs in the environment variable named by judge_api_key_env)."""
    if not isinstance(endpoint, str):
        raise OptionError(f"judge_endpoint must be a URL, got {type(endpoint).__name__}")
    parts = urlsplit(endpoint)
    if parts.username or parts.password or parts.query:
        raise OptionError("judge_endpoint must not carry credentials or a query string; "
                          "name the environment variable holding the key with --judge_api_key_env")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f"judge_endpoint must be an http(s) URL such as http://127.0.0.1:8000/v1, got {redact_url(endpoint)!r}")


def redact_url(url: str) -> str:
    """The URL without user info, query or fragment: safe to log and record."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def resolve_device(requested: str = "auto") -> str:
    """``auto`` is ``cuda`` when a GPU is visible, else ``cpu``; an explicit device must exist on this machine."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = requested.partition(":")
    if kind == "cuda" and (not torch.cuda.is_available() or (index and int(index) >= torch.cuda.device_count())):
        raise OptionError(f"device {requested!r}: this machine has {torch.cuda.device_count()} CUDA device(s); use --device cpu or auto")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise OptionError("device 'mps': not available on this machine; use --device cpu or auto")
    return requested


def resolve_dtype(requested: str, device: str) -> Any:
    """The torch dtype: ``auto`` is bfloat16 on GPU and float32 on CPU."""
    import torch

    if requested == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, requested)


def default_token_budget(device: str) -> int:
    """Padded tokens per forward pass when ``max_tokens_per_batch`` is not set."""
    return 65536 if device.startswith("cuda") else 2048  # on a CPU, smaller forwards measured faster (cache-resident activations)
