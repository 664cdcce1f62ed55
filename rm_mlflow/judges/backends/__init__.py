"""Judge backends, one per module, registered in the order ``judge_backend auto`` tries them: endpoint, vLLM, transformers."""

from rm_mlflow.judges.backends import endpoint, transformers, vllm  # noqa: F401 - each registers its backend, in this order
from rm_mlflow.judges.backends.base import (
    JUDGE_BACKENDS,
    BackendSpec,
    Generation,
    JudgeBackend,
    JudgeEndpointError,
    build_backend,
    choose_backend,
    register_backend,
)

__all__ = ["JUDGE_BACKENDS", "BackendSpec", "Generation", "JudgeBackend", "JudgeEndpointError", "build_backend", "choose_backend",
           "register_backend"]
