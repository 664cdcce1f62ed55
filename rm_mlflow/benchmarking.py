"""Scoring loaded benchmarks with a reward model: every response once, then each benchmark's own correctness and aggregation.

Knows no specific benchmark or model kind: both come in as objects.
"""

from __future__ import annotations

import logging
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import singledispatch
from pathlib import Path
from typing import Any

import pandas as pd

from rm_mlflow.data.benchmark import MODEL_POSITIONS, Benchmark, LoadedBenchmark, all_examples
from rm_mlflow.data.loading import load_benchmarks
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.errors import OptionError
from rm_mlflow.judges.base import Judge, judge_examples
from rm_mlflow.metrics.calibration import Calibration, calibration
from rm_mlflow.metrics.intervals import DEFAULT_LEVEL, DEFAULT_RESAMPLES, bootstrap_intervals
from rm_mlflow.metrics.length_bias import LengthBias, length_bias
from rm_mlflow.metrics.outcomes import BenchmarkScores, ExampleOutcome
from rm_mlflow.scoring.base import ExampleScores, RewardModel, ScoredExamples, Scorer
from rm_mlflow.scoring.cache import ScoreCache
from rm_mlflow.scoring.distributed import SINGLE_PROCESS, ProcessGroup
from rm_mlflow.scoring.engine import score_examples as score_with_engine
from rm_mlflow.scoring.loaders import load_reward_model
from rm_mlflow.scoring.settings import ScoringSettings

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkReport:
    """One benchmark's scores, where its data came from, and its per-example table."""

    name: str
    title: str
    source: str
    split: str
    revision: str | None
    skipped: int
    skipped_reasons: list[str]
    scores: BenchmarkScores
    examples: pd.DataFrame = field(repr=False)
    length_bias: LengthBias | None = None
    calibration: Calibration | None = None  # sigmoid(margin) as P(chosen preferred), for kinds whose scores are logits
    warnings: list[str] = field(default_factory=list)  # e.g. a judge that gave no verdict too often
    notes: list[str] = field(default_factory=list)  # the model kind's own summary lines (a judge's verdict counts)
    partial: str | None = None  # why these are not the whole benchmark's figures (--limit, --subsets, missing sections)
    digest: str | None = None  # the scored examples' content digest (see rm_mlflow.data.benchmark.examples_digest)


@dataclass(frozen=True)
class IntervalOptions:
    """Bootstrap intervals for every subset, section and headline score: ``resamples`` (0: none), coverage ``level``, ``seed``."""

    resamples: int = DEFAULT_RESAMPLES
    level: float = DEFAULT_LEVEL
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.resamples, int) or isinstance(self.resamples, bool) or self.resamples < 0:
            raise OptionError(f"bootstrap resamples must be 0 (no intervals) or more, got {self.resamples!r}")
        if not isinstance(self.level, (int, float)) or not 0 < self.level < 1:
            raise OptionError(f"ci_level must be between 0 and 1 (e.g. 0.95), got {self.level!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise OptionError(f"seed must be an integer, got {self.seed!r}")


@dataclass
class EvaluationReport:
    """Everything one evaluation produced: per-benchmark scores and per-example tables, settings and throughput."""

    model: dict[str, Any]
    settings: dict[str, Any]
    benchmarks: dict[str, BenchmarkReport]
    combined: dict[str, float]
    throughput: dict[str, float]
    environment: dict[str, str]
    fingerprint: dict[str, Any] = field(default_factory=dict)  # what the numbers depend on, as digests (rm_mlflow.fingerprint)
    checks: list[dict[str, str]] = field(default_factory=list)  # the doctor's every-run findings: check, verdict, detail
    # when the scoring finished (UTC, ISO-8601): the date results published from this report carry, however often they are synced
    evaluated_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def metrics(self) -> dict[str, float]:
        """All metrics under stable hierarchical names (``rewardbench/section/chat_hard``, ...)."""
        metrics: dict[str, float] = {}
        for name, report in self.benchmarks.items():
            metrics |= report.scores.as_metrics(name)
            if report.length_bias is not None:
                metrics |= report.length_bias.as_metrics(name)
            if report.calibration is not None:
                metrics |= report.calibration.as_metrics(name)
            if report.skipped:
                metrics[f"{name}/num_skipped_invalid"] = float(report.skipped)
        metrics |= self.combined
        metrics = {key: value for key, value in metrics.items() if not math.isnan(value)}
        # every run logs the same throughput keys: a figure that does not apply (examples/s of a resumed run) is NaN, not absent
        return metrics | {f"throughput/{key}": value for key, value in self.throughput.items()}

    def to_dict(self) -> dict[str, Any]:
        """The report as the ``results.json`` document (per-example tables excluded)."""
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
                    "intervals": {key: [i.low, i.high] for key, i in r.scores.intervals.items()},
                    "interval_level": next(iter(r.scores.intervals.values())).level if r.scores.intervals else None,
                    "length_bias": _length_document(r.length_bias),
                    "calibration": r.calibration.to_dict() if r.calibration is not None else None,
                    "warnings": r.warnings,
                    "notes": r.notes,
                    "partial": r.partial,
                    "digest": r.digest,
                }
                for name, r in self.benchmarks.items()
            },
            "combined": self.combined,
            "throughput": self.throughput,
            "environment": self.environment,
            "fingerprint": self.fingerprint,
            "checks": self.checks,
            "evaluated_at": self.evaluated_at,
            "metrics": self.metrics(),
        }


