"""The promotion gate: MLflow's MetricThreshold validation against the champion's latest evaluation."""

import json

import mlflow
from mlflow import MlflowClient

import rm_mlflow
from rm_mlflow.data import DataOptions
from rm_mlflow.tracking import GateConfig
from tests.helpers import SAMPLE_DATA, evaluate_to_run

DATA = DataOptions(data_dir=str(SAMPLE_DATA))


def test_gate_compares_with_the_champion_and_records_the_outcome(tracking, registered_rm, tiny_llama):
    mlflow.set_experiment("gate")
    champion = evaluate_to_run(f"models:/{registered_rm}@champion", ["rewardbench"], data=DATA, progress=False)
    with mlflow.start_run():  # the same weights as a new version: equal scores, so "must beat the champion" fails
        info = rm_mlflow.log_model(str(tiny_llama), "rm", registered_model_name=registered_rm)
    candidate = f"models:/{registered_rm}/{info.registered_model_version}"

    must_improve = GateConfig({"rewardbench/score": {"min_absolute_change": 0.01}}, baseline_alias="champion")
    failed = evaluate_to_run(candidate, ["rewardbench"], data=DATA, gate=must_improve, progress=False)
    assert not failed.gate.passed and failed.gate.baseline_run_id == champion.run_id
    assert "rewardbench/score" in failed.gate.message
    run = MlflowClient().get_run(failed.run_id)
    assert run.data.tags["rm_mlflow.gate"] == "failed" and run.data.metrics["gate/passed"] == 0.0
    assert json.loads((failed.results_dir / "results.json").read_text())["gate"]["passed"] is False

    at_least_zero = GateConfig({"rewardbench/score": 0.0}, baseline_alias="champion")
    passed = evaluate_to_run(candidate, ["rewardbench"], data=DATA, gate=at_least_zero, progress=False)
    assert passed.gate.passed and MlflowClient().get_run(passed.run_id).data.tags["rm_mlflow.gate"] == "passed"


def test_gate_without_a_baseline_checks_absolute_thresholds(tracking, registered_rm):
    mlflow.set_experiment("gate")
    impossible = GateConfig({"rewardbench/score": 1.01})
    result = evaluate_to_run(f"models:/{registered_rm}/1", ["rewardbench"], data=DATA, gate=impossible, progress=False)
    assert not result.gate.passed and "1.01" in result.gate.message


def test_gate_flags_against_a_missing_champion_fail_in_one_line_that_says_what_to_do(tracking, registered_rm, tmp_path, capsys):
    from rm_mlflow.cli import main

    code = main(["evaluate", "--model", f"models:/{registered_rm}/1", "--data-dir", str(SAMPLE_DATA), "--mlflow", "--experiment", "gate",
                 "--gate_alias", "no-such-alias", "--gate_min", "0", "--output", str(tmp_path / "out"), "--quiet", "--bootstrap", "0"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 3
    assert last == (f"Promotion gate (against {registered_rm}@no-such-alias (missing)): FAILED: {registered_rm} has no alias 'no-such-alias' "
                    f"to compare with: point it at the current champion (MlflowClient().set_registered_model_alias('{registered_rm}', "
                    "'no-such-alias', VERSION)) and evaluate it, or gate without --gate_alias")
    assert json.loads((tmp_path / "out" / "results.json").read_text())["gate"]["passed"] is False
