"""The Hub's .eval_results/ files: huggingface_hub's own parser reads them, other sources' entries and files keep their bytes."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from huggingface_hub import parse_eval_result_entries

from rm_mlflow.card import CardTarget, sync_local
from rm_mlflow.card.sync import card_syncs
from rm_mlflow.errors import OptionError
from rm_mlflow.results import ResultsDocument, write_results_document
from tests.card.fake_hub import FakeHub
from tests.card.test_card import LEADERBOARD_CARD
from tests.helpers import REPO_ROOT

# What a leaderboard bot writes into the same benchmark's file, and another benchmark's file: neither is ours.
FOREIGN_ENTRY = """\
- dataset:
    id: allenai/reward-bench
    task_id: score
    revision: 0123456789abcdef0123456789abcdef01234567
  value: 0.7712   # verified by the leaderboard
  verifyToken: eyJhbGciOiJIUzI1NiJ9.not-ours
  date: '2025-06-01'
  source:
    url: https://huggingface.co/spaces/allenai/reward-bench
    name: RewardBench leaderboard
"""
FOREIGN_FILE = """\
- dataset:
    id: Idavidrein/gpqa
    task_id: gpqa_diamond
  value: 0.412
"""
OURS = ".eval_results/rewardbench.yaml"


def _seed_model_dir(tmp_path):
    folder = tmp_path / "my-rm"
    (folder / ".eval_results").mkdir(parents=True)
    (folder / "README.md").write_text(LEADERBOARD_CARD)
    (folder / OURS).write_text(FOREIGN_ENTRY)
    (folder / ".eval_results" / "gpqa.yaml").write_text(FOREIGN_FILE)
    return folder


def _snapshot(folder):
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _entries(text):
    return parse_eval_result_entries(yaml.safe_load(text))


def test_sync_writes_parsable_entries_keeps_foreign_ones_and_a_second_sync_changes_nothing(results, tmp_path):
    folder = _seed_model_dir(tmp_path)
    before = _snapshot(folder)

    first = sync_local(folder, results)
    after_first = _snapshot(folder)
    assert set(first.files) == {"README.md", OURS}
    assert after_first[".eval_results/gpqa.yaml"] == before[".eval_results/gpqa.yaml"]
    written = after_first[OURS].decode()
    assert written.startswith(FOREIGN_ENTRY)  # the foreign entry, its comment and token included, byte for byte

    entries = _entries(written)
    foreign, ours = entries[0], entries[1:]
    assert (foreign.value, foreign.verify_token, foreign.source_name) == (0.7712, "eyJhbGciOiJIUzI1NiJ9.not-ours", "RewardBench leaderboard")
    bench = results["benchmarks"]["rewardbench"]
    expected = {"score": bench["score"]} | {f"section/{name.lower().replace(' ', '_')}": value for name, value in bench["sections"].items()}
    assert {entry.task_id: entry.value for entry in ours} == pytest.approx(expected, abs=1e-6)
    assert {entry.dataset_id for entry in ours} == {"allenai/reward-bench"}
    assert {entry.date for entry in ours} == {results["evaluated_at"]}  # the evaluation's time, not the sync's
    notes = ours[0].notes
    assert notes.startswith("rm-mlflow: kind sequence-classifier;")
    assert "chat template tokenizer" in notes and results["model"]["chat_template_digest"] in notes and "; no truncation;" in notes

    second = sync_local(folder, results)
    assert not second.changed and second.files == () and _snapshot(folder) == after_first

    better = json.loads(json.dumps(results))
    better["benchmarks"]["rewardbench"]["score"] = 0.9
    sync_local(folder, better)
    updated = _entries((folder / OURS).read_text())
    assert (folder / OURS).read_text().startswith(FOREIGN_ENTRY)
    assert [entry.value for entry in updated if entry.task_id == "score"] == [0.7712, 0.9]  # replaced, not added


def test_card_format_picks_the_files(results, tmp_path):
    only_results, only_index = tmp_path / "a", tmp_path / "b"
    only_results.mkdir()
    only_index.mkdir()
    assert sync_local(only_results, results, card_format="eval_results").files == (OURS,)
    assert sync_local(only_index, results, card_format="model_index").files == ("README.md",)
    assert sorted(_snapshot(only_results)) == [OURS] and sorted(_snapshot(only_index)) == ["README.md"]
    with pytest.raises(OptionError, match="card_format must be one of both, eval_results, model_index"):
        CardTarget(card_format="yaml")


def test_a_source_link_names_us_and_partial_or_local_data_gets_no_file(results, tmp_path):
    document = json.loads(json.dumps(results))
    document["benchmarks"]["mine"] = document["benchmarks"]["rewardbench"] | {"source": "/data/my_pairs.jsonl"}
    document["benchmarks"]["rmb"] = document["benchmarks"]["rewardbench"] | {"source": "hf://datasets/Zhou-Zoey/RMB", "partial": "--limit 2"}
    outcome = sync_local(tmp_path, document, card_format="eval_results", source_url="https://mlflow.example/#/runs/1")
    assert outcome.files == (OURS,)  # local data has no Hub dataset id; a partial run is not the benchmark's score
    (entry, *_) = _entries((tmp_path / OURS).read_text())
    assert (entry.source_url, entry.source_name) == ("https://mlflow.example/#/runs/1", "rm-mlflow")


def test_a_hub_push_commits_the_changed_files_in_one_pull_request(results, tmp_path):
    results_file = write_results_document(tmp_path, results)
    files = {".eval_results/rewardbench.yaml": FOREIGN_ENTRY, ".eval_results/gpqa.yaml": FOREIGN_FILE}
    with FakeHub("org/my-rm", LEADERBOARD_CARD, files=files) as hub:
        env = dict(os.environ, HF_ENDPOINT=hub.url, HF_TOKEN="hf_x", HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf-home"))
        command = [sys.executable, "-m", "rm_mlflow.cli", "card", "sync", "--results", str(results_file), "--repo_id", "org/my-rm", "--push"]
        run = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    (commit,) = hub.commits
    assert "create_pr=1" in commit["path"] and sorted(commit["files"]) == [OURS, "README.md"]  # gpqa.yaml is not touched
    assert commit["files"][OURS].startswith(FOREIGN_ENTRY) and len(_entries(commit["files"][OURS])) == 6


def test_the_run_keeps_the_card_files_as_artifacts(tracking, results, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment("card-files")
    with mlflow.start_run() as run:
        pass
    target = CardTarget(mode="local")
    document = ResultsDocument.from_dict(results)
    outcomes = [step() for _, step in card_syncs(target, document, run_id=run.info.run_id)]
    assert outcomes[0].files == ("README.md", OURS)
    again = [step() for _, step in card_syncs(target, document, run_id=run.info.run_id)]
    assert not again[0].changed  # read back from the run's artifacts: nothing to log twice
    logged = MlflowClient().download_artifacts(run.info.run_id, f"model_card/{OURS}", str(tmp_path))
    assert _entries(open(logged).read())[0].task_id == "score"
