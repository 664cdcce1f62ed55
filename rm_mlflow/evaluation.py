"""The evaluation loop: load benchmarks, score every response once, aggregate. Knows no specific benchmark or model."""

from __future__ import annotations

import logging
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rm_mlflow.data.benchmark import Benchmark, LoadedBenchmark, load_benchmark
from rm_mlflow.metrics.accuracy import CORRECTNESS_RULES
from rm_mlflow.metrics.aggregators import BenchmarkScores, ExampleOutcome, aggregate, combined_rewardbench_scores
from rm_mlflow.scoring.base import RewardModel
from rm_mlflow.scoring.cache import ScoreCache
from rm_mlflow.scoring.engine import score_conversations
from rm_mlflow.scoring.loaders import load_reward_model
from rm_mlflow.scoring.settings import ScoringSettings

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkReport:
    name: str
    title: str
    source: str
    split: str
    revision: str | None
    skipped: int
    skipped_reasons: list[str]
    scores: BenchmarkScores
    examples: pd.DataFrame = field(repr=False)


@dataclass
class EvaluationReport:
    """Everything one evaluation produced: per-benchmark scores and per-example tables, settings and throughput."""

    model: dict[str, Any]
    settings: dict[str, Any]
    benchmarks: dict[str, BenchmarkReport]
    combined: dict[str, float]
    throughput: dict[str, float]
    environment: dict[str, str]

    def metrics(self) -> dict[str, float]:
        """All metrics under stable hierarchical names (``rewardbench/section/chat_hard``, ...)."""
        metrics: dict[str, float] = {}
        for name, report in self.benchmarks.items():
            metrics |= report.scores.as_metrics(name)
            if report.skipped:
                metrics[f"{name}/num_skipped_invalid"] = float(report.skipped)
        metrics |= self.combined
        metrics |= {f"throughput/{key}": value for key, value in self.throughput.items()}
        return {key: value for key, value in metrics.items() if not math.isnan(value)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "settings": self.settings,
            "benchmarks": {
                name: {
                    "title": r.title,
                    "source": r.source,
                    "split": r.split,
                    "revision": r.revision,
                    "score": r.scores.score,
                    "sections": r.scores.sections,
                    "subsets": r.scores.subsets,
                    "subset_counts": r.scores.subset_counts,
                    "extra": r.scores.extra,
                    "num_examples": len(r.examples),
                    "skipped_invalid": r.skipped,
                    "skipped_reasons": r.skipped_reasons,
                }
                for name, r in self.benchmarks.items()
            },
            "combined": self.combined,
            "throughput": self.throughput,
            "environment": self.environment,
            "metrics": self.metrics(),
        }


