"""Two evaluations of the same examples, compared: paired bootstrap differences per figure, and the examples that flipped.

Each side is a results folder (``results.json`` and ``<benchmark>_scores.parquet``, as every evaluation
writes and logs them under ``rm_eval/``). Differences are *candidate minus baseline*; resampling uses the
benchmark's own aggregation and clusters (:mod:`rm_mlflow.metrics.intervals`), on the examples both
evaluations scored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rm_mlflow.data.benchmark import BENCHMARKS, Benchmark
from rm_mlflow.data.local import aggregate as preference_aggregate
from rm_mlflow.errors import RmMlflowError
from rm_mlflow.metrics.intervals import DEFAULT_LEVEL, DEFAULT_RESAMPLES, Difference, paired_difference
from rm_mlflow.metrics.outcomes import ExampleOutcome, metric_slug
from rm_mlflow.results import Results, ResultsDocument
from rm_mlflow.scoring.settings import number_changing_keys

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkComparison:
    """One benchmark in both evaluations."""

    name: str
    shared_examples: int
    differences: dict[str, Difference]
    flipped: pd.DataFrame  # id, subset, baseline/candidate correct and margins, for examples whose correctness changed


@dataclass
class Comparison:
    """Candidate vs baseline over every benchmark both evaluated."""

    baseline: str
    candidate: str
    benchmarks: dict[str, BenchmarkComparison] = field(default_factory=dict)
    level: float = DEFAULT_LEVEL
    resamples: int = DEFAULT_RESAMPLES

    def metrics(self) -> dict[str, float]:
        """``compare/<benchmark>/<figure>/delta|ci_low|ci_high|p_better`` and flip counts, as MLflow metrics."""
        values: dict[str, float] = {}
        for name, benchmark in self.benchmarks.items():
            for figure, difference in benchmark.differences.items():
                base = f"compare/{name}/{figure}"
                values |= {f"{base}/delta": difference.delta, f"{base}/ci_low": difference.low, f"{base}/ci_high": difference.high,
                           f"{base}/p_better": difference.probability_better}
            flipped = benchmark.flipped
            values[f"compare/{name}/flipped_to_correct"] = float((flipped["candidate_correct"] > flipped["baseline_correct"]).sum())
            values[f"compare/{name}/flipped_to_wrong"] = float((flipped["candidate_correct"] < flipped["baseline_correct"]).sum())
        return {key: value for key, value in values.items() if not math.isnan(value)}

    def table(self) -> pd.DataFrame:
        """One row per benchmark and figure."""
        rows = [
            {"benchmark": name, "figure": figure, "delta": d.delta, "ci_low": d.low, "ci_high": d.high, "p_better": d.probability_better}
            for name, benchmark in self.benchmarks.items() for figure, d in benchmark.differences.items()
        ]
        return pd.DataFrame(rows)


def benchmark_for(name: str) -> Benchmark | None:
    """The registered benchmark of that name (None for a local file or DataFrame set, aggregated as plain preference data)."""
    return BENCHMARKS.get(name) if name in BENCHMARKS else None


def outcomes_from_table(table: pd.DataFrame) -> list[ExampleOutcome]:
    """The scored examples of a per-example table, as the aggregation takes them."""
    has_votes = "votes" in table.columns
    return [
        ExampleOutcome(
            id=str(row.id), subset=str(row.subset), chosen_scores=tuple(np.asarray(row.chosen_scores, dtype=float).tolist()),
            rejected_scores=tuple(np.asarray(row.rejected_scores, dtype=float).tolist()),
            correct=None if row.correct is None or (isinstance(row.correct, float) and math.isnan(row.correct)) else float(row.correct),
            votes=tuple(int(vote) for vote in row.votes) if has_votes else (),
        )
        for row in table.itertuples()
    ]


def compare_folders(
    baseline: Path | str | Results, candidate: Path | str | Results, *, resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
    seed: int = 0, labels: tuple[str, str] | None = None,
) -> Comparison:
    """Compare two evaluations benchmark by benchmark (those both evaluated): results folders, or :class:`Results` in memory."""
    base, cand = (side if isinstance(side, Results) else Results.read(side) for side in (baseline, candidate))
    shared = [name for name in cand.document.benchmarks if name in base.document.benchmarks]
    if not shared:
        raise RmMlflowError(f"{_label(baseline)} and {_label(candidate)} evaluated no benchmark in common "
                            f"({', '.join(base.document.benchmarks)} vs {', '.join(cand.document.benchmarks)})")
    check_comparable(base.document, cand.document, shared)
    names = labels or (str(base.document.model.get("name")), str(cand.document.model.get("name")))
    comparison = Comparison(baseline=names[0], candidate=names[1], level=level, resamples=resamples)
    for name in shared:
        benchmark = benchmark_for(name)
        aggregate = benchmark.aggregate if benchmark else preference_aggregate
        cluster = {"cluster_of": benchmark.cluster_of} if benchmark else {}
        base_table, cand_table = base.table(name), cand.table(name)
        differences = paired_difference(outcomes_from_table(cand_table), outcomes_from_table(base_table), aggregate,
                                        resamples=resamples, level=level, seed=seed, **cluster)
        joined = base_table[["id", "subset", "correct", "margin"]].merge(
            cand_table[["id", "subset", "correct", "margin"]], on=["id", "subset"], suffixes=("_baseline", "_candidate"))
        joined = joined.rename(columns={"correct_baseline": "baseline_correct", "correct_candidate": "candidate_correct",
                                        "margin_baseline": "baseline_margin", "margin_candidate": "candidate_margin"})
        flipped = joined[joined["baseline_correct"].notna() & (joined["baseline_correct"] != joined["candidate_correct"])]
        comparison.benchmarks[name] = BenchmarkComparison(name, len(joined), differences, flipped.reset_index(drop=True))
    return comparison


def check_comparable(baseline: ResultsDocument, candidate: ResultsDocument, benchmarks: list[str]) -> None:
    """Refuse, in one line, evaluations of different data; warn when they prompted or read the models differently.

    Data is compared by the content digest of the scored examples (one changed row changes it); documents written
    before digests were recorded are compared as they are.
    """
    for name in benchmarks:
        before, after = baseline.benchmarks[name].digest, candidate.benchmarks[name].digest
        if before and after and before != after:
            raise RmMlflowError(
                f"{name}: the two evaluations scored different data (content digest {before} vs {after}: another file, revision, "
                "--limit or --subsets); evaluate both on the same rows to compare them"
            )
    templates = [(document.fingerprint or {}).get("chat_template") for document in (baseline, candidate)]
    if all(templates) and templates[0] != templates[1]:
        logger.warning("the two evaluations formatted conversations with different chat templates (digest %s vs %s): "
                       "their scores are each model under its own template", *templates)
    keys = number_changing_keys()
    differing = sorted(key for key in keys & set(baseline.settings) & set(candidate.settings) if baseline.settings[key] != candidate.settings[key])
    if differing:
        logger.warning("the two evaluations differ in settings that change scores: %s",
                       "; ".join(f"{key} {baseline.settings[key]!r} vs {candidate.settings[key]!r}" for key in differing))


def _label(side: Path | str | Results) -> str:
    return f"model {side.document.model.get('name')}" if isinstance(side, Results) else str(side)


def format_comparison(comparison: Comparison, *, flips: int = 10, all_subsets: bool = False) -> str:
    """The headline first and last; per benchmark its score and sections, the subsets where examples flipped, the first flips.

    ``all_subsets`` lists every subset. A difference that is exactly zero in every resample reads ``tie``.
    """
    pct = round(100 * comparison.level)
    headline = _headline(comparison)
    lines = [f"Candidate {comparison.candidate} vs baseline {comparison.baseline} ({comparison.resamples} paired resamples, {pct}% intervals)",
             *headline]
    for name, benchmark in comparison.benchmarks.items():
        flipped_subsets = set(benchmark.flipped["subset"].astype(str)) if len(benchmark.flipped) else set()
        shown = {figure: d for figure, d in benchmark.differences.items()
                 if not figure.startswith("subset/") or all_subsets or figure.removeprefix("subset/") in flipped_subsets}
        hidden = len(benchmark.differences) - len(shown)
        lines += ["", f"== {name} ({benchmark.shared_examples} examples in both)"]
        width = max((len(figure) for figure in shown), default=10)
        lines.append(f"  {'figure':<{width}}  {'delta':>8}  {'interval':>19}  {'P(better)':>9}")
        lines += [f"  {figure:<{width}}  {_difference_cells(d)}" for figure, d in shown.items()]
        if hidden:
            lines.append(f"  ({hidden} subset(s) without a flipped example not shown; --all_subsets shows them)")
        better = benchmark.flipped[benchmark.flipped["candidate_correct"] > benchmark.flipped["baseline_correct"]]
        worse = benchmark.flipped[benchmark.flipped["candidate_correct"] < benchmark.flipped["baseline_correct"]]
        lines.append(f"  flipped: {len(better)} now correct, {len(worse)} now wrong")
        for label, part in (("now correct", better), ("now wrong", worse)):
            for row in part.head(flips).itertuples():
                lines.append(f"    {label:<11} {row.subset} id {row.id}: margin {row.baseline_margin:+.4f} -> {row.candidate_margin:+.4f}")
    return "\n".join([*lines, "", *headline])


def _headline(comparison: Comparison) -> list[str]:
    """One line per benchmark: its score's difference (or, without a score, that there is none to compare)."""
    lines = []
    for name, benchmark in comparison.benchmarks.items():
        score = benchmark.differences.get("score")
        flipped = benchmark.flipped
        now_correct = int((flipped["candidate_correct"] > flipped["baseline_correct"]).sum())
        now_wrong = int((flipped["candidate_correct"] < flipped["baseline_correct"]).sum())
        summary = f"{name}/score {_difference_cells(score, compact=True)}" if score is not None else f"{name}: no headline score"
        lines.append(f"HEADLINE {summary}; {now_correct} now correct, {now_wrong} now wrong")
    return lines


