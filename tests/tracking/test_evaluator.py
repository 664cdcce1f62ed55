"""``mlflow.models.evaluate(..., evaluators="reward_model")`` against a real loopback MLflow server."""

import json
import logging
import os
import subprocess
import sys

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.helpers import REPO_ROOT, SAMPLE_DATA, sample_metrics

CONFIG = {"data_dir": str(SAMPLE_DATA), "progress": False}


def _evaluate(model, data=("rewardbench",), **config):
    return mlflow.models.evaluate(
        model=model, data=list(data), model_type="reward_model", evaluators="reward_model", evaluator_config=CONFIG | config
    )


def _table_rows(run_id: str, benchmark: str) -> list[dict]:
    """The per-example table logged with ``mlflow.log_table``, read back from the server."""
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"rm_eval/{benchmark}_examples.json")
    with open(path, encoding="utf-8") as handle:
        table = json.load(handle)
    return [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]


def _same_scores(metrics: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-9), key


def test_plugin_is_registered_through_the_entry_point():
    from mlflow.models.evaluation.evaluator_registry import _model_evaluation_registry

    _model_evaluation_registry.register_entrypoints()
    assert _model_evaluation_registry.is_registered("reward_model")


def test_evaluate_by_version_logs_metrics_params_tags_and_artifacts(tracking, registered_rm, tiny_llama):
    mlflow.set_experiment("evaluator")
    result = _evaluate(f"models:/{registered_rm}/1")

    expected = sample_metrics(tiny_llama)
    _same_scores(result.metrics, expected)
    client = MlflowClient()
    run = client.get_run(result.run_id)
    _same_scores(run.data.metrics, expected)
    assert run.data.metrics["rewardbench/subset/alpacaeval-easy"] == expected["rewardbench/subset/alpacaeval-easy"]
    assert run.data.metrics["throughput/examples"] == 25
    assert run.data.tags["rm_mlflow.model_name"] == "tiny-rm" and run.data.tags["rm_mlflow.model_version"] == "1"
    assert run.data.params["scoring.max_length"] == "1024"  # the setting logged with the model
    assert not [key for key in run.data.params if key.startswith(("scoring.judge_", "scoring.ref_", "scoring.score_attribute"))]  # a classifier's
    assert run.data.params["dataset.rewardbench.split"] == "filtered"

    artifacts = {a.path for a in client.list_artifacts(result.run_id, "rm_eval")}
    assert {
        "rm_eval/results.json", "rm_eval/summary.md", "rm_eval/rewardbench_examples.json", "rm_eval/rewardbench_subset_accuracy.png",
        "rm_eval/rewardbench_margins.png", "rm_eval/rewardbench_length_vs_score.png",
    } <= artifacts
    assert result.artifacts["results"].uri.endswith("rm_eval/results.json")
    saved = json.loads(result.artifacts["results"].content)
    assert saved["benchmarks"]["rewardbench"]["score"] == expected["rewardbench/score"]
    assert b"| subset | n | accuracy |" in result.artifacts["summary"].content

    rows = _table_rows(result.run_id, "rewardbench")
    assert len(rows) == 25 and {"margin", "section", "correct"} <= set(rows[0])
    inputs = {i.dataset.name: i.dataset for i in run.inputs.dataset_inputs}
    assert inputs["rewardbench"].source_type == "local"


def test_evaluate_by_alias_names_the_resolved_version(tracking, registered_rm, tiny_llama):
    mlflow.set_experiment("evaluator")
    result = _evaluate(f"models:/{registered_rm}@champion", model_uri=f"models:/{registered_rm}@champion")
    _same_scores(result.metrics, sample_metrics(tiny_llama))
    run = MlflowClient().get_run(result.run_id)
    tags = run.data.tags
    assert (tags["rm_mlflow.model_alias"], tags["rm_mlflow.model_version"]) == ("champion", "1")
    assert run.info.run_name == f"{registered_rm}-v1"  # not MLflow's made-up name: the CLI's


