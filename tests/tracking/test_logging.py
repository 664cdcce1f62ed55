"""Logging an evaluation to a real MLflow server on loopback and reading it back."""

import json
import os
import re
import subprocess
import sys

from mlflow.tracking import MlflowClient

from tests.helpers import REPO_ROOT, SAMPLE_DATA, write_jsonl


def test_cli_logs_metrics_params_and_artifacts_to_mlflow(tiny_llama, mlflow_server, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "rewardbench",
         "--data-dir", str(SAMPLE_DATA), "--output", str(out), "--quiet", "--tracking_uri", mlflow_server,
         "--experiment", "rm-eval-test", "--run_name", "tiny"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run_id = re.search(r"logged them to MLflow run ([0-9a-f]{32}) on ", result.stdout).group(1)
    assert f"See the run: {mlflow_server}/#/experiments/" in result.stdout and result.stdout.rstrip().endswith(f"/runs/{run_id}")
    client = MlflowClient(tracking_uri=mlflow_server)
    run = client.get_run(run_id)
    saved = json.loads((out / "results.json").read_text())
    assert run.data.metrics["rewardbench/score"] == saved["benchmarks"]["rewardbench"]["score"]
    assert run.data.metrics["rewardbench/section/chat_hard"] == saved["benchmarks"]["rewardbench"]["sections"]["Chat Hard"]
    assert "rewardbench/subset/llmbar-adver-gptinst" in run.data.metrics
    assert run.data.params["scoring.truncation"] == "none" and run.data.params["model.name"] == str(tiny_llama)
    artifacts = {a.path for a in client.list_artifacts(run_id, "rm_eval")}
    assert {"rm_eval/results.json", "rm_eval/rewardbench_scores.parquet", "rm_eval/rewardbench_examples.json"} <= artifacts
    assert not any(name.startswith("rm_eval/score_cache") for name in artifacts)


def test_tracking_uri_flag_is_where_models_uris_are_resolved(mlflow_server, registered_rm, tmp_path):
    # No MLFLOW_TRACKING_URI: before, the registry lookup went to ./mlflow.db (created on the way) and failed.
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    result = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", f"models:/{registered_rm}/1", "--dataset", "rewardbench",
         "--data-dir", str(SAMPLE_DATA), "--output", str(tmp_path / "out"), "--quiet", "--mlflow", "--tracking_uri", mlflow_server],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    run = MlflowClient(tracking_uri=mlflow_server).get_run(re.search(r"MLflow run ([0-9a-f]{32})", result.stdout).group(1))
    assert run.data.tags["rm_mlflow.model_name"] == registered_rm and run.info.status == "FINISHED"


def test_bad_data_fails_before_the_model_loads_and_before_a_run_exists(mlflow_server, tiny_llama, tmp_path):
    bad = write_jsonl(tmp_path / "prefs.jsonl", [{"prompt": "Q", "chosen": "A", "rejected": "B"}, {"prompt": "Q", "chosen": "", "rejected": "B"}])
    result = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", str(bad), "--output", str(tmp_path / "o"),
         "--tracking_uri", mlflow_server, "--experiment", "validate-first"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    # the whole of stderr is our one line: no weight loading, no run, nothing before it
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"rm-mlflow: error: {bad}, row 2, field 'chosen': empty string; rerun with --skip_invalid (skip_invalid=True) to skip such rows; "
        "each is counted and reported"
    ], result.stderr
    experiment = MlflowClient(tracking_uri=mlflow_server).get_experiment_by_name("validate-first")
    assert experiment is None or not MlflowClient(tracking_uri=mlflow_server).search_runs([experiment.experiment_id])


def test_quiet_shows_no_progress_bars_and_help_shows_each_default_once(tiny_llama, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "rewardbench", "--data-dir", str(SAMPLE_DATA),
         "--output", str(tmp_path / "o"), "--quiet"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    # every line on stderr is one of our log records (LEVEL logger: message), never a progress bar's redraw
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(re.match(r"^(DEBUG|INFO|WARNING|ERROR) [\w.]+: ", line) for line in lines), result.stderr
    piped = subprocess.run(  # without --quiet, into a pipe (a CI log, say): no bar either, ours or the libraries'
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "rewardbench", "--data-dir", str(SAMPLE_DATA),
         "--output", str(tmp_path / "piped")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert piped.returncode == 0 and all(re.match(r"^(DEBUG|INFO|WARNING|ERROR) [\w.]+: ", line) for line in piped.stderr.strip().splitlines()), \
        piped.stderr
    usage = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "(default: None)" not in usage and "(default: False)" not in usage
    assert all(entry.count("default") <= 1 for entry in usage.split("\n  -")), usage