def score_reward_model(
    model: str | Scorer,
    datasets: Sequence[str | Benchmark],
    *,
    settings: ScoringSettings | None = None,
    data: DataOptions | None = None,
    cache_path: Path | str | None = None,
    model_kind: str = "auto",
    progress: bool = True,
    intervals: IntervalOptions | None = None,
) -> EvaluationReport:
    """Evaluate one reward model on one or more benchmarks.

    Args:
        model: a local model folder or Hub id (loaded with ``settings`` and ``model_kind``), or a loaded reward model or judge.
        datasets: registered benchmark names, local files or folders, Hub dataset ids, or :class:`Benchmark` objects.
        settings: how to format, truncate and batch (ignored for a loaded model, which carries its own). A ``max_length`` other
            than the default counts as chosen; with the default, a benchmark with its own (Long-RewardBench) uses that.
        data: where local copies live, split, subsets, per-subset limit, bad-row handling.
        cache_path: append scores to this file as batches finish and reuse them on a rerun.
        model_kind: the model loader (``auto`` picks it from the model's config).
        progress: show a progress bar.
        intervals: bootstrap intervals (default: 1000 seeded resamples, 95%); ``IntervalOptions(resamples=0)`` for none.

    Returns:
        Per-benchmark scores and per-example tables. All data is loaded and validated before the
        model is loaded, so bad input fails in seconds.
    """
    data = data or DataOptions()
    loaded = load_benchmarks(datasets, data)
    if isinstance(model, str):
        reward_model = load_reward_model(model, settings or ScoringSettings(), kind=model_kind)
    else:
        reward_model = model
    cache = ScoreCache(cache_path, fingerprint=ScoreCache.fingerprint_of(reward_model)) if cache_path else None
    given = reward_model.settings.max_length != ScoringSettings().max_length  # a settings object cannot say whether it was chosen
    return score_benchmarks(reward_model, loaded, data=data, cache=cache, progress=progress, intervals=intervals, max_length_given=given)


def benchmark_max_lengths(model: Scorer, loaded: Sequence[LoadedBenchmark], *, max_length_given: bool) -> list[int]:
    """The ``max_length`` each benchmark is scored with: the model's, or, when none was given, a benchmark's own default."""
    positions = model.max_positions()
    own = not max_length_given and positions is not None
    return [positions if own and item.benchmark.default_max_length == MODEL_POSITIONS else model.settings.max_length  # type: ignore[misc]
            for item in loaded]


def _segments(loaded: Sequence[LoadedBenchmark], lengths: Sequence[int], *, each: bool) -> list[tuple[int, list[LoadedBenchmark]]]:
    """Consecutive benchmarks with the same ``max_length`` together (each alone when ``each``), with that length."""
    segments: list[tuple[int, list[LoadedBenchmark]]] = []
    for item, length in zip(loaded, lengths, strict=True):
        if segments and not each and segments[-1][0] == length:
            segments[-1][1].append(item)
        else:
            segments.append((length, [item]))
    return segments


@singledispatch
def score_examples(
    model: Scorer, examples: Sequence[PreferenceExample], names: Sequence[str], *, cache: ScoreCache | None, progress: bool, group: ProcessGroup
) -> ScoredExamples:
    """Score ``examples`` the way the model's type does: the batching engine for a reward model, plan-ask-aggregate for a judge."""
    raise TypeError(f"no scoring strategy for {type(model).__name__}: a model is a RewardModel or a Judge")


score_examples.register(RewardModel, score_with_engine)
score_examples.register(Judge, judge_examples)