def evaluate_reward_model(
    model: str | RewardModel,
    datasets: Sequence[str | Benchmark],
    *,
    settings: ScoringSettings | None = None,
    data_dir: Path | str | None = None,
    split: str | None = None,
    revision: str | None = None,
    subsets: Sequence[str] | None = None,
    limit: int | None = None,
    skip_invalid: bool = False,
    cache_path: Path | str | None = None,
    model_kind: str = "auto",
    progress: bool = True,
) -> EvaluationReport:
    """Evaluate one reward model on one or more benchmarks (registered names, files or Hub ids).

    All data is loaded and validated before the model is loaded, so bad input fails in seconds.
    With ``cache_path``, scores are appended to that file as batches finish and reused on rerun.
    """
    settings = settings or ScoringSettings()
    loaded = [
        load_benchmark(spec, data_dir=data_dir, split=split, revision=revision, subsets=subsets, limit=limit, skip_invalid=skip_invalid)
        for spec in datasets
    ]
    for item in loaded:
        if item.skipped:
            logger.warning("%s: skipped %d invalid row(s), e.g. %s", item.benchmark.name, item.skipped, item.skipped_reasons[0])
    _check_unique_names(loaded)

    if isinstance(model, str):
        reward_model = load_reward_model(model, settings, kind=model_kind)
    else:
        reward_model, settings = model, model.settings
    model_info = reward_model.describe()

    conversations, labels, slots = [], [], []
    for b, item in enumerate(loaded):
        for e, example in enumerate(item.examples):
            for r, response in enumerate(example.responses()):
                conversations.append(example.conversation(response))
                role = "chosen" if r < len(example.chosen) else "rejected"
                labels.append(f"{item.benchmark.name} id {example.id} {role}")
                slots.append((b, e, r))

    cache = ScoreCache(cache_path, fingerprint={"model": model_info, "settings": settings.as_dict()}) if cache_path else None
    scored = score_conversations(reward_model, conversations, settings, labels=labels, cache=cache, progress=progress)

    per_example_scores: dict[tuple[int, int], list[float]] = {}
    per_example_tokens: dict[tuple[int, int], list[int]] = {}
    for (b, e, _), score, tokens in zip(slots, scored.scores, scored.token_counts):
        per_example_scores.setdefault((b, e), []).append(score)
        per_example_tokens.setdefault((b, e), []).append(tokens)

    reports: dict[str, BenchmarkReport] = {}
    for b, item in enumerate(loaded):
        rule = CORRECTNESS_RULES.get(item.benchmark.correctness)
        section_of = {subset: section for section, members in item.benchmark.sections.items() for subset in members}
        outcomes, rows = [], []
        for e, example in enumerate(item.examples):
            scores = per_example_scores.get((b, e), [])
            tokens = per_example_tokens.get((b, e), [])
            n = len(example.chosen)
            chosen, rejected = tuple(scores[:n]), tuple(scores[n:])
            correct = rule(chosen, rejected) if rejected else None
            outcomes.append(ExampleOutcome(example.id, example.subset, chosen, rejected, correct))
            rows.append(
                {
                    "id": example.id,
                    "subset": example.subset,
                    "section": section_of.get(example.subset),
                    "correct": correct,
                    "margin": min(chosen) - max(rejected) if rejected else None,
                    "chosen_scores": list(chosen),
                    "rejected_scores": list(rejected),
                    "chosen_tokens": tokens[:n],
                    "rejected_tokens": tokens[n:],
                    "num_turns": len(example.prompt),
                }
            )
        reports[item.benchmark.name] = BenchmarkReport(
            name=item.benchmark.name,
            title=item.benchmark.title,
            source=item.source,
            split=item.split,
            revision=item.revision,
            skipped=item.skipped,
            skipped_reasons=item.skipped_reasons,
            scores=aggregate(item.benchmark, outcomes),
            examples=pd.DataFrame(rows),
        )

    num_examples = sum(len(item.examples) for item in loaded)
    throughput = {
        "examples": float(num_examples),
        "conversations": float(len(conversations)),
        "distinct_conversations": float(scored.distinct),
        "cached_conversations": float(scored.from_cache),
        "truncated_conversations": float(scored.truncated),
        "tokens": float(scored.tokens),
        "seconds": scored.seconds,
        "examples_per_second": num_examples / scored.seconds if scored.seconds > 0 else float("nan"),
        "tokens_per_second": scored.tokens_per_second,
    }
    return EvaluationReport(
        model=model_info,
        settings=settings.as_dict() | {"limit": limit, "subsets": list(subsets or []), "split": split, "revision": revision},
        benchmarks=reports,
        combined=combined_rewardbench_scores({name: r.scores for name, r in reports.items()}),
        throughput=throughput,
        environment=_environment(),
    )


def _check_unique_names(loaded: list[LoadedBenchmark]) -> None:
    names = [item.benchmark.name for item in loaded]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"dataset(s) given twice or with the same name: {', '.join(duplicates)}")


def _environment() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    env = {"python": platform.python_version()}
    for package in ("rm-mlflow", "torch", "transformers", "datasets", "mlflow"):
        try:
            env[package] = version(package)
        except PackageNotFoundError:
            continue
    return env