def test_the_library_path_shows_our_warnings_and_no_bar_when_progress_is_off(tracking, registered_rm):
    # a fresh interpreter: under pytest the root logger already has handlers, so mlflow.pytorch's basicConfig(level=ERROR) is a no-op
    script = f"""
import mlflow
mlflow.set_experiment("evaluator")
with mlflow.start_run(run_name="my-own-name") as run:
    mlflow.models.evaluate(model="models:/{registered_rm}/1", data=["rewardbench"], model_type="reward_model", evaluators="reward_model",
                           evaluator_config={CONFIG | {"max_length": 64, "truncation": "left", "bootstrap_resamples": 0}!r})
print("RUN", run.info.run_id)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
                            env={**os.environ, "MLFLOW_TRACKING_URI": tracking})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "conversations were longer than max_length=64 and were truncated (left side)" in result.stderr
    assert "Loading weights" not in result.stderr
    run_id = result.stdout.split("RUN ")[-1].strip()
    assert MlflowClient().get_run(run_id).info.run_name == "my-own-name"  # a name the caller chose is kept


def test_transformers_pipeline_model_is_unwrapped_and_scores_the_same(tracking, tiny_llama):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    mlflow.set_experiment("evaluator")
    components = {"model": AutoModelForSequenceClassification.from_pretrained(tiny_llama), "tokenizer": AutoTokenizer.from_pretrained(tiny_llama)}
    with mlflow.start_run():
        info = mlflow.transformers.log_model(components, name="pipeline", task="text-classification", pip_requirements=["torch", "transformers"])
    result = _evaluate(info.model_uri)
    _same_scores(result.metrics, sample_metrics(tiny_llama))


class _LengthRewardModel(mlflow.pyfunc.PythonModel):
    """A transparent reward: the length of the last message."""

    def predict(self, context, model_input, params=None):
        return [len(messages[-1]["content"]) for messages in model_input["messages"]]


def test_any_pyfunc_scores_row_by_row_with_a_warning(tracking, caplog):
    mlflow.set_experiment("evaluator")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="length", python_model=_LengthRewardModel(), pip_requirements=["pandas"])
    frame = pd.DataFrame(
        [
            {"prompt": "Say hi", "chosen": "Hello there, friend!", "rejected": "hi", "subset": "greetings"},
            {"prompt": "Say bye", "chosen": "bye", "rejected": "Goodbye and good luck!", "subset": "farewells"},
        ]
    )
    with caplog.at_level(logging.WARNING):
        result = mlflow.models.evaluate(model=info.model_uri, data=frame, model_type="reward_model", evaluators=["reward_model"],
                                        evaluator_config={"reward_model": {"progress": False, "dataset_name": "lengths"}})
    assert "through pyfunc predict" in caplog.text
    assert result.metrics["lengths/subset/greetings"] == 1.0 and result.metrics["lengths/subset/farewells"] == 0.0
    rows = _table_rows(result.run_id, "lengths")
    assert [json.loads(row["chosen_scores"]) for row in rows] == [[20.0], [3.0]]


def test_bad_evaluator_config_key_is_named(tracking, registered_rm):
    with pytest.raises(ValueError, match="unknown key.*batchsize"):
        _evaluate(f"models:/{registered_rm}/1", batchsize=4)


def test_bad_dataframe_row_is_named(tracking, registered_rm):
    frame = pd.DataFrame([{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "a", "chosen": "b"}])
    with pytest.raises(Exception, match="row 2, field 'rejected'"):
        mlflow.models.evaluate(model=f"models:/{registered_rm}/1", data=frame, model_type="reward_model", evaluators="reward_model",
                               evaluator_config={"progress": False})


def _log_and_register(model_dir, name: str, settings: dict) -> str:
    import rm_mlflow

    with mlflow.start_run():
        info = rm_mlflow.log_model(str(model_dir), "rm", registered_model_name=name, settings=settings)
    return f"models:/{name}/{info.registered_model_version}"


def test_every_model_kind_registered_and_evaluated_with_no_extra_settings(tracking, tiny_causal_lms, tiny_custom_head, tiny_judge):
    from rm_mlflow import DataOptions, ScoringSettings
    from rm_mlflow.benchmarking import score_reward_model

    mlflow.set_experiment("kinds")
    sample = DataOptions(data_dir=str(SAMPLE_DATA))
    reference_uri = _log_and_register(tiny_causal_lms["reference"], "tiny-ref", {})
    cases = {
        "dpo": (tiny_causal_lms["policy"], {"model_kind": "dpo", "ref_model": reference_uri},
                ScoringSettings.from_mapping(dict(ref_model=str(tiny_causal_lms["reference"]))), "dpo", {}),
        "dpo-ref-free": (tiny_causal_lms["policy2"], {"model_kind": "dpo", "ref_free_type": "norm"},
                         ScoringSettings.from_mapping(dict(ref_free_type="norm")), "dpo", {}),
        "custom": (tiny_custom_head, {"model_kind": "custom", "score_attribute": "score"},
                   ScoringSettings.from_mapping(dict(trust_remote_code=True, score_attribute="score")), "custom", {"trust_remote_code": True}),
        "pairwise": (tiny_causal_lms["policy"], {"model_kind": "pairwise"}, ScoringSettings(), "pairwise", {}),
        "generative": (tiny_judge, {"model_kind": "generative", "max_new_tokens": 24, "judge_orders": "both"},
                       ScoringSettings.from_mapping(dict(max_new_tokens=24, judge_orders="both")), "generative", {}),
    }
    client = MlflowClient()
    for name, (model_dir, logged, direct_settings, kind, config) in cases.items():
        uri = _log_and_register(model_dir, f"tiny-{name}", logged)
        result = _evaluate(uri, **config)
        direct = score_reward_model(str(model_dir), ["rewardbench"], data=sample, settings=direct_settings, model_kind=kind, progress=False)
        expected = {key: value for key, value in direct.metrics().items() if not key.startswith("throughput/")}
        _same_scores(result.metrics, expected)
        run = client.get_run(result.run_id)
        assert run.data.tags["rm_mlflow.model_kind"] == kind, name
        assert run.data.params["model.kind"] == kind
        if name == "dpo":
            assert run.data.params["scoring.ref_model"] == reference_uri and run.data.tags["rm_mlflow.leaderboard_type"] == "DPO"
        if name == "dpo-ref-free":
            assert run.data.tags["rm_mlflow.leaderboard_type"] == "DPO Ref. Free"
        if name == "generative":
            assert run.data.tags["rm_mlflow.leaderboard_type"] == "Generative" and run.data.params["scoring.judge_orders"] == "both"
            assert run.data.metrics["rewardbench/position_consistency"] == 0.0
    with pytest.raises(Exception, match="pass --trust_remote_code"):
        _evaluate("models:/tiny-custom/1")  # the registered version does not carry trust: the evaluator decides
