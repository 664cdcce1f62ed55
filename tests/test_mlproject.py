"""``mlflow run . -P model=...`` as a user types it: MLflow's default environment handling, a real tracking server."""

import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from tests.helpers import JUDGE_KEY_ENV, REPO_ROOT, SAMPLE_DATA, sample_metrics


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


def test_mlflow_run_bad_input_is_one_line(mlflow_server, tiny_llama):
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env |= {"MLFLOW_TRACKING_URI": mlflow_server, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mlflow")), "run", ".", "-P", f"model={tiny_llama}", "-P", "datasets=someorg/prefs",
         "--env-manager", "local", "--experiment-name", "mlproject-errors"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output[-3000:]
    assert "rm-mlflow: error: someorg/prefs (all splits) is not available offline" in output


def test_mlflow_run_evaluates_a_dpo_policy_against_its_reference(mlflow_server, tiny_causal_lms):
    from rm_mlflow import DataOptions, ScoringSettings
    from rm_mlflow.benchmarking import score_reward_model

    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env |= {"MLFLOW_TRACKING_URI": mlflow_server, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mlflow")), "run", ".", "-P", f"model={tiny_causal_lms['policy']}", "-P", "datasets=rewardbench",
         "-P", f"data_dir={SAMPLE_DATA}", "-P", f"ref_model={tiny_causal_lms['reference']}", "--env-manager", "local",
         "--experiment-name", "mlproject-dpo"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = MlflowClient(tracking_uri=mlflow_server).get_run(next(line.split()[-1] for line in result.stdout.splitlines() if line.startswith("run ")))
    direct = score_reward_model(str(tiny_causal_lms["policy"]), ["rewardbench"], data=DataOptions(data_dir=str(SAMPLE_DATA)),
                                   settings=ScoringSettings.from_mapping(dict(ref_model=str(tiny_causal_lms["reference"]))), progress=False)
    assert run.data.metrics["rewardbench/score"] == direct.metrics()["rewardbench/score"]
    assert run.data.params["ref_model"] == str(tiny_causal_lms["reference"]) and run.data.tags["rm_mlflow.model_kind"] == "dpo"


def test_mlflow_run_evaluates_an_endpoint_judge(mlflow_server, judge_server):
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env |= {"MLFLOW_TRACKING_URI": mlflow_server, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mlflow")), "run", ".", "-P", f"model={judge_server.model_dir}", "-P", "datasets=rewardbench",
         "-P", f"data_dir={SAMPLE_DATA}", "-P", f"judge_endpoint={judge_server.url}", "-P", f"judge_api_key_env={JUDGE_KEY_ENV}",
         "-P", "max_new_tokens=24", "--env-manager", "local", "--experiment-name", "mlproject-judge"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = MlflowClient(tracking_uri=mlflow_server).get_run(next(line.split()[-1] for line in result.stdout.splitlines() if line.startswith("run ")))
    assert run.data.tags["rm_mlflow.model_kind"] == "generative" and run.data.params["model.backend"] == "endpoint"
    assert run.data.metrics["rewardbench/judge/judgments"] == 25
    assert os.environ[JUDGE_KEY_ENV] not in result.stdout + result.stderr


def test_both_mlproject_files_declare_exactly_the_generated_parameters():
    """The MLproject files are the one surface not generated at run time: this keeps them equal to the settings dataclasses."""
    import yaml

    from projects.main import parameters
    from rm_mlflow.scoring.settings import scoring_options

    expected = parameters()
    assert {spec.key for spec in scoring_options()} <= set(expected)
    for path in (REPO_ROOT / "MLproject", REPO_ROOT / "projects" / "kubernetes" / "MLproject"):
        main = yaml.safe_load(path.read_text())["entry_points"]["main"]
        declared = {name: spec.get("default") for name, spec in main["parameters"].items()}
        assert declared == expected, f"{path}: parameters differ from the settings dataclasses"
        assert main["command"].split() == ["python", "-m", "projects.main", *(word for name in expected for word in (f"--{name}", f"{{{name}}}"))]
