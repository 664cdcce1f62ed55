"""Per-example results pushed as a Hub dataset and read back with datasets.load_dataset from a loopback Hub."""

import json
import os
import subprocess
import sys

import pandas as pd
from mlflow import MlflowClient

from tests.card.fake_hub import FakeHub
from tests.helpers import REPO_ROOT, SAMPLE_DATA

TOKEN = "hf_resultsTokenThatMustNotLeak42"
READ_BACK = """
import json, sys
import datasets
rows = {name: datasets.load_dataset(sys.argv[1], name, split="train").to_pandas().to_json(orient="records")
        for name in sys.argv[2:]}
print(json.dumps(rows))
"""


def _hub_env(hub, tmp_path):
    return dict(os.environ, HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0",
                HF_HOME=str(tmp_path / "hf-home"))


def _rm_mlflow(*args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "rm_mlflow.cli", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_an_evaluation_pushes_one_private_config_per_benchmark_that_reads_back_row_for_row(tracking, tiny_llama, tmp_path):
    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(json.dumps({"prompt": f"Question {i}?", "chosen": f"A careful answer {i}.", "rejected": "No."}) + "\n"
                            for i in range(3)))
    out = tmp_path / "out"
    with FakeHub() as hub:
        env = _hub_env(hub, tmp_path)
        run = _rm_mlflow("evaluate", "--model", str(tiny_llama), "--dataset", f"rewardbench,{mine}", "--data_dir", str(SAMPLE_DATA),
                         "--output", str(out), "--mlflow", "--experiment", "results-dataset", "--quiet",
                         "--push_results_to_hub", "org/rm-results", env=env)
        assert run.returncode == 0, run.stderr[-3000:]
        read = subprocess.run([sys.executable, "-c", READ_BACK, "org/rm-results", "rewardbench", "mine"], env=env, capture_output=True,
                              text=True, timeout=300)
        assert read.returncode == 0, read.stderr[-3000:]
    assert "Results dataset: " in run.stdout and TOKEN not in run.stdout + run.stderr
    assert hub.private[("dataset", "org/rm-results")] is True  # private unless --public

    pushed = json.loads(read.stdout)
    for name in ("rewardbench", "mine"):
        local = pd.read_parquet(out / f"{name}_scores.parquet")
        assert json.loads(pushed[name]) == json.loads(local.to_json(orient="records"))  # the same rows, values and order

    files = hub.files("org/rm-results", "dataset")
    assert sorted(files) == ["README.md", "mine/train-00000-of-00001.parquet", "rewardbench/train-00000-of-00001.parquet"]
    card = files["README.md"].decode()
    run_id = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("results-dataset").experiment_id])[0].info.run_id
    assert f"- **MLflow run**: `{run_id}`" in card and str(tiny_llama) in card and '"truncation": "none"' in card
    assert "config_name: rewardbench" in card and TOKEN.encode() not in b"".join(files.values())
    tag = MlflowClient().get_run(run_id).data.tags["rm_mlflow.results_dataset"]
    assert tag == f"{hub.url}/datasets/org/rm-results"


def test_publish_refuses_an_incomplete_folder_and_a_bad_repo_and_an_offline_push_in_one_line(tiny_llama, tmp_path):
    (tmp_path / "results.json").write_text("{}")  # no manifest: the folder never finished writing
    with FakeHub() as hub:
        env = _hub_env(hub, tmp_path)
        incomplete = _rm_mlflow("publish", str(tmp_path), "--repo", "org/x", env=env, timeout=120)
        bad_repo = _rm_mlflow("publish", str(tmp_path), "--repo", "not a repo", env=env, timeout=120)
        offline = _rm_mlflow("evaluate", "--model", str(tiny_llama), "--data_dir", str(SAMPLE_DATA), "--output", str(tmp_path / "out"),
                             "--push_results_to_hub", "org/x", env=env | {"HF_HUB_OFFLINE": "1"}, timeout=120)
    assert offline.returncode == 2 and "HF_HUB_OFFLINE is set" in offline.stderr and not (tmp_path / "out" / "results.json").exists()
    assert incomplete.returncode != 0 and len(incomplete.stderr.strip().splitlines()) == 1, incomplete.stderr
    assert "Traceback" not in incomplete.stderr and str(tmp_path) in incomplete.stderr
    assert bad_repo.returncode != 0 and "results dataset 'not a repo'" in bad_repo.stderr and "Traceback" not in bad_repo.stderr
    assert hub.commits == [] and not hub.repos