def _difference_cells(d: Difference, *, compact: bool = False) -> str:
    """``delta [low, high] P(better)``, or ``tie`` where the two evaluations agree in every resample."""
    if d.delta == 0 and d.low == 0 and d.high == 0:
        return "tie (identical on every resample)" if compact else f"{0:>+8.4f}  {'[+0.0000, +0.0000]':>19}  {'tie':>9}"
    if compact:
        return f"{d.delta:+.4f} [{d.low:+.4f}, {d.high:+.4f}], P(better) {d.probability_better:.3f}"
    return f"{d.delta:>+8.4f}  [{d.low:>+8.4f}, {d.high:>+8.4f}]  {d.probability_better:>9.3f}"


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """The comparison as ``comparison.json``."""
    return {
        "baseline": comparison.baseline, "candidate": comparison.candidate, "level": comparison.level, "resamples": comparison.resamples,
        "benchmarks": {
            name: {"shared_examples": b.shared_examples,
                   "differences": {figure: vars(d) for figure, d in b.differences.items()},
                   "flipped": b.flipped.to_dict(orient="records")}
            for name, b in comparison.benchmarks.items()
        },
    }


def probability_better(comparison: Comparison, metric: str) -> Mapping[str, float] | None:
    """``{"delta", "ci_low", "ci_high", "p_better"}`` of a run metric name (``rewardbench/score``), or None when it was not compared."""
    name, _, figure = metric.partition("/")
    benchmark = comparison.benchmarks.get(name)
    if benchmark is None:
        return None
    for key, d in benchmark.differences.items():
        kind, _, item = key.partition("/")
        if figure in (key, key if key == "score" else f"{kind}/{metric_slug(item)}"):
            return {"delta": d.delta, "ci_low": d.low, "ci_high": d.high, "p_better": d.probability_better}
    return None
