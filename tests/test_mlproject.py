"""``mlflow run . -P model=...`` as a user types it: MLflow's default environment handling, a real tracking server."""

import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from tests.conftest import REPO_ROOT, SAMPLE_DATA, sample_metrics


def test_mlflow_run_main_entry_point_evaluates_a_local_model(mlflow_server, tiny_llama):
    env = {key: value for key, value in os.environ.items() if key not in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")}
    env["MLFLOW_TRACKING_URI"] = mlflow_server
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    result = subprocess.run(
        [str(mlflow_cli), "run", ".", "-P", f"model={tiny_llama}", "-P", "datasets=rewardbench", "-P", f"data_dir={SAMPLE_DATA}",
         "--experiment-name", "mlproject"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_id = next(line.split()[-1] for line in result.stdout.splitlines() if line.startswith("run "))

    run = MlflowClient(tracking_uri=mlflow_server).get_run(run_id)
    assert run.info.status == "FINISHED"
    expected = sample_metrics(tiny_llama)
    assert run.data.metrics["rewardbench/score"] == expected["rewardbench/score"]
    assert run.data.metrics["rewardbench/section/chat_hard"] == expected["rewardbench/section/chat_hard"]
    assert run.data.params["model"] == str(tiny_llama)  # the project's own parameter ...
    assert run.data.params["model.name"] == str(tiny_llama)  # ... and the evaluation's
    assert run.data.tags["mlflow.project.entryPoint"] == "main"
