"""Scoring settings: one typed object, each option declared once, with the devices and dtypes they resolve to.

Each option is a dataclass field whose metadata (:func:`option`) holds its help, choices and other
spellings. The command-line flags (:func:`add_scoring_flags`), the MLproject parameters
(:func:`mlproject_parameters`), the keys a logged model keeps (:func:`model_setting_keys`) and the flat
keys of ``evaluator_config`` are generated from these fields, so an option is written in one place.

Core settings apply to every model kind. A kind with options of its own has its own dataclass, nested in
:class:`ScoringSettings`: :class:`DPOSettings` (``settings.dpo``), :class:`CustomHeadSettings`
(``settings.custom``) and :class:`JudgeSettings` (``settings.judge``). Outside Python, settings are flat
mappings with one key per option (``ref_model``, ``judge_endpoint``, ...), which
:meth:`ScoringSettings.from_mapping` routes to its group and :meth:`ScoringSettings.as_dict` writes back.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from rm_mlflow.errors import OptionError

TruncationMode = Literal["none", "left", "right"]
TRUNCATION_MODES: tuple[str, ...] = ("none", "left", "right")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16", "float64")
ATTN_IMPLEMENTATIONS: tuple[str, ...] = ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")
REF_FREE_TYPES: tuple[str, ...] = ("avg", "sum", "norm")  # rewardbench's ref_free_norm modes
SHARED_PREFIX_MODES: tuple[str, ...] = ("auto", "on", "off")
BATCHING_MODES: tuple[str, ...] = ("independent", "rewardbench")
JUDGE_BACKEND_NAMES: tuple[str, ...] = ("auto", "transformers", "vllm", "endpoint")
JUDGE_MODES: tuple[str, ...] = ("ranking", "ratings")  # rewardbench-gen's default, and its --score_w_ratings
JUDGE_ORDERS: tuple[str, ...] = ("one", "both")
DEVICE_MAPS: tuple[str, ...] = ("auto", "balanced", "balanced_low_0", "sequential")  # accelerate's big-model placements
QUANTIZATIONS: tuple[str, ...] = ("none", "8bit", "4bit")
_MEMORY_PART = re.compile(r"^\s*(cpu|disk|mps|\d+)\s*=\s*(\d+(?:\.\d+)?\s*(?:[KMGT]i?B|B))\s*$", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda|xpu)(:\d+)?$")


def option(help: str, *, choices: tuple[str, ...] | None = None, aliases: tuple[str, ...] = (), key: str | None = None,
           model: bool = False, positive: bool = False) -> dict[str, Any]:
    """Field metadata declaring one scoring option.

    Args:
        help: the help text of its flag and MLproject parameter.
        choices: the values it accepts (its flag offers them).
        aliases: other flag spellings users have (rewardbench's ``--torch_dtype``, ``--num_threads``, ...).
        key: its flat key (flag, ``evaluator_config`` key, MLproject parameter) when it differs from the field name.
        model: a setting a logged model keeps (how it must be prompted and read); the rest belong to the machine.
        positive: an integer that must be 1 or more.
    """
    return {"help": help, "choices": choices, "aliases": aliases, "key": key, "model": model, "positive": positive}


@dataclass(frozen=True)
class DPOSettings:
    """DPO (implicit reward): the reference model, or, without one, how the policy's log-probs are reduced."""

    ref_model: str | None = field(default=None, metadata=option(
        "DPO: the reference model (folder, Hub id or models:/ URI); implies --model_kind dpo", model=True))
    ref_free_type: str = field(default="avg", metadata=option(
        "DPO without --ref_model: reduce the policy's log-probs by avg (default, as run_dpo.py), sum or norm", choices=REF_FREE_TYPES, model=True))

    def __post_init__(self) -> None:
        _check_choice("ref_free_type", self.ref_free_type, REF_FREE_TYPES)
        _check_text("ref_model", self.ref_model)


@dataclass(frozen=True)
class CustomHeadSettings:
    """Custom heads: the forward output's attribute, or a model method, holding the reward; weights over objectives."""

    score_attribute: str | None = field(default=None, metadata=option(
        "custom heads: the forward output's attribute holding the reward (e.g. score)", model=True))
    score_method: str | None = field(default=None, metadata=option(
        "custom heads: a model method returning the reward, called with input_ids and attention_mask", model=True))
    objective_weights: tuple[float, ...] | None = field(default=None, metadata=option(
        "multi-objective heads: comma-separated weights, one per objective (else --score_index)", model=True))

    def __post_init__(self) -> None:
        _check_text("score_attribute", self.score_attribute)
        _check_text("score_method", self.score_method)
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

    @property
    def named(self) -> bool:
        """Whether the reward's place is named (an attribute or a method): such a model is a custom head whatever its config says."""
        return bool(self.score_attribute or self.score_method)


@dataclass(frozen=True)
class JudgeSettings:
    """Generative judges: where the text comes from, how verdicts are asked for, and how many tokens an answer may take."""

    backend: str = field(default="auto", metadata=option(
        "generative judges: auto (default: the endpoint when given, else vLLM when installed on a GPU, else transformers), "
        "transformers, vllm or endpoint", choices=JUDGE_BACKEND_NAMES, key="judge_backend"))
    endpoint: str | None = field(default=None, metadata=option(
        "generative judges: an OpenAI-compatible base URL (http://127.0.0.1:8000/v1); --model is the model name it serves",
        key="judge_endpoint", model=True))
    api_key_env: str | None = field(default=None, metadata=option(  # the NAME of the environment variable holding the key, never the key
        "generative judges: the NAME of the environment variable holding the endpoint's key (never the key itself)",
        key="judge_api_key_env", model=True))
    mode: str = field(default="ranking", metadata=option(
        "generative judges: ranking (default: compare answers) or ratings (rate each answer 1-10)",
        choices=JUDGE_MODES, key="judge_mode", model=True))
    orders: str = field(default="one", metadata=option(
        "generative judges: one seeded order per comparison (default), or both (every order; reports position consistency)",
        choices=JUDGE_ORDERS, key="judge_orders", model=True))
    seed: int = field(default=0, metadata=option("generative judges: seed of the A/B order (default 0)", key="judge_seed", model=True))
    samples: int = field(default=1, metadata=option(
        "generative judges, on benchmarks whose authors vote over samples (VL-RewardBench): calls per item, each in its own drawn "
        "answer order, decided by majority (default 1)", key="judge_samples", model=True, positive=True))
    max_new_tokens: int = field(default=2048, metadata=option(
        "generative judges: longest answer in tokens (default 2048)", model=True, positive=True))
    concurrency: int = field(default=10, metadata=option(
        "generative judges: requests in flight to an endpoint (default 10)", aliases=("--num_threads",), key="judge_concurrency", positive=True))
    no_system_prompt: bool = field(default=False, metadata=option(
        "generative judges: put the judge instructions in the user turn (models without a system role)", model=True))
    tensor_parallel_size: int = field(default=1, metadata=option(
        "vLLM judges: GPUs per judge (default 1)", aliases=("--num_gpus",), positive=True))
    warn_share: float = field(default=0.1, metadata=option(
        "generative judges: warn when a subset's share of answers without a verdict exceeds this (default 0.1)", key="judge_warn_share"))

    def __post_init__(self) -> None:
        _check_choice("judge_backend", self.backend, JUDGE_BACKEND_NAMES)
        _check_choice("judge_mode", self.mode, JUDGE_MODES)
        _check_choice("judge_orders", self.orders, JUDGE_ORDERS)
        for name, value in (("max_new_tokens", self.max_new_tokens), ("judge_concurrency", self.concurrency), ("judge_samples", self.samples),
                            ("tensor_parallel_size", self.tensor_parallel_size)):
            _check_positive(name, value)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise OptionError(f"judge_seed must be an integer, got {self.seed!r}")
        if not isinstance(self.warn_share, (int, float)) or not 0 <= self.warn_share <= 1:
            raise OptionError(f"judge_warn_share must be a share between 0 and 1, got {self.warn_share!r}")
        if self.endpoint is not None:
            check_endpoint(self.endpoint)
        if self.api_key_env is not None and (not isinstance(self.api_key_env, str) or not _ENV_NAME.match(self.api_key_env)):
            # never echo the value: someone may have passed the key itself
            raise OptionError("judge_api_key_env must be the NAME of an environment variable holding the key (letters, digits, _), not the key")


@dataclass(frozen=True)
class ScoringSettings:
    """How conversations are formatted, truncated, batched and run, with each kind's own options in its group.

    Truncation is named, never implicit: ``none`` is the rewardbench CLI default (no truncation
    unless ``--force_truncation``), ``left`` is ``run_rm.py``'s (keep the last ``max_length``
    tokens), ``right`` keeps the first ``max_length`` tokens.
    """

    tokenizer: str | None = field(default=None, metadata=option("tokenizer to use instead of the model's"))
    chat_template: str = field(default="tokenizer", metadata=option(
        "'tokenizer' (the tokenizer's own; the default), 'raw', a named template (chatml, tulu, llama-3) or a Jinja file", model=True))
    max_length: int = field(default=2048, metadata=option(
        "truncation length in tokens (default 2048; Long-RewardBench, whose contexts run far past it: the model's position limit)",
        model=True, positive=True))
    truncation: TruncationMode = field(default="none", metadata=option(
        "'none' (default, as the rewardbench CLI), 'left' (run_rm.py: keep the end) or 'right'", choices=TRUNCATION_MODES, model=True))
    batch_size: int = field(default=64, metadata=option("most sequences per forward pass (default 64)", positive=True))
    max_tokens_per_batch: int | None = field(default=None, metadata=option(  # None: a default for the device
        "padded-token budget per forward pass (default: by device)", positive=True))
    dtype: str = field(default="auto", metadata=option(
        "'auto' (default) is bfloat16 on GPU, float32 on CPU", choices=DTYPES, aliases=("--torch_dtype",), model=True))
    device: str = field(default="auto", metadata=option("'auto' (default: cuda if available), 'cpu', 'cuda', 'cuda:1', ..."))
    attn_implementation: str | None = field(default="sdpa", metadata=option(
        "sdpa (default), eager or flash_attention_2", choices=ATTN_IMPLEMENTATIONS, model=True))
    score_index: int = field(default=0, metadata=option("which logit of a multi-logit head is the reward (default 0)", model=True))
    trust_remote_code: bool = field(default=False, metadata=option("allow model code from the Hub (off by default)"))
    revision: str | None = field(default=None, metadata=option("model and dataset revision on the Hub"))
    shared_prefix: str = field(default="auto", metadata=option(
        "auto (default): compute each prompt's common token prefix once for all its responses where the model allows it "
        "(checked when it loads) and it pays (on a CPU: prompts with three or more answers, not pairs); on: wherever the model "
        "allows it, pairs on a CPU too; off: every conversation whole", choices=SHARED_PREFIX_MODES))
    batching: str = field(default="independent", metadata=option(
        "independent (default): each conversation scored as it is alone, whatever it is batched with; rewardbench: rewardbench's own "
        "batches (dataset order, --batch_size pairs, left padding, no position ids, chosen and rejected apart), to reproduce its "
        "published numbers for a model with absolute positions (docs/parity.md); sequence classifiers, pairs only", choices=BATCHING_MODES))
    # models bigger than one device: accelerate's placement over GPUs, CPU and disk, and bitsandbytes loading
    device_map: str | None = field(default=None, metadata=option(
        "models bigger than one device: accelerate's placement over the GPUs, then CPU, then disk (classifiers, DPO, custom)", choices=DEVICE_MAPS))
    max_memory: str | None = field(default=None, metadata=option(
        "with --device_map: memory per device, e.g. '0=70GiB,1=70GiB,cpu=200GiB'"))
    quantization: str = field(default="none", metadata=option(
        "none (default), 8bit (as the rewardbench CLI loads models) or 4bit: bitsandbytes on a CUDA GPU; recorded in params", choices=QUANTIZATIONS))
    dpo: DPOSettings = field(default_factory=DPOSettings)
    custom: CustomHeadSettings = field(default_factory=CustomHeadSettings)
    judge: JudgeSettings = field(default_factory=JudgeSettings)

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
        _check_choice("shared_prefix", self.shared_prefix, SHARED_PREFIX_MODES)
        _check_choice("batching", self.batching, BATCHING_MODES)
        self._check_placement()
        for name in ("tokenizer", "chat_template", "revision"):
            _check_text(name, getattr(self, name))

    def _check_placement(self) -> None:
        if self.device_map is not None:
            _check_choice("device_map", self.device_map, DEVICE_MAPS)
        _check_choice("quantization", self.quantization, QUANTIZATIONS)
        if self.max_memory is not None:
            if self.device_map is None:
                raise OptionError("max_memory places a model over devices: give it with device_map (e.g. --device_map auto)")
            self.memory_limits()

    @functools.cached_property
    def resolved_device(self) -> str:
        """The device the settings name, resolved once (``auto`` is ``cuda`` when a GPU is visible, else ``cpu``); see :func:`resolve_device`."""
        return resolve_device(self.device)

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

    def as_dict(self, groups: Sequence[str] | None = None) -> dict[str, Any]:
        """Every setting under its flat key (as :meth:`from_mapping` reads it); with ``groups``, the core ones and only those groups'.

        Results and run params record a model's settings with the groups its kind reads (a classifier's run has no
        ``judge_*`` params).
        """
        values: dict[str, Any] = {}
        for spec in scoring_options():
            if groups is not None and spec.group is not None and spec.group not in groups:
                continue
            value = spec.get(self)
            values[spec.key] = list(value) if isinstance(value, tuple) else value
        return values

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "settings") -> ScoringSettings:
        """Build from a flat mapping (evaluator config, MLproject params, a logged model's defaults); unknown keys are an error."""
        specs = {spec.key: spec for spec in scoring_options()}
        unknown = sorted(set(values) - set(specs))
        if unknown:
            raise OptionError(f"{source}: unknown scoring setting(s) {', '.join(unknown)}; known: {', '.join(sorted(specs))}")
        grouped: dict[str | None, dict[str, Any]] = {}
        for key, value in values.items():
            grouped.setdefault(specs[key].group, {})[specs[key].name] = value
        try:
            groups = {group: _GROUPS[group](**members) for group, members in grouped.items() if group is not None}
            return cls(**grouped.get(None, {}), **groups)
        except OptionError as error:
            raise OptionError(f"{source}: {error}") from None

    def with_values(self, values: Mapping[str, Any], *, source: str = "settings") -> ScoringSettings:
        """These settings with the flat ``values`` on top (a logged model's settings under the caller's explicit ones)."""
        return ScoringSettings.from_mapping(self.as_dict() | dict(values), source=source)


