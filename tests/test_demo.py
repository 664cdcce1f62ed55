"""``rm-mlflow demo`` end to end: the registry, both evaluation runs, the gate, the card and the compare-view link."""

from __future__ import annotations

import yaml
from huggingface_hub import parse_eval_result_entries
from mlflow import MlflowClient

from rm_mlflow.demo import MODEL_NAME
from tests.helpers import sample_metrics


def test_demo_registers_two_versions_with_alias_and_evaluation_tags(demo):
    client = MlflowClient(demo.tracking_uri)
    model = client.get_registered_model(MODEL_NAME)
    assert model.tags["rm_eval"] == "true" and {name: str(version) for name, version in model.aliases.items()} == {"champion": "1"}
    versions = sorted(client.search_model_versions(f"name = '{MODEL_NAME}'"), key=lambda v: int(v.version))
    assert [str(v.version) for v in versions] == ["1", "2"]
    for version, evaluated in zip(versions, demo.versions, strict=True):
        assert version.tags["demo.init"].startswith("random (seed ")
        assert version.tags["rm_eval.status"] == "succeeded" and version.tags["rm_eval.run_id"] == evaluated.run_id
        assert float(version.tags["rm_eval.score"]) == round(evaluated.metrics["rewardbench/score"], 6)


def test_demo_runs_hold_the_numbers_a_direct_evaluation_gives(demo):
    client = MlflowClient(demo.tracking_uri)
    for evaluated in demo.versions:
        run = client.get_run(evaluated.run_id)
        assert run.info.status == "FINISHED" and run.info.experiment_id == demo.experiment_id
        assert run.data.tags["rm_mlflow.model_name"] == MODEL_NAME and run.data.tags["rm_mlflow.model_version"] == evaluated.version
        expected = sample_metrics(evaluated.model_dir)  # the library on the same model folder and the shipped sample
        assert {key: run.data.metrics[key] for key in expected} == expected
    gated = client.get_run(demo.versions[1].run_id)
    assert gated.data.tags["rm_mlflow.gate"] == ("passed" if demo.versions[1].gate["passed"] else "failed")
    assert "gate/passed" in gated.data.metrics and "gate/passed" not in client.get_run(demo.versions[0].run_id).data.metrics


def test_demo_writes_the_better_versions_card_and_prints_how_to_compare(demo):
    better = max(demo.versions, key=lambda v: v.metrics["rewardbench/score"])
    assert demo.better is better
    card = (better.model_dir / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    [entry] = header["model-index"]
    metrics = {m["type"]: m["value"] for m in entry["results"][0]["metrics"]}
    assert entry["name"] == f"{MODEL_NAME} v{better.version}"
    assert metrics["score"] == round(better.metrics["rewardbench/score"], 6)
    assert "random" in card.lower()  # the card still says the model is not trained
    eval_results = parse_eval_result_entries(yaml.safe_load((better.model_dir / ".eval_results" / "rewardbench.yaml").read_text()))
    assert {entry.task_id: entry.value for entry in eval_results}["score"] == round(better.metrics["rewardbench/score"], 6)
    assert demo.card_yaml.startswith("model-index:") and demo.card_yaml in demo.printed
    assert f"mlflow ui --backend-store-uri {demo.tracking_uri}" in demo.printed and demo.compare_url in demo.printed
    for line in ("rewardbench/score", "rewardbench/section/chat_hard", "Promotion gate for v2 against rm-demo@champion"):
        assert line in demo.printed


def test_demo_metrics_sit_on_each_versions_logged_model_and_select_the_better_one(demo):
    client = MlflowClient(demo.tracking_uri)
    versions = {str(v.version): v for v in client.search_model_versions(f"name = '{MODEL_NAME}'")}
    model_ids = {number: v.model_id or v.source.removeprefix("models:/") for number, v in versions.items()}
    assert all(model_id.startswith("m-") for model_id in model_ids.values())
    for evaluated in demo.versions:
        logged = client.get_logged_model(model_ids[evaluated.version])
        on_model = {metric.key: metric for metric in logged.metrics}
        assert on_model["rewardbench/score"].value == evaluated.metrics["rewardbench/score"]
        assert on_model["rewardbench/score"].run_id == evaluated.run_id and on_model["rewardbench/score"].dataset_name == "rewardbench"
    inputs = client.get_run(demo.versions[0].run_id).inputs.dataset_inputs  # ours, and the frame mlflow.models.evaluate was given
    [digest] = [item.dataset.digest for item in inputs if item.dataset.name == "rewardbench"]
    assert on_model["rewardbench/score"].dataset_digest == digest  # the run's dataset input and the model's metric name one dataset
    scores = sorted(evaluated.metrics["rewardbench/score"] for evaluated in demo.versions)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    found = client.search_logged_models(experiments, filter_string=f"metrics.`rewardbench/score` > {sum(scores) / 2}",
                                        datasets=[{"dataset_name": "rewardbench", "dataset_digest": digest}])
    assert [model.model_id for model in found] == [model_ids[demo.better.version]]


def test_demo_prints_and_logs_the_leaderboard_of_its_versions(demo):
    from rm_mlflow.tracking.leaderboard import format_leaderboard

    board = demo.leaderboard
    assert [(row.version, row.aliases) for row in board.rows] == [("1", ("champion",)), ("2", ())]
    assert [column.benchmark for column in board.columns] == ["rewardbench"]
    markdown = format_leaderboard(board, "markdown")
    assert markdown in demo.printed and markdown.splitlines()[0] == "| model | version | aliases | rewardbench |"
    for row, evaluated in zip(board.rows, demo.versions, strict=True):
        assert row.cells[board.columns[0]].score == evaluated.metrics["rewardbench/score"]
    client = MlflowClient(demo.tracking_uri)
    logged = client.download_artifacts(demo.versions[1].run_id, "rm_eval/leaderboard.md")
    assert open(logged, encoding="utf-8").read() == markdown + "\n"  # the last evaluation's run holds the table with both versions
