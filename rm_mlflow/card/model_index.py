"""``model-index`` entries for a results document (``results.json``), built with huggingface_hub's own types.

The shape follows what ``rewardbench --upload_model_metadata_to_hf`` and the leaderboard bots write
(task, dataset, metrics, source), so existing parsers read it: one result per benchmark, with the
headline score, the section scores and, optionally, one metric per subset.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rm_mlflow.metrics.outcomes import metric_slug
from rm_mlflow.results import BenchmarkResults, ResultsDocument

logger = logging.getLogger(__name__)
TASK_TYPE = "preference_evaluation"  # rewardbench's task type
TASK_NAME = "Reward Model Evaluation (rm-mlflow)"  # marks our entries, so a later sync replaces exactly these
SOURCE_NAME = "rm-mlflow"


def build_eval_results(results: ResultsDocument, *, source_url: str | None = None, include_subsets: bool = False) -> list[Any]:
    """One ``EvalResult`` per metric, grouped by huggingface_hub into one model-index result per benchmark."""
    from huggingface_hub import EvalResult

    entries = []
    kind_args = _model_type_args(results.model) or {}
    for name, benchmark in results.benchmarks.items():
        if benchmark.partial:
            logger.warning("%s is left out of the model card: its figures come from part of the benchmark (%s)", name, benchmark.partial)
            continue
        common = {
            "task_type": TASK_TYPE,
            "task_name": TASK_NAME,
            "dataset_type": _dataset_type(name, benchmark),
            "dataset_name": benchmark.title or name,
            "dataset_split": benchmark.split,
            "dataset_revision": benchmark.revision,
            "source_name": SOURCE_NAME if source_url else None,
            "source_url": source_url,
        }
        # what the figures depend on (see docs/reproducibility.md): a reader can tell two cards' numbers apart
        args = kind_args | ({"fingerprint": results.fingerprint["id"], "data_digest": benchmark.digest} if results.fingerprint else {})
        if results.settings.get("batching", "independent") != "independent":  # rewardbench's batch-dependent numbers (docs/parity.md)
            args["batching"] = results.settings["batching"]
        args = args or None
        for metric_type, metric_name, value in published_figures(benchmark, include_subsets=include_subsets):
            entries.append(EvalResult(metric_type=metric_type, metric_name=metric_name, metric_value=value, metric_args=args, **common))
    return entries


def published_figures(benchmark: BenchmarkResults, *, include_subsets: bool = False) -> list[tuple[str, str, float]]:
    """What a card publishes of one benchmark: (key, display name, value rounded to 6 places).

    The keys are the headline ``score``, each ``section/<slug>`` and, when asked, each ``subset/<slug>``;
    figures without a value are left out.
    """
    figures: list[tuple[str, str, float | None]] = [("score", "Score", benchmark.score)]
    figures += [(f"section/{metric_slug(section)}", section, value) for section, value in benchmark.sections.items()]
    if include_subsets:
        figures += [(f"subset/{metric_slug(subset)}", subset, value) for subset, value in benchmark.subsets.items()]
    return [(key, name, round(float(value), 6)) for key, name, value in figures if value is not None]


def _model_type_args(model: Mapping[str, Any]) -> dict[str, str] | None:
    """DPO results are marked the way the leaderboard lists them ("DPO" or "DPO Ref. Free"), with their reference."""
    kind = model.get("leaderboard_type")
    if not kind or not str(kind).startswith("DPO"):
        return None
    args = {"model_type": kind}
    if model.get("ref_model"):
        args["ref_model"] = str(model["ref_model"])
    elif model.get("ref_free_type"):
        args["ref_free_type"] = str(model["ref_free_type"])
    return args


def is_ours(result: Mapping[str, Any]) -> bool:
    """A model-index result this tool wrote (its task name, or its source name when a URL was given)."""
    task, source = result.get("task") or {}, result.get("source") or {}
    return task.get("name") == TASK_NAME or source.get("name") == SOURCE_NAME


def _dataset_type(name: str, benchmark: BenchmarkResults) -> str:
    """The Hub dataset id when there is one, else our benchmark name."""
    return hub_dataset_id(name, benchmark) or name


def hub_dataset_id(name: str, benchmark: BenchmarkResults) -> str | None:
    """The Hub dataset the figures are of: the one the data came from, or a registered benchmark's; None for local data."""
    from rm_mlflow.data.benchmark import BENCHMARKS

    source = str(benchmark.source or "")
    if source.startswith("hf://datasets/"):
        return source.removeprefix("hf://datasets/")
    if name in BENCHMARKS and BENCHMARKS.get(name).hub_id:
        return BENCHMARKS.get(name).hub_id
    return None
