"""A tracking server that goes down mid-run: the results are kept, the error says how to log them, ``rm-mlflow log`` does it."""

from __future__ import annotations

import os
import subprocess
import sys

from mlflow import MlflowClient

from tests.helpers import REPO_ROOT, MlflowServer, wait_for


def test_results_kept_while_the_server_is_down_are_logged_later(tmp_path, tiny_llama, shared_data):
    server = MlflowServer(tmp_path / "server").start()
    out = tmp_path / "results"
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    try:
        evaluation = subprocess.Popen(
            [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "rmb", "--data-dir", str(shared_data),
             "--limit", "8", "--skip_invalid", "--truncation", "left", "--max_length", "512", "--output", str(out), "--quiet",
             "--tracking_uri", server.url, "--experiment", "outage"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env,
        )
        client = MlflowClient(server.url)
        wait_for(lambda: (found := client.get_experiment_by_name("outage")) and client.search_runs([found.experiment_id]),
                 timeout=120, what="the evaluation's run", on_timeout=lambda: evaluation.poll() is not None and evaluation.communicate()[1] or "")
        server.stop()  # scoring goes on; logging will find the server down
        _, stderr = evaluation.communicate(timeout=600)
        assert evaluation.returncode == 2, stderr
        error = stderr.strip().splitlines()[-1]
        assert error.startswith("rm-mlflow: error: logging to MLflow run ") and f"the results are kept in {out}" in error
        command = error.split("`")[1]
        run_id = command.split("--run_id ")[1]
        assert command == f"rm-mlflow log {out} --run_id {run_id}"

        server.start()  # same port, same store
        assert client.get_run(run_id).info.status == "RUNNING"  # it could not be marked failed while the server was down
        logged = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", *command.split()[1:], "--tracking_uri", server.url],
                                capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
        assert logged.returncode == 0, logged.stderr
        run = client.get_run(run_id)
        kept = __import__("json").loads((out / "results.json").read_text())
        assert run.info.status == "FINISHED"
        assert run.data.metrics == {key: value for key, value in kept["metrics"].items() if value is not None}
        assert {a.path for a in client.list_artifacts(run_id, "rm_eval")} >= {"rm_eval/results.json", "rm_eval/rmb_examples.json"}
    finally:
        server.stop()