_GROUPS: dict[str, type] = {"dpo": DPOSettings, "custom": CustomHeadSettings, "judge": JudgeSettings}


@dataclass(frozen=True)
class OptionSpec:
    """One scoring option as every generated surface sees it: flat key, group, field, type, default, and its metadata."""

    key: str
    group: str | None  # None: a core setting
    name: str  # the field name within its dataclass
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None
    aliases: tuple[str, ...]
    model: bool
    positive: bool

    def get(self, settings: ScoringSettings) -> Any:
        """This option's value in ``settings``."""
        return getattr(getattr(settings, self.group) if self.group else settings, self.name)


def scoring_options() -> tuple[OptionSpec, ...]:
    """Every scoring option, core first, then each kind's group: the one list the flags, parameters and flavor keys come from."""
    if not _OPTIONS:
        _OPTIONS.extend(_specs(ScoringSettings, None))
        for group, group_type in _GROUPS.items():
            _OPTIONS.extend(_specs(group_type, group))
    return tuple(_OPTIONS)


_OPTIONS: list[OptionSpec] = []


def number_changing_keys() -> frozenset[str]:
    """The settings two evaluations must share for their scores to be comparable: how the model is prompted and read.

    Those a logged model keeps, and the tokenizer, weight revision, quantization and the batching mode (rewardbench's
    batches move an absolute-position model's scores); not batch sizes, devices or where a key is read from.
    """
    kept = {spec.key for spec in scoring_options() if spec.model}
    return frozenset(kept | {"tokenizer", "revision", "quantization", "batching"}) - {"judge_api_key_env"}
