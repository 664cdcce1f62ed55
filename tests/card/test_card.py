"""Model-card sync: huggingface_hub round trip, no clobbering of other results, local/run/Hub targets."""

import json
import os
import subprocess
import sys

import mlflow
import pytest
import yaml
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from mlflow import MlflowClient

from rm_mlflow.card import CardTarget, render_card, sync_local
from rm_mlflow.data import DataOptions
from rm_mlflow.results import write_results_document
from tests.card.fake_hub import FakeHub
from tests.helpers import REPO_ROOT, SAMPLE_DATA, evaluate_to_run

# The shape of a real leaderboard card: Open LLM Leaderboard results with sources, other keys, a comment, a body.
LEADERBOARD_RESULT = """\
      - task:
          type: text-generation
          name: Text Generation
        dataset:
          name: AI2 Reasoning Challenge (25-Shot)
          type: ai2_arc
          config: ARC-Challenge
          split: test
          args:
            num_few_shot: 25
        metrics:
          - type: acc_norm
            value: 61.43
            name: normalized accuracy
        source:
          url: https://huggingface.co/spaces/HuggingFaceH4/open_llm_leaderboard?query=org/my-rm
          name: Open LLM Leaderboard
"""
LEADERBOARD_CARD = f"""---
license: apache-2.0
tags:
  - reward-model   # a comment that must survive
model-index:
  - name: org/my-rm
    results:
{LEADERBOARD_RESULT}language: en
---

# My reward model

Trained on preference pairs.
"""


def _ours(card_text: str) -> dict:
    name, eval_results = model_index_to_eval_results(yaml.safe_load(card_text.split("---\n")[1])["model-index"])
    return {(r.dataset_type, r.metric_type): r for r in eval_results if r.task_type == "preference_evaluation"}


def test_round_trip_through_huggingface_hub(results, tmp_path):
    outcome = sync_local(tmp_path, results, include_subsets=True)
    assert outcome.changed and (tmp_path / "README.md").read_text().startswith("---\nmodel-index:")
    name, eval_results = model_index_to_eval_results(metadata_load(tmp_path / "README.md")["model-index"])
    assert name == tmp_path.name
    card = ModelCard.load(tmp_path / "README.md")  # huggingface_hub's own card parser reads the same results
    assert card.data.model_name == tmp_path.name and len(card.data.eval_results) == len(eval_results)
    values = {r.metric_type: r.metric_value for r in eval_results}
    bench = results["benchmarks"]["rewardbench"]
    assert values["score"] == pytest.approx(bench["score"], abs=1e-6)
    assert values["section/chat_hard"] == pytest.approx(bench["sections"]["Chat Hard"], abs=1e-6)
    assert values["subset/alpacaeval-easy"] == pytest.approx(bench["subsets"]["alpacaeval-easy"], abs=1e-6)
    first = eval_results[0]
    assert (first.task_type, first.dataset_type, first.dataset_split) == ("preference_evaluation", "allenai/reward-bench", "filtered")


def test_existing_results_stay_byte_for_byte_and_a_second_sync_changes_nothing(results):
    merged = render_card(LEADERBOARD_CARD, results, model_name="org/my-rm")
    assert LEADERBOARD_RESULT in merged
    assert merged.endswith("language: en\n---\n\n# My reward model\n\nTrained on preference pairs.\n")
    assert "  - reward-model   # a comment that must survive\n" in merged
    assert render_card(merged, results, model_name="org/my-rm") == merged

    better = json.loads(json.dumps(results))
    better["benchmarks"]["rewardbench"]["score"] = 0.9
    updated = render_card(merged, better, model_name="org/my-rm")
    assert LEADERBOARD_RESULT in updated
    ours = _ours(updated)
    assert ours[("allenai/reward-bench", "score")].metric_value == 0.9
    assert sum(1 for key in ours if key[1] == "score") == 1  # replaced, not added


