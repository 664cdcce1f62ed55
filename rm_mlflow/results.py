"""Writing and presenting an :class:`EvaluationReport`: results JSON, per-example parquet, a printed summary."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rm_mlflow.evaluation import EvaluationReport

RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"


def write_results(report: EvaluationReport, output_dir: Path | str, *, extra: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``results.json`` (plus ``extra`` top-level keys), ``summary.md`` and one ``<benchmark>_scores.parquet`` per benchmark."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": output_dir / RESULTS_FILE, "summary": output_dir / SUMMARY_FILE}
    document = report.to_dict() | dict(extra or {})
    paths["results"].write_text(json.dumps(document, indent=2, sort_keys=True, default=_json_default), encoding="utf-8")
    paths["summary"].write_text(format_markdown_summary(report), encoding="utf-8")
    for name, benchmark in report.benchmarks.items():
        path = output_dir / f"{name}_scores.parquet"
        benchmark.examples.assign(benchmark=name).to_parquet(path, index=False)
        paths[f"{name}_scores"] = path
    return paths


def _json_default(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def format_summary(report: EvaluationReport) -> str:
    """A human-readable summary: per-subset accuracies, section scores, final scores and throughput."""
    lines = [f"Model: {report.model.get('name')}  ({report.model.get('device')}, {report.model.get('dtype', '?')})"]
    for name, benchmark in report.benchmarks.items():
        scores = benchmark.scores
        lines.append("")
        lines.append(f"== {benchmark.title} [{name}]  ({len(benchmark.examples)} examples from {benchmark.source})")
        if benchmark.skipped:
            lines.append(f"   skipped {benchmark.skipped} invalid row(s); first: {benchmark.skipped_reasons[0]}")
        width = max((len(s) for s in scores.subsets), default=10)
        for subset, accuracy in scores.subsets.items():
            lines.append(f"  {subset:<{width}}  {accuracy:7.4f}  (n={scores.subset_counts.get(subset, 0)})")
        for section, value in scores.sections.items():
            lines.append(f"  section {section:<{max(width - 8, 1)}}  {value:7.4f}")
        if scores.score is not None:
            lines.append(f"  SCORE {name}: {scores.score:.4f}")
        else:
            stats = scores.extra
            lines.append(f"  scores only: mean {stats.get('chosen_score_mean', float('nan')):.4f}, std {stats.get('chosen_score_std', float('nan')):.4f}")
    for key, value in report.combined.items():
        lines.append(f"{key}: {value:.4f}")
    t = report.throughput
    lines.append("")
    lines.append(
        f"Throughput: {t['examples']:.0f} examples, {t['distinct_conversations']:.0f} distinct conversations "
        f"({t['cached_conversations']:.0f} from cache), {t['tokens']:.0f} tokens in {t['seconds']:.1f}s: "
        f"{t['examples_per_second']:.2f} examples/s, {t['tokens_per_second']:.0f} tokens/s"
    )
    if t["truncated_conversations"]:
        lines.append(f"Truncated: {t['truncated_conversations']:.0f} conversations ({report.settings['truncation']} side, max_length {report.settings['max_length']})")
    return "\n".join(lines)


def format_markdown_summary(report: EvaluationReport) -> str:
    """A leaderboard-style markdown summary: one headline table, then per-subset accuracies for each benchmark."""
    lines = [f"# Reward-model evaluation: {report.model.get('name')}", ""]
    lines += ["| benchmark | examples | score | sections |", "|---|---:|---:|---|"]
    for name, benchmark in report.benchmarks.items():
        scores = benchmark.scores
        sections = ", ".join(f"{section} {100 * value:.1f}" for section, value in scores.sections.items()) or "-"
        headline = f"{100 * scores.score:.1f}" if scores.score is not None else "-"
        lines.append(f"| {benchmark.title} (`{name}`) | {len(benchmark.examples)} | {headline} | {sections} |")
    for key, value in report.combined.items():
        lines.append(f"| `{key}` | | {100 * value:.1f} | |")
    for benchmark in report.benchmarks.values():
        if not benchmark.scores.subsets:
            continue
        lines += ["", f"## {benchmark.title}", "", "| subset | n | accuracy |", "|---|---:|---:|"]
        for subset, accuracy in benchmark.scores.subsets.items():
            lines.append(f"| {subset} | {benchmark.scores.subset_counts.get(subset, 0)} | {100 * accuracy:.1f} |")
    settings = report.settings
    t = report.throughput
    lines += [
        "",
        f"Scored on {report.model.get('device')} ({report.model.get('dtype', '?')}), chat template {report.model.get('chat_template', '?')}, "
        f"max_length {settings.get('max_length')}, truncation {settings.get('truncation')}: "
        f"{t['examples']:.0f} examples in {t['seconds']:.1f}s ({t['examples_per_second']:.1f} examples/s, {t['tokens_per_second']:.0f} tokens/s).",
        "",
    ]
    return "\n".join(lines)
