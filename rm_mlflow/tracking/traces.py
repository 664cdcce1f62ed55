"""Per-example views in MLflow: the wrongly ranked examples and a seeded sample of the rest as traces with feedback.

Each trace holds one example (its prompt and responses as inputs, with the artifact paths of its images when it
has any, the scores, correctness and margin as outputs) in the run's experiment, linked to the run
(``mlflow.sourceRun``), so the run page's Traces tab lists them; two feedback assessments from the code source
``rm-mlflow`` say whether the model ranked it correctly and by what margin, and are what the evaluation UI filters
and shows.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rm_mlflow.benchmarking import EvaluationReport
from rm_mlflow.data.benchmark import LoadedBenchmark
from rm_mlflow.data.images import ImageRef

logger = logging.getLogger(__name__)
SOURCE_RUN = "mlflow.sourceRun"  # mlflow.tracing.constant.TraceMetadataKey.SOURCE_RUN
IMAGE_ARTIFACTS = "example_images"  # where a traced example's images go in its run's artifacts


def pick_examples(correct: Sequence[float | None], limit: int, seed: int) -> list[int]:
    """Up to ``limit`` wrongly ranked examples (in order) and ``limit`` of the others drawn with ``seed``."""
    wrong = [i for i, value in enumerate(correct) if value is not None and not math.isnan(value) and value < 1]
    others = [i for i, value in enumerate(correct) if value is not None and not math.isnan(value) and value >= 1]
    return wrong[:limit] + sorted(random.Random(seed).sample(others, min(limit, len(others))))


def log_example_traces(
    report: EvaluationReport, benchmarks: Sequence[LoadedBenchmark], *, run_id: str, experiment_id: str, limit: int, seed: int = 0
) -> int:
    """Log the picked examples of every benchmark as traces of run ``run_id``; returns how many."""
    import mlflow
    from mlflow.entities import AssessmentSource

    source = AssessmentSource(source_type="CODE", source_id="rm-mlflow")
    feedback: list[tuple[str, dict[str, Any], str]] = []
    for loaded in benchmarks:
        name = loaded.benchmark.name
        table = report.benchmarks[name].examples
        for index in pick_examples(table["correct"].tolist(), limit, seed):
            example, row = loaded.examples[index], table.iloc[index]
            inputs = {"prompt": [dict(m) for m in example.prompt], "chosen": list(example.chosen), "rejected": list(example.rejected)}
            if example.images:  # the pictures themselves go beside the trace, as run artifacts named by content hash
                inputs["images"] = [_log_image(image, run_id) for image in example.images]
            span = mlflow.start_span_no_context(
                name=f"{name}/{example.subset}",
                span_type="EVALUATOR",
                inputs=inputs,
                experiment_id=experiment_id,
                metadata={SOURCE_RUN: run_id},
                tags={"rm_mlflow.benchmark": name, "rm_mlflow.subset": example.subset, "rm_mlflow.example_id": example.id},
            )
            outputs = {"chosen_scores": _floats(row["chosen_scores"]), "rejected_scores": _floats(row["rejected_scores"]),
                       "correct": float(row["correct"]), "margin": float(row["margin"])}
            span.set_outputs(outputs)
            span.end()
            feedback.append((span.trace_id, outputs, f"{name}, {example.subset}, id {example.id}"))
    mlflow.flush_trace_async_logging()  # traces are exported in the background; feedback needs them stored
    for trace_id, outputs, where in feedback:
        verdict = "ranked the chosen response first" if outputs["correct"] >= 1 else "did not rank the chosen response first"
        mlflow.log_feedback(trace_id=trace_id, name="correct", value=outputs["correct"] >= 1, source=source,
                            rationale=f"the model {verdict} ({where})")
        mlflow.log_feedback(trace_id=trace_id, name="margin", value=outputs["margin"], source=source,
                            rationale="lowest chosen score minus highest rejected score")
    return len(feedback)


def _log_image(image: ImageRef, run_id: str) -> str:
    """Log one example's image to the run under ``example_images/`` (once per content) and return its artifact path."""
    import mlflow

    name = f"{image.sha256}.{image.format.lower()}"
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / name
        copy.write_bytes(image.read_bytes())
        mlflow.MlflowClient().log_artifact(run_id, str(copy), IMAGE_ARTIFACTS)
    return f"{IMAGE_ARTIFACTS}/{name}"


def _floats(values: Any) -> list[float]:
    return [float(value) for value in values]
