"""Where a generative judge's text comes from: local ``transformers`` generation, vLLM, or an OpenAI-compatible endpoint.

Each backend turns judge chats (system and user turns) into generations, greedily (temperature 0, as
rewardbench). They report each generation as it finishes (``on_done``), so the caller can keep it on
disk before the next one: a killed or failed run loses nothing it had judged.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from urllib3.util.retry import Retry as _Retry

from rm_mlflow._registry import Registry
from rm_mlflow.errors import ModelLoadError, OptionError, RmMlflowError
from rm_mlflow.scoring.base import Conversation, TokenizedConversation, padded
from rm_mlflow.scoring.hf import input_device
from rm_mlflow.scoring.lengths import position_limit, tokenize_with_limit
from rm_mlflow.scoring.settings import ScoringSettings, default_token_budget, redact_url

logger = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # an endpoint's answer larger than this is refused, not read into memory
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class JudgeEndpointError(RmMlflowError):
    """An OpenAI-compatible endpoint refused a request, or kept failing after the retries."""


@dataclass(frozen=True)
class Generation:
    """One judge answer: its text and token counts (None when the backend does not say)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    truncated: bool = False  # the prompt was cut to fit (only under --truncation left/right)


OnDone = Callable[[int, Generation], None]


class JudgeBackend(ABC):
    """Generates the judge's answer to each chat, greedily, at most ``settings.judge.max_new_tokens`` tokens."""

    name: str
    device: str = "remote"

    @abstractmethod
    def generate(self, chats: Sequence[Conversation], on_done: OnDone, *, progress: Callable[[int], None] | None = None) -> None:
        """Answer every chat; call ``on_done(index, generation)`` as each one finishes."""

    def describe(self) -> dict[str, Any]:
        """What identifies this backend's answers (recorded with results; part of the judgment cache key)."""
        return {"backend": self.name}


def judge_prompt_tokens(
    tokenizer: Any, chats: Sequence[Conversation], settings: ScoringSettings, max_positions: int | None
) -> list[TokenizedConversation]:
    """Each chat in the tokenizer's template with the generation prompt, tokenized without adding special tokens again.

    ``max_length`` bounds the prompt, and the prompt must leave ``max_new_tokens`` of room within the judge's
    position limit: a longer one is refused (``truncation none``, naming it) or cut. rewardbench's own comment says
    not to add special tokens again (its vLLM path then passes the text anyway, so a template that writes BOS gets two there).
    """
    room = settings.max_length if max_positions is None else min(settings.max_length, max_positions - settings.judge.max_new_tokens)
    if room < 1:
        raise OptionError(no_room_message(settings.judge.max_new_tokens, max_positions))
    texts = [tokenizer.apply_chat_template(list(chat), tokenize=False, add_generation_prompt=True) for chat in chats]
    within = f", within {max_positions} positions less max_new_tokens {settings.judge.max_new_tokens}" if max_positions else ""
    hint = f" (max_length {settings.max_length}{within}); pass --truncation left, a larger --max_length or a smaller --max_new_tokens"
    return tokenize_with_limit(tokenizer, texts, limit=room, truncation=settings.truncation, hint=hint, add_special_tokens=False)


def no_room_message(max_new_tokens: int, positions: int | None) -> str:
    """The one line for answers that leave a judge no room for its prompt."""
    return (f"max_new_tokens {max_new_tokens} leaves no room for the judge prompt within the model's {positions} positions; "
            "pass a smaller --max_new_tokens")


