"""Fixtures: tiny models built in-test from a config, real benchmark rows from ../shared/data, one loopback MLflow server."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from rm_mlflow.data.sample import sample_corpus
from tests.helpers import JUDGE_KEY_ENV, SHARED_DATA, JudgeServer, running_mlflow_server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# a per-session secret for judge endpoints, set before any server or service process starts (they inherit it)
os.environ[JUDGE_KEY_ENV] = f"sk-rmtest-{secrets.token_hex(16)}"
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "rmb").is_dir():
        pytest.fail(f"the shared benchmark data is missing: expected {SHARED_DATA}/rmb (set RM_MLFLOW_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rm_mlflow.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-llama"), corpus=sample_corpus(), architecture="llama")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rm_mlflow.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-gpt2"), corpus=sample_corpus(), architecture="gpt2", max_positions=256)


@pytest.fixture(scope="session")
def tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama trained in-test into a judge that always prefers answer A and rates every answer 8 (see build_tiny_judge)."""
    from rm_mlflow.tiny_models import build_tiny_judge

    return build_tiny_judge(tmp_path_factory.mktemp("tiny-judge") / "judge")


@pytest.fixture(scope="session")
def tiny_vl_judge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA trained in-test into a judge that answers Answer 1 for a red picture, Answer 2 for a blue one (see build_tiny_vl_judge)."""
    from rm_mlflow.tiny_models import build_tiny_vl_judge

    return build_tiny_vl_judge(tmp_path_factory.mktemp("tiny-vl-judge") / "judge")


@pytest.fixture(scope="session")
def judge_server(tmp_path_factory: pytest.TempPathFactory, tiny_judge) -> Iterator[JudgeServer]:
    """``transformers serve`` on loopback serving the tiny judge: a real OpenAI-compatible endpoint."""
    server = JudgeServer(tiny_judge, tmp_path_factory.mktemp("judge-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture
def tracking(mlflow_server, monkeypatch):
    """Point MLflow (this process and its children) at the loopback server for one test."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    yield mlflow_server
    while mlflow.active_run():
        mlflow.end_run()
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)  # mlflow.set_experiment exports it; it must not leak into later tests


@pytest.fixture(scope="session")
def registered_rm(mlflow_server, tiny_llama) -> str:
    """The tiny Llama reward model logged with the rm_mlflow flavor and registered as ``tiny-rm`` v1, alias ``champion``."""
    import mlflow

    import rm_mlflow

    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_experiment("registered-models")
    with mlflow.start_run():
        rm_mlflow.log_model(str(tiny_llama), "rm", registered_model_name="tiny-rm", settings={"max_length": 1024})
    mlflow.MlflowClient().set_registered_model_alias("tiny-rm", "champion", "1")
    return "tiny-rm"



@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """``rm-mlflow demo`` run once, in-process, in its own folder and sqlite store."""
    from rm_mlflow.demo import run_demo

    printed: list[str] = []
    result = run_demo(tmp_path_factory.mktemp("demo") / "rm-mlflow-demo", progress=False, say=printed.append)
    result.printed = "\n".join(printed)
    return result


@pytest.fixture(scope="session")
def tiny_causal_lms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-init Llama causal LMs sharing one tokenizer: two DPO policies and their reference (different seeds)."""
    from transformers import AutoTokenizer

    from rm_mlflow.tiny_models import build_tiny_reward_model

    root = tmp_path_factory.mktemp("causal-lms")
    policy = build_tiny_reward_model(root / "policy", corpus=sample_corpus(), head="causal-lm", seed=1)
    tokenizer = AutoTokenizer.from_pretrained(policy)
    return {
        "policy": policy,
        "policy2": build_tiny_reward_model(root / "policy2", corpus=sample_corpus(), head="causal-lm", seed=3, tokenizer=tokenizer),
        "reference": build_tiny_reward_model(root / "reference", corpus=sample_corpus(), head="causal-lm", seed=2, tokenizer=tokenizer),
    }


@pytest.fixture(scope="session")
def tiny_custom_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init multi-objective head whose remote code returns ``.score`` and ``.rewards`` (ArmoRM-shaped)."""
    from rm_mlflow.tiny_models import build_tiny_custom_head_model

    return build_tiny_custom_head_model(tmp_path_factory.mktemp("custom-head"), corpus=sample_corpus())


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path_factory, monkeypatch):
    """Shared caches (DPO reference log-probs) go to a test folder, never the user's ~/.cache."""
    monkeypatch.setenv("RM_MLFLOW_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rm-mlflow-cache"))
