"""The embedded default job: a tiny local reward model scored on the shipped sample set, logged to a local sqlite MLflow store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rm_mlflow.data.sample import SAMPLE_DATA_DIR, sample_corpus
from rm_mlflow.evaluation import EvaluationReport
from rm_mlflow.tiny_models import build_tiny_reward_model
from rm_mlflow.tracking.run import DataOptions, evaluate_to_run


@dataclass(frozen=True)
class DemoResult:
    report: EvaluationReport
    run_id: str
    tracking_uri: str
    model_dir: Path
    results_dir: Path


def run_demo(workdir: Path | str = "rm-mlflow-demo", *, progress: bool = True) -> DemoResult:
    workdir = Path(workdir).resolve()
    model_dir = workdir / "tiny-random-rm"
    if not (model_dir / "config.json").exists():
        build_tiny_reward_model(model_dir, corpus=sample_corpus())
    results_dir = workdir / "results"
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    result = evaluate_to_run(
        str(model_dir), ["rewardbench"], data=DataOptions(data_dir=str(SAMPLE_DATA_DIR)), output_dir=results_dir,
        tracking_uri=tracking_uri, experiment="rm-mlflow-demo", run_name="tiny-random-rm", progress=progress,
    )
    return DemoResult(report=result.report, run_id=result.run_id, tracking_uri=tracking_uri, model_dir=model_dir, results_dir=results_dir)