class TransformersBackend(JudgeBackend):
    """Local generation: length-sorted, left-padded batches under a token budget, greedy decoding."""

    name = "transformers"

    def __init__(self, model: Any, tokenizer: Any, settings: ScoringSettings) -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.device = input_device(model)
        self._torch = torch

    def max_positions(self) -> int | None:
        """The judge's position limit."""
        return position_limit(self.model.config)

    def generate(self, chats: Sequence[Conversation], on_done: OnDone, *, progress: Callable[[int], None] | None = None) -> None:
        """Batches of similar length, each row's answer decoded after its prompt, up to and including EOS."""
        prompts = judge_prompt_tokens(self.tokenizer, chats, self.settings, self.max_positions())
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        budget = self.settings.max_tokens_per_batch or default_token_budget(self.device)
        start = 0
        while start < len(order):
            width = len(prompts[order[start]]) + self.settings.judge.max_new_tokens
            rows = max(1, min(self.settings.batch_size, budget // width))
            batch = order[start : start + rows]
            for index, generation in zip(batch, self._generate_batch([prompts[i] for i in batch]), strict=True):
                on_done(index, generation)
            if progress:
                progress(len(batch))
            start += len(batch)

    def _generate_batch(self, prompts: list[TokenizedConversation]) -> list[Generation]:
        torch = self._torch
        input_ids, attention_mask = padded(self.tokenizer, prompts, side="left")
        width = input_ids.shape[1]
        config = self._generation_config()
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device), generation_config=config
            )
        eos = set(_as_list(config.eos_token_id))
        generations = []
        for row, item in enumerate(prompts):
            new = output[row, width:].tolist()
            end = next((i + 1 for i, token in enumerate(new) if token in eos), len(new))
            text = self.tokenizer.decode(new[:end], skip_special_tokens=True)
            generations.append(Generation(text=text, prompt_tokens=len(item), completion_tokens=end, truncated=item.truncated))
        return generations

    def _generation_config(self) -> Any:
        from transformers import GenerationConfig

        base = getattr(self.model, "generation_config", None)
        eos = (base.eos_token_id if base is not None else None) or self.tokenizer.eos_token_id
        return GenerationConfig(
            do_sample=False, num_beams=1, max_new_tokens=self.settings.judge.max_new_tokens, eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id, bos_token_id=getattr(base, "bos_token_id", None),
        )

    def describe(self) -> dict[str, Any]:
        """Backend, device and dtype."""
        return {"backend": self.name, "device": self.device, "dtype": str(self.model.dtype).removeprefix("torch.")}


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class VllmBackend(JudgeBackend):
    """vLLM on the GPU(s): one ``generate`` call over every prompt, ``tensor_parallel_size`` GPUs per judge."""

    name = "vllm"
    device = "cuda"

    def __init__(self, model_path: str, settings: ScoringSettings) -> None:
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise ModelLoadError("the vllm judge backend needs vLLM (pip install vllm, on a CUDA machine); "
                                 "or use --judge_backend transformers, or an endpoint with --judge_endpoint") from None
        self.settings = settings
        kwargs: dict[str, Any] = {"tensor_parallel_size": settings.judge.tensor_parallel_size, "trust_remote_code": settings.trust_remote_code}
        if settings.revision:
            kwargs["revision"] = settings.revision
        if settings.dtype != "auto":
            kwargs["dtype"] = settings.dtype
        self.llm = LLM(model_path, **kwargs)  # the model's own context length: max_length bounds the prompt, not prompt and answer
        self.tokenizer = self.llm.get_tokenizer()
        self.sampling = SamplingParams(n=1, temperature=0, top_p=1, max_tokens=settings.judge.max_new_tokens)

    def generate(self, chats: Sequence[Conversation], on_done: OnDone, *, progress: Callable[[int], None] | None = None) -> None:
        """Chunks of 256 prompts (each chunk's answers kept before the next starts)."""
        positions = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        tokenized = judge_prompt_tokens(self.tokenizer, chats, self.settings, getattr(positions, "max_model_len", None))
        prompts = [{"prompt_token_ids": list(item.input_ids)} for item in tokenized]
        for start in range(0, len(prompts), 256):
            outputs = self.llm.generate(prompts[start : start + 256], sampling_params=self.sampling, use_tqdm=False)
            for offset, output in enumerate(outputs):
                answer = output.outputs[0]
                truncated = tokenized[start + offset].truncated
                on_done(start + offset, Generation(answer.text, len(output.prompt_token_ids), len(answer.token_ids), truncated))
            if progress:
                progress(len(outputs))

    def describe(self) -> dict[str, Any]:
        """Backend and tensor parallelism."""
        return {"backend": self.name, "tensor_parallel_size": self.settings.judge.tensor_parallel_size}


