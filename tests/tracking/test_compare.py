"""Comparing versions: ``rm-mlflow compare`` on two registered versions, and the gate's confidence rule."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import mlflow
import pandas as pd
from mlflow import MlflowClient

from rm_mlflow.data import load_benchmark
from rm_mlflow.scoring import load_reward_model, score_conversations
from rm_mlflow.tracking import GateConfig
from tests.helpers import REPO_ROOT, SAMPLE, evaluate_to_run


class LookupRewardModel(mlflow.pyfunc.PythonModel):
    """Scores a response by looking its text up: a champion's real scores, or those plus a bonus on chosen answers."""

    def __init__(self, scores: dict[str, float]):
        self.scores = scores

    def predict(self, context, model_input, params=None):
        return [self.scores.get(messages[-1]["content"], 0.0) for messages in model_input["messages"]]


def _register(name: str, scores: dict[str, float]) -> str:
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="lookup", python_model=LookupRewardModel(scores), registered_model_name=name,
                                       pip_requirements=["pandas"])
    return str(info.registered_model_version)


def test_compare_versions_and_gate_with_confidence(tracking, tiny_llama, tmp_path, capsys, caplog):
    mlflow.set_experiment("compare")
    examples = load_benchmark("rewardbench", SAMPLE).examples
    model = load_reward_model(str(tiny_llama))
    responses = sorted({r for e in examples for r in e.responses()})
    real = dict(zip(responses, score_conversations(model, [[{"role": "assistant", "content": r}] for r in responses], progress=False).scores,
                    strict=True))
    chosen = {e.chosen[0] for e in examples}
    _register("gate-rm", real)  # v1: the champion's real scores
    _register("gate-rm", {text: score + (10.0 if text in chosen else 0.0) for text, score in real.items()})  # v2: clearly better
    _register("gate-rm", real)  # v3: identical to the champion
    MlflowClient().set_registered_model_alias("gate-rm", "champion", "1")
    evaluate_to_run("models:/gate-rm/1", ["rewardbench"])

    confident = GateConfig.from_mapping({"baseline_alias": "champion", "confidence": {"metric": "rewardbench/score", "min_probability": 0.95}})
    better = evaluate_to_run("models:/gate-rm/2", ["rewardbench"], gate=confident)
    same = evaluate_to_run("models:/gate-rm/3", ["rewardbench"], gate=confident)
    assert better.gate.passed and better.gate.confidence["p_better"] >= 0.95 and better.gate.confidence["ci_low"] > 0
    assert not same.gate.passed and same.gate.confidence["p_better"] == 0.0 and "confidence rule not met" in same.gate.message
    runs = {key: MlflowClient().get_run(result.run_id) for key, result in (("better", better), ("same", same))}
    assert runs["better"].data.tags["rm_mlflow.gate"] == "passed" and runs["same"].data.tags["rm_mlflow.gate"] == "failed"
    assert runs["better"].data.metrics["gate/p_better"] >= 0.95 and runs["same"].data.metrics["gate/passed"] == 0.0
    print(f"\ngate, clearly better v2: {better.gate.message}\ngate, identical v3: {same.gate.message}")

    # the same rule from the command line, on the finished evaluations: MLflow's threshold check passes, the confidence rule does not
    from rm_mlflow.cli import main

    caplog.set_level(logging.INFO)
    capsys.readouterr()  # what the evaluations above printed
    rule = ["--baseline", "models:/gate-rm@champion", "--gate_min", "0", "--gate_confidence", "0.95", "--tracking_uri", tracking]
    assert main(["gate", "models:/gate-rm/3", *rule]) == 3
    line = capsys.readouterr().out.strip()
    assert line.startswith("Promotion gate (against models:/gate-rm@champion (v1, run ") and "): FAILED: confidence rule not met: " in line
    assert "Model validation passed" not in caplog.text
    assert main(["gate", "models:/gate-rm/2", *rule]) == 0 and ": passed: confidence rule met" in capsys.readouterr().out
    print(f"rm-mlflow gate, identical v3: exit 3, {line}")

    assert main(["compare", "models:/gate-rm@champion", "models:/gate-rm/3", "--tracking_uri", tracking]) == 0
    identical = capsys.readouterr().out
    assert "HEADLINE rewardbench/score tie (identical on every resample); 0 now correct, 0 now wrong" in identical
    assert " 0.000\n" not in identical and "subset/" not in identical and "subset(s) without a flipped example not shown" in identical

    result = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "compare", "models:/gate-rm@champion", "models:/gate-rm/2", "--tracking_uri", tracking,
         "--mlflow", "--experiment", "comparisons", "--flips", "3", "--output", str(tmp_path / "cmp")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    print(result.stdout)
    assert "== rewardbench (25 examples in both)" in result.stdout and "now correct" in result.stdout
    headline = [line for line in result.stdout.splitlines() if line.startswith("HEADLINE ")]
    assert len(headline) == 2 and headline[0] == headline[1] and headline[0].startswith("HEADLINE rewardbench/score +")
    assert result.stdout.splitlines()[1] == headline[0]  # first, right under the title, and again at the end
    document = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    flipped = pd.DataFrame(document["benchmarks"]["rewardbench"]["flipped"])
    champion_wrong = sum(1 for e in examples if real[e.chosen[0]] <= real[e.rejected[0]])
    assert len(flipped) == champion_wrong and (flipped["candidate_correct"] == 1.0).all()
    assert document["benchmarks"]["rewardbench"]["differences"]["score"]["probability_better"] == 1.0
    run_id = result.stdout.strip().splitlines()[-2].split()[-1]
    logged = MlflowClient().get_run(run_id)
    assert logged.data.metrics["compare/rewardbench/score/p_better"] == 1.0
    assert logged.data.metrics["compare/rewardbench/flipped_to_correct"] == champion_wrong
    assert {a.path for a in MlflowClient().list_artifacts(run_id, "rm_compare")} >= {
        "rm_compare/comparison.json", "rm_compare/rewardbench_comparison.png", "rm_compare/differences.json"}
