"""``rm-mlflow demo`` end to end: the registry, both evaluation runs, the gate, the card and the compare-view link."""

from __future__ import annotations

import yaml
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
    assert demo.card_yaml.startswith("model-index:") and demo.card_yaml in demo.printed
    assert f"mlflow ui --backend-store-uri {demo.tracking_uri}" in demo.printed and demo.compare_url in demo.printed
    for line in ("rewardbench/score", "rewardbench/section/chat_hard", "Promotion gate for v2 against rm-demo@champion"):
        assert line in demo.printed