class EndpointBackend(JudgeBackend):
    """An OpenAI-compatible ``/chat/completions`` endpoint (vLLM serve, SGLang, TGI, hosted APIs).

    Requests run ``judge_concurrency`` at a time; 429, 5xx and connection failures are retried with
    exponential backoff (``Retry-After`` honoured, up to 60 s). The key comes only from the environment
    variable named by ``judge_api_key_env`` and is sent only as the ``Authorization`` header.
    """

    name = "endpoint"

    def __init__(self, model: str, settings: ScoringSettings, *, attempts: int = 6, first_delay: float = 1.0) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.model = model
        self.settings = settings
        self.url = completions_url(settings.judge.endpoint or "")
        self.attempts = attempts
        self._session = requests.Session()
        # urllib3 does the retrying: 429, 5xx and connection failures, exponential backoff, Retry-After honoured (at most 60 s)
        retry = _CappedRetry(total=attempts - 1, backoff_factor=first_delay, backoff_max=60.0, backoff_jitter=0.1 * first_delay,
                             status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"POST"}), respect_retry_after_header=True,
                             raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=settings.judge.concurrency)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["Content-Type"] = "application/json"
        if settings.judge.api_key_env:
            key = os.environ.get(settings.judge.api_key_env)
            if not key:
                raise OptionError(f"the environment variable {settings.judge.api_key_env} (--judge_api_key_env) is not set or empty")
            self._session.headers["Authorization"] = f"Bearer {key}"
        self._local = threading.local()

    def generate(self, chats: Sequence[Conversation], on_done: OnDone, *, progress: Callable[[int], None] | None = None) -> None:
        """Concurrent requests; the first request that cannot succeed stops the run (finished answers are already kept)."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.settings.judge.concurrency) as pool:
            futures = {pool.submit(self._complete, chat): index for index, chat in enumerate(chats)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    on_done(futures[future], future.result())
                    if progress:
                        progress(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _complete(self, chat: Conversation) -> Generation:
        import requests

        body = {"model": self.model, "messages": [dict(m) for m in chat], "max_tokens": self.settings.judge.max_new_tokens, "temperature": 0}
        where = redact_url(self.url)
        try:
            with self._session.post(self.url, data=json.dumps(body), timeout=(10, 600), stream=True) as response:
                if response.status_code == 200:
                    return _generation_from(_bounded_json(response, self.url))
                failure = f"HTTP {response.status_code}: {_error_text(response)}"
                if response.status_code in RETRY_STATUSES:
                    raise JudgeEndpointError(f"judge endpoint {where} failed {self.attempts} times; last: {failure}")
                raise JudgeEndpointError(f"judge endpoint {where} refused the request ({failure})")
        except (requests.ConnectionError, requests.Timeout) as error:
            last = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            raise JudgeEndpointError(f"judge endpoint {where} failed {self.attempts} times; last: {last}") from None

    def describe(self) -> dict[str, Any]:
        """Backend, the endpoint's address (no credentials) and the model name sent."""
        return {"backend": self.name, "endpoint": redact_url(self.url), "endpoint_model": self.model}


def completions_url(endpoint: str) -> str:
    """``.../chat/completions`` for a base URL such as ``http://127.0.0.1:8000/v1``."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/chat/completions") else f"{endpoint}/chat/completions"


def _bounded_json(response: Any, url: str) -> dict[str, Any]:
    chunks, size = [], 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise JudgeEndpointError(f"judge endpoint {redact_url(url)} answered more than {MAX_RESPONSE_BYTES // 2**20} MiB; refused")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise JudgeEndpointError(f"judge endpoint {redact_url(url)} answered something that is not JSON") from None


def _generation_from(document: dict[str, Any]) -> Generation:
    try:
        text = document["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise JudgeEndpointError("judge endpoint answered without choices[0].message; is it an OpenAI-compatible chat endpoint?") from None
    usage = document.get("usage") or {}
    return Generation(text=text, prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))


def _error_text(response: Any) -> str:
    try:
        raw = next(response.iter_content(4096), b"")
        text = raw.decode("utf-8", "replace")
        message = json.loads(text).get("error", text) if text.startswith("{") else text
        if isinstance(message, dict):
            message = message.get("message", "")
        return " ".join(str(message).split())[:200] or response.reason
    except (ValueError, AttributeError):
        return str(response.reason)


class _CappedRetry(_Retry):
    """urllib3's retry, with a server's ``Retry-After`` capped at 60 s."""

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, 60.0)


@dataclass(frozen=True)
class BackendChoice:
    """One way to run a judge: ``usable`` says whether ``auto`` may pick it for these settings."""

    name: str
    usable: Callable[[ScoringSettings], bool]


def _vllm_usable(settings: ScoringSettings) -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None and settings.resolved_device.startswith("cuda")


JUDGE_BACKENDS: Registry[BackendChoice] = Registry("judge backend")
for _choice in (
    BackendChoice("endpoint", lambda settings: settings.judge.endpoint is not None),
    BackendChoice("vllm", _vllm_usable),
    BackendChoice("transformers", lambda settings: True),
):
    JUDGE_BACKENDS.add(_choice.name, _choice)


def choose_backend(settings: ScoringSettings) -> str:
    """``judge_backend``, or for ``auto`` the first usable of endpoint (when one is given), vLLM (installed, GPU), transformers."""
    if settings.judge.backend != "auto":
        JUDGE_BACKENDS.get(settings.judge.backend)
        if settings.judge.backend == "endpoint" and not settings.judge.endpoint:
            raise OptionError("--judge_backend endpoint needs --judge_endpoint URL")
        return settings.judge.backend
    return next(name for name, choice in JUDGE_BACKENDS if choice.usable(settings))