_VALUE_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "tuple": str}  # objective weights arrive as "a,b,c"


def _specs(owner: type, group: str | None) -> list[OptionSpec]:
    specs = []
    for item in fields(owner):
        if item.name in _GROUPS:
            continue
        annotation = str(item.type).replace("TruncationMode", "str")
        base = annotation.split("|")[0].split("[")[0].strip()
        default = item.default_factory() if item.default_factory is not MISSING else item.default
        meta = item.metadata
        specs.append(OptionSpec(
            key=meta.get("key") or item.name, group=group, name=item.name, type=_VALUE_TYPES[base], default=default, help=meta["help"],
            choices=meta.get("choices"), aliases=tuple(meta.get("aliases", ())), model=meta.get("model", False), positive=meta.get("positive", False),
        ))
    return specs


def model_setting_keys() -> tuple[str, ...]:
    """The flat keys a logged model keeps with itself (how it must be prompted and read), plus its kind."""
    return (*(spec.key for spec in scoring_options() if spec.model), "model_kind")


def add_scoring_flags(parser: Any, *, positive_int: Any) -> None:
    """One flag per scoring option (``--name``, ``--name-with-dashes`` and its aliases), default None: only what was given overrides.

    Written here rather than with ``transformers.HfArgumentParser``: that parser knows neither nested groups nor
    "not given" (a logged model's own settings must fill what the user did not pass), nor our other spellings.
    """
    for spec in scoring_options():
        names = [f"--{spec.key}", *([f"--{spec.key.replace('_', '-')}"] if "_" in spec.key else []), *spec.aliases]
        kwargs: dict[str, Any] = {"dest": spec.key, "default": None, "help": spec.help}
        if spec.type is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = positive_int if spec.positive else spec.type
            if spec.choices:
                kwargs["choices"] = spec.choices
        parser.add_argument(*names, **kwargs)


def flag_values(namespace: Any) -> dict[str, Any]:
    """The scoring options given on a parsed command line, by flat key (flags left out are not in it)."""
    values = {}
    for spec in scoring_options():
        value = getattr(namespace, spec.key, None)
        if value is not None and value is not False:
            values[spec.key] = value
    return values


def mlproject_parameters() -> dict[str, str]:
    """Each scoring option as an MLproject parameter: its flat key and its default (empty: the model's logged setting, else ours)."""
    return {spec.key: "false" if spec.type is bool else "" for spec in scoring_options()}


def parse_mlproject_value(key: str, text: str) -> Any:
    """An MLproject parameter's string as the option's value; empty is "not given" (None)."""
    spec = next(spec for spec in scoring_options() if spec.key == key)
    if text in ("", None):
        return None
    if spec.type is bool:
        return text.strip().lower() in ("1", "true", "yes")
    try:
        return spec.type(text)
    except ValueError:
        raise OptionError(f"MLproject parameter {key}: expected {spec.type.__name__}, got {text!r}") from None


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OptionError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OptionError(f"{name} must be a positive integer, got {value!r}")


def _check_text(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise OptionError(f"{name} must be a non-empty string, got {value!r}")


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