def test_push_opens_a_pull_request_through_the_hub_api_without_leaking_the_token(results, tmp_path):
    results_file = write_results_document(tmp_path, results)
    token = "hf_testTokenThatMustNotLeak0123"
    with FakeHub("org/my-rm", LEADERBOARD_CARD) as hub:
        env = dict(os.environ, HF_ENDPOINT=hub.url, HF_TOKEN=token, HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf-home"))
        command = [sys.executable, "-m", "rm_mlflow.cli", "-v", "card", "sync", "--results", str(results_file), "--repo_id", "org/my-rm", "--push"]
        run = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert token not in run.stdout + run.stderr
    assert "discussions/1" in run.stdout
    paths = [(r["method"], r["path"].split("?")[0]) for r in hub.requests]
    assert ("GET", "/org/my-rm/resolve/main/README.md") in paths
    assert ("POST", "/api/models/org/my-rm/commit/main") in paths
    (commit,) = hub.commits
    assert "create_pr=1" in commit["path"]
    pushed = commit["files"]["README.md"]
    assert LEADERBOARD_RESULT in pushed and ("allenai/reward-bench", "score") in _ours(pushed)
    assert all(r["headers"].get("authorization", r["headers"].get("Authorization")) == f"Bearer {token}"
               for r in hub.requests if r["path"].startswith("/api/models"))


def test_direct_commit_only_when_asked(results, tmp_path):
    results_file = write_results_document(tmp_path, results)
    with FakeHub("org/new-rm", None) as hub:  # no README yet: one is created
        env = dict(os.environ, HF_ENDPOINT=hub.url, HF_TOKEN="hf_x", HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf-home"))
        command = [sys.executable, "-m", "rm_mlflow.cli", "card", "sync", "--results", str(results_file), "--repo_id", "org/new-rm",
                   "--push", "--direct_commit"]
        run = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    (commit,) = hub.commits
    assert "create_pr" not in commit["path"] and commit["files"]["README.md"].startswith("---\nmodel-index:")


def test_dry_run_prints_the_yaml_diff_and_writes_nothing(results, tmp_path):
    results_file = write_results_document(tmp_path, results)
    (tmp_path / "README.md").write_text(LEADERBOARD_CARD)
    command = [sys.executable, "-m", "rm_mlflow.cli", "card", "sync", "--results", str(results_file), "--model_dir", str(tmp_path), "--dry_run"]
    run = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "+      - task:\n+          type: preference_evaluation" in run.stdout
    assert (tmp_path / "README.md").read_text() == LEADERBOARD_CARD


def test_evaluation_syncs_the_local_card_and_the_run_artifact(tracking, tiny_llama, tmp_path):
    import shutil

    model_dir = tmp_path / "my-rm"
    shutil.copytree(tiny_llama, model_dir)
    (model_dir / "README.md").write_text(LEADERBOARD_CARD)
    mlflow.set_experiment("card")
    result = evaluate_to_run(str(model_dir), ["rewardbench"], data=DataOptions(data_dir=str(SAMPLE_DATA)), card=CardTarget(mode="local"))
    card = (model_dir / "README.md").read_text()
    assert LEADERBOARD_RESULT in card
    assert _ours(card)[("allenai/reward-bench", "score")].metric_value == pytest.approx(result.metrics["rewardbench/score"], abs=1e-6)
    client = MlflowClient()
    assert client.get_run(result.run_id).data.tags["rm_mlflow.card_sync"] == "succeeded"
    logged = client.download_artifacts(result.run_id, "model_card/README.md", str(tmp_path))
    assert "model-index" in open(logged).read()


def test_failed_card_sync_keeps_the_evaluation(tracking, registered_rm):
    mlflow.set_experiment("card")
    result = evaluate_to_run(f"models:/{registered_rm}/1", ["rewardbench"], data=DataOptions(data_dir=str(SAMPLE_DATA)),
                             card=CardTarget(mode="hub"))  # a registry model has no Hub repo to push to
    run = MlflowClient().get_run(result.run_id)
    assert run.info.status == "FINISHED" and "rewardbench/score" in run.data.metrics
    assert run.data.tags["rm_mlflow.card_sync"] == "failed" and "repo_id" in run.data.tags["rm_mlflow.card_sync.error"]