def score_benchmarks(
    reward_model: Scorer,
    loaded: Sequence[LoadedBenchmark],
    *,
    data: DataOptions | None = None,
    cache: ScoreCache | None = None,
    progress: bool = True,
    intervals: IntervalOptions | None = None,
    group: ProcessGroup = SINGLE_PROCESS,
    max_length_given: bool = True,
) -> EvaluationReport:
    """Score every response of every loaded benchmark once (shared conversations deduplicated), then aggregate each benchmark.

    Args:
        reward_model: the loaded model.
        loaded: benchmarks from :func:`rm_mlflow.data.load_benchmarks`.
        data: the data options the benchmarks were loaded with (recorded in the report).
        cache: scores kept on disk; cached conversations are not scored again.
        progress: show a progress bar.
        intervals: bootstrap intervals for every figure (default: 1000 seeded resamples at 95%).
        group: the data-parallel processes this one belongs to: it scores its share and gets every score.
        max_length_given: whether the model's ``max_length`` was chosen (by the caller or with the logged model); when not,
            a benchmark with its own default (Long-RewardBench: the model's position limit) is scored with that.
    """
    data = data or DataOptions()
    intervals = intervals or IntervalOptions()
    for item in loaded:
        if item.skipped:
            logger.warning("%s: skipped %d invalid row(s), e.g. %s", item.benchmark.name, item.skipped, item.skipped_reasons[0])
    settings = reward_model.settings
    model_info = reward_model.describe()

    examples, _ = all_examples(loaded)
    lengths = benchmark_max_lengths(reward_model, loaded, max_length_given=max_length_given)
    # one scoring pass per run of benchmarks that share a max_length (all of them, unless one has its own default);
    # rewardbench batches each dataset from its own first row
    parts = []
    for length, segment in _segments(loaded, lengths, each=settings.batching == "rewardbench"):
        with reward_model.with_max_length(length):
            parts.append(score_examples(reward_model, *all_examples(segment), cache=cache, progress=progress, group=group))
    scored = parts[0] if len(parts) == 1 else ScoredExamples.concatenate(parts)
    reports, start = {}, 0
    for item, length in zip(loaded, lengths, strict=True):
        end = start + len(item.examples)
        reports[item.benchmark.name] = report = _benchmark_report(
            item, reward_model, scored.scores[start:end], scored.tokens[start:end], intervals=intervals,
            truncated=scored.truncated[start:end] if scored.truncated else None)
        if length != settings.max_length:
            report.scores.extra["max_length"] = float(length)
            report.notes.append(f"scored up to {length:,} tokens, the model's position limit: this benchmark's default when no "
                                "--max_length is given")
        start = end
    combined: dict[str, float] = {}
    for item in loaded:
        if item.benchmark.combine is not None:
            combined |= item.benchmark.combine({name: report.scores for name, report in reports.items()})

    num_examples, work = len(examples), scored.work
    throughput = {
        "examples": float(num_examples),
        "conversations": float(sum(len(tokens) for tokens in scored.tokens)),
        "distinct_conversations": float(work.distinct_conversations),
        "scored_conversations": float(work.scored_conversations),
        "cached_conversations": float(work.cached_conversations),
        "cached_share": work.cached_conversations / work.distinct_conversations if work.distinct_conversations else 0.0,
        "truncated_conversations": float(work.truncated_conversations),
        "tokens": float(work.tokens),
        "scored_tokens": float(work.scored_tokens),
        # tokens the model computed: fewer than scored_tokens when responses share their prompt's computation
        "computed_tokens": float(work.computed_tokens if work.computed_tokens is not None else work.scored_tokens),
        "seconds": work.seconds,
        # Rates count only the work this run did; examples/s is meaningful only when nothing came from a cache.
        "conversations_per_second": work.scored_conversations / work.seconds if work.seconds > 0 else float("nan"),
        "tokens_per_second": work.tokens_per_second,
        "examples_per_second": num_examples / work.seconds if work.seconds > 0 and not work.cached_conversations else float("nan"),
    } | reward_model.stats()
    data_settings = {"limit": data.limit, "subsets": list(data.subsets), "split": data.split, "revision": data.revision}
    return EvaluationReport(
        model=model_info,
        settings=settings.as_dict(groups=reward_model.setting_groups) | data_settings,
        benchmarks=reports,
        combined=combined,
        throughput=throughput,
        environment=_environment(),
    )


