"""Logging an evaluation to a real MLflow server on loopback and reading it back."""

import json
import subprocess
import sys

from mlflow.tracking import MlflowClient

from tests.conftest import REPO_ROOT, SAMPLE_DATA


def test_cli_logs_metrics_params_and_artifacts_to_mlflow(tiny_llama, mlflow_server, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "rewardbench",
         "--data-dir", str(SAMPLE_DATA), "--output", str(out), "--quiet", "--tracking_uri", mlflow_server,
         "--experiment", "rm-eval-test", "--run_name", "tiny"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip().splitlines()[-1].split()[-1]
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
