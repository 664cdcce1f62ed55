"""vLLM generation for judges on a GPU: the model's own context length, greedy sampling, chunks of 256 prompts."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

from rm_mlflow.errors import ModelLoadError
from rm_mlflow.judges.backends.base import BackendSpec, Generation, JudgeBackend, OnDone, judge_prompt_tokens, register_backend
from rm_mlflow.judges.backends.endpoint import wire_message
from rm_mlflow.scoring.base import Conversation
from rm_mlflow.scoring.settings import ScoringSettings


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
        """Chunks of 256 prompts (each chunk's answers kept before the next starts); chats with images through :meth:`_generate_images`."""
        if any(not isinstance(message["content"], str) for chat in chats for message in chat):
            self._generate_images(chats, on_done, progress)
            return
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

    def _generate_images(self, chats: Sequence[Conversation], on_done: OnDone, progress: Callable[[int], None] | None) -> None:
        """``LLM.chat`` over OpenAI-style messages (each image a base64 ``data:`` URL), as ``vllm serve`` takes them; 32 chats at a time.

        vLLM applies the model's chat template and processor itself, so the prompt cannot be cut: a prompt over the
        model's context is vLLM's error. Not yet run on a GPU here (no machine was lent to the session that wrote it).
        """
        for start in range(0, len(chats), 32):
            chunk = [[wire_message(message) for message in chat] for chat in chats[start : start + 32]]
            outputs = self.llm.chat(chunk, sampling_params=self.sampling, use_tqdm=False)
            for offset, output in enumerate(outputs):
                answer = output.outputs[0]
                on_done(start + offset, Generation(answer.text, len(output.prompt_token_ids), len(answer.token_ids)))
            if progress:
                progress(len(outputs))

    def describe(self) -> dict[str, Any]:
        """Backend and tensor parallelism."""
        return {"backend": self.name, "tensor_parallel_size": self.settings.judge.tensor_parallel_size}


def _usable(settings: ScoringSettings) -> bool:
    return importlib.util.find_spec("vllm") is not None and settings.resolved_device.startswith("cuda")


VLLM = register_backend(BackendSpec("vllm", usable=_usable, build=VllmBackend))