def _benchmark_report(
    item: LoadedBenchmark,
    reward_model: Scorer,
    scores: Sequence[ExampleScores],
    tokens: Sequence[list[int]],
    *,
    intervals: IntervalOptions,
    truncated: Sequence[bool] | None = None,
) -> BenchmarkReport:
    """One benchmark's outcomes, figures, intervals and table; ``truncated`` flags the examples not seen whole (None: not known)."""
    benchmark = item.benchmark
    outcomes, rows, extras, lengths = [], [], [], []
    for example, example_scores, example_tokens in zip(item.examples, scores, tokens, strict=True):
        outcome = benchmark.outcome(example, example_scores)
        outcomes.append(outcome)
        chosen, rejected, correct = outcome.chosen_scores, outcome.rejected_scores, outcome.correct
        n = len(example.chosen)
        lengths.append(([len(text) for text in example.chosen], [len(text) for text in example.rejected]))
        rows.append(
            {
                "id": example.id,
                "subset": example.subset,
                "section": benchmark.section_of(example.subset),
                "correct": correct,
                "margin": min(chosen) - max(rejected) if rejected else None,
                "chosen_scores": list(chosen),
                "rejected_scores": list(rejected),
                "chosen_tokens": example_tokens[:n],
                "rejected_tokens": example_tokens[n:],
                "chosen_chars": lengths[-1][0],
                "rejected_chars": lengths[-1][1],
                "num_turns": len(example.prompt),
                **({"images": [image.reference for image in example.images]} if example.images else {}),
                **({"votes": list(outcome.votes)} if outcome.votes else {}),
                **example_scores.extras,
                **example_scores.details,
            }
        )
        extras.append(example_scores.extras)
    scores_out = benchmark.score(outcomes)
    for name in sorted({key for found in extras for key in found}):
        values = [found[name] for found in extras if name in found]
        scores_out.extra[name] = sum(values) / len(values)
    compared = any(outcome.correct is not None for outcome in outcomes)
    if compared and intervals.resamples:
        scores_out.intervals = bootstrap_intervals(
            outcomes, benchmark.aggregate, resamples=intervals.resamples, level=intervals.level, seed=intervals.seed,
            cluster_of=benchmark.cluster_of,
        )
    bias = length_bias(outcomes, lengths, benchmark.correctness, benchmark.aggregate) if compared else None
    calibrated, notes = _calibration(outcomes, reward_model, intervals) if compared else (None, [])
    table = pd.DataFrame(rows)
    review = reward_model.review(table)
    scores_out.extra |= review.figures
    if truncated is not None:  # what the model could not see whole: cut to its length limit (--truncation left/right)
        scores_out.extra["num_truncated"] = float(sum(truncated))
        if any(truncated):
            notes.append(f"{sum(truncated):,} of {len(truncated):,} examples were not seen whole: cut to the length limit "
                         f"({reward_model.settings.truncation} side)")
    for warning in review.warnings:
        logger.warning("%s: %s", benchmark.name, warning)
    return BenchmarkReport(
        name=benchmark.name,
        title=benchmark.title,
        source=item.source,
        split=item.split,
        revision=item.revision,
        skipped=item.skipped,
        skipped_reasons=item.skipped_reasons,
        scores=scores_out,
        examples=table,
        length_bias=bias,
        calibration=calibrated,
        warnings=review.warnings,
        notes=review.lines + notes,
        partial=item.partial,
        digest=item.digest,
    )


def _calibration(outcomes: Sequence[ExampleOutcome], scorer: Scorer, intervals: IntervalOptions) -> tuple[Calibration | None, list[str]]:
    """The calibration of the pairs when the kind's scores are logits (or a judge's ratings), else the line that says why not."""
    reading = scorer.margin_reading()
    if reading.of is None:
        return None, [f"calibration: not reported: {reading.why_not}"]
    if reading.least is not None:
        outcomes = [o for o in outcomes if min(o.chosen_scores + o.rejected_scores, default=reading.least) >= reading.least]
    figures = calibration(outcomes, resamples=intervals.resamples, level=intervals.level, seed=intervals.seed)
    return figures, [f"calibration: sigmoid of {reading.of} as P(chosen preferred)"] if figures is not None else []


def _length_document(bias: LengthBias | None) -> dict[str, Any] | None:
    if bias is None:
        return None
    return {
        "baseline_score": bias.baseline.score,
        "baseline_sections": bias.baseline.sections,
        "overall": vars(bias.overall),
        "subsets": {subset: vars(figures) for subset, figures in bias.subsets.items()},
    }


def _environment() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    env = {"python": platform.python_version()}
    for package in ("rm-mlflow", "torch", "transformers", "datasets", "mlflow"):
        try:
            env[package] = version(package)
        except PackageNotFoundError:
            continue
    return env
