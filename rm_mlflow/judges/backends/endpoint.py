"""An OpenAI-compatible ``/chat/completions`` endpoint as a judge backend (vLLM serve, SGLang, TGI, hosted APIs)."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from urllib3.util.retry import Retry as _Retry

from rm_mlflow.errors import OptionError
from rm_mlflow.judges.backends.base import BackendSpec, Generation, JudgeBackend, JudgeEndpointError, OnDone, register_backend
from rm_mlflow.scoring.base import Conversation
from rm_mlflow.scoring.settings import ScoringSettings, redact_url

logger = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # an endpoint's answer larger than this is refused, not read into memory
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
ENDPOINT_FILE = "judge_endpoint.json"  # what a logged endpoint judge holds instead of weights


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

        body = {"model": self.model, "messages": [wire_message(m) for m in chat], "max_tokens": self.settings.judge.max_new_tokens,
                "temperature": 0}
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


def wire_message(message: Any) -> dict[str, Any]:
    """A chat turn as OpenAI's API takes it: text as is; a turn with images as content parts, each image a base64 ``data:`` URL."""
    content = message["content"]
    if isinstance(content, str):
        return dict(message)
    parts = [{"type": "text", "text": part["text"]} if part["type"] == "text" else
             {"type": "image_url", "image_url": {"url": part["image"].data_url()}} for part in content]
    return {"role": message["role"], "content": parts}


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


def endpoint_model_name(model: str) -> str:
    """The model name to send: a logged endpoint judge's recorded name, else ``model`` itself (``gpt-4o``, ``my-judge``)."""
    record = Path(model) / ENDPOINT_FILE
    if record.is_file():
        return str(json.loads(record.read_text(encoding="utf-8"))["model"])
    return model


def check_endpoint_settings(settings: ScoringSettings) -> None:
    """An endpoint is given, and its key variable (when named) is set."""
    if not settings.judge.endpoint:
        raise OptionError("--judge_backend endpoint needs --judge_endpoint URL")
    if settings.judge.api_key_env and not os.environ.get(settings.judge.api_key_env):
        raise OptionError(f"the environment variable {settings.judge.api_key_env} (--judge_api_key_env) is not set or empty")


ENDPOINT = register_backend(BackendSpec(
    "endpoint", usable=lambda settings: settings.judge.endpoint is not None,
    build=lambda model, settings: EndpointBackend(endpoint_model_name(model), settings),
    local=False, check=check_endpoint_settings,
))
