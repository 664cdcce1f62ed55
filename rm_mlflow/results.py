"""Writing and presenting an :class:`EvaluationReport`: results JSON, per-example parquet, a printed summary."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rm_mlflow.errors import RmMlflowError
from rm_mlflow.evaluation import EvaluationReport

RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"
SCORES_SUFFIX = "_scores.parquet"


def write_results(report: EvaluationReport, output_dir: Path | str, *, extra: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``results.json`` (plus ``extra`` top-level keys), ``summary.md`` and one ``<benchmark>_scores.parquet`` per benchmark."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": output_dir / RESULTS_FILE, "summary": output_dir / SUMMARY_FILE}
    _write_json(paths["results"], report.to_dict() | dict(extra or {}))
    paths["summary"].write_text(format_markdown_summary(report), encoding="utf-8")
    for name, benchmark in report.benchmarks.items():
        path = output_dir / f"{name}{SCORES_SUFFIX}"
        benchmark.examples.assign(benchmark=name).to_parquet(path, index=False)
        paths[f"{name}_scores"] = path
    return paths


def update_results(output_dir: Path | str, values: Mapping[str, Any]) -> None:
    """Add top-level keys (the gate's outcome, ...) to a folder's ``results.json``."""
    path = Path(output_dir) / RESULTS_FILE
    _write_json(path, read_results(path) | dict(values))


def read_results(path: Path | str) -> dict[str, Any]:
    """A ``results.json`` document; a missing or unreadable file is one clear error."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RmMlflowError(f"{path}: no such results file (is it a folder written by `rm-mlflow evaluate`?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RmMlflowError(f"{path}: not a readable results JSON: {error}") from None


def scores_table(output_dir: Path | str, benchmark: str) -> pd.DataFrame:
    """The per-example table of one benchmark, as written next to ``results.json``."""
    path = Path(output_dir) / f"{benchmark}{SCORES_SUFFIX}"
    if not path.is_file():
        raise RmMlflowError(f"{path}: missing; the results folder is incomplete")
    return pd.read_parquet(path)


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write through a temporary file and rename, so a kill never leaves half a results file."""
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(_without_nan(document), indent=2, sort_keys=True, default=_json_default, allow_nan=False), encoding="utf-8")
    temporary.replace(path)


def _without_nan(value: Any) -> Any:
    """NaN (a figure that does not apply, e.g. examples/s of a resumed run) as JSON null: NaN is not JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(item) for item in value]
    return value


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
            lines.append(f"  {subset:<{width}}  {accuracy:7.4f}{_interval(scores, f'subset/{subset}')}  (n={scores.subset_counts.get(subset, 0)})")
        for section, value in scores.sections.items():
            lines.append(f"  section {section:<{max(width - 8, 1)}}  {value:7.4f}{_interval(scores, f'section/{section}')}")
        if scores.score is not None:
            lines.append(f"  SCORE {name}: {scores.score:.4f}{_interval(scores, 'score')}")
        if scores.intervals:
            level = next(iter(scores.intervals.values())).level
            lines.append(f"  [intervals: {100 * level:.0f}% percentile bootstrap, resampling examples within subsets]")
        lines.extend(f"  {note}" for note in benchmark.notes)
        lines.extend(f"  WARNING: {warning}" for warning in benchmark.warnings)
        if benchmark.length_bias is not None:
            lines.append(f"  length: {length_line(benchmark.length_bias)}")
        else:
            stats = scores.extra
            mean, std = stats.get("chosen_score_mean", float("nan")), stats.get("chosen_score_std", float("nan"))
            lines.append(f"  scores only: mean {mean:.4f}, std {std:.4f}")
    for key, value in report.combined.items():
        lines.append(f"{key}: {value:.4f}")
    t = report.throughput
    lines.append("")
    lines.append(f"Throughput: {throughput_line(t)}")
    if t["truncated_conversations"]:
        side, limit = report.settings["truncation"], report.settings["max_length"]
        lines.append(f"Truncated: {t['truncated_conversations']:.0f} conversations ({side} side, max_length {limit})")
    return "\n".join(lines)


def _interval(scores: Any, key: str, scale: float = 1.0, digits: int = 4) -> str:
    interval = scores.intervals.get(key)
    return "" if interval is None else f"  [{scale * interval.low:.{digits}f}, {scale * interval.high:.{digits}f}]"


def length_line(bias: Any) -> str:
    """The length figures in one line."""
    overall = bias.overall
    baseline = "-" if bias.baseline.score is None else f"{bias.baseline.score:.4f}"
    return (
        f"longer-answer baseline scores {baseline}; accuracy where chosen is longer {overall.accuracy_chosen_longer:.4f} "
        f"(n={overall.examples_chosen_longer}), shorter {overall.accuracy_chosen_shorter:.4f} (n={overall.examples_chosen_shorter}); "
        f"score-length Spearman {overall.score_length_spearman:+.3f}"
    )


def throughput_line(t: Mapping[str, float]) -> str:
    """Work done by this run and its rate; scores an interrupted earlier run left in the cache are counted apart."""
    computed = t.get("computed_tokens", t["scored_tokens"])
    shared = f", {computed:.0f} computed" if computed < t["scored_tokens"] else ""
    line = (
        f"{t['examples']:.0f} examples, {t['distinct_conversations']:.0f} distinct conversations; "
        f"{t['scored_conversations']:.0f} scored now ({t['scored_tokens']:.0f} tokens{shared}) in {t['seconds']:.1f}s: "
        f"{t['conversations_per_second']:.2f} conversations/s, {t['tokens_per_second']:.0f} tokens/s"
    )
    if t["cached_conversations"]:
        return line + f"; resumed ({t['cached_conversations']:.0f} from cache), {100 * t['cached_share']:.0f}% of the distinct conversations"
    return line + f", {t['examples_per_second']:.2f} examples/s"


def format_markdown_summary(report: EvaluationReport) -> str:
    """A leaderboard-style markdown summary: one headline table, then per-subset accuracies for each benchmark."""
    lines = [f"# Reward-model evaluation: {report.model.get('name')}", ""]
    lines += ["| benchmark | examples | score | sections |", "|---|---:|---:|---|"]
    for name, benchmark in report.benchmarks.items():
        scores = benchmark.scores
        sections = ", ".join(f"{section} {100 * value:.1f}" for section, value in scores.sections.items()) or "-"
        headline = f"{100 * scores.score:.1f}{_interval(scores, 'score', 100, 1)}" if scores.score is not None else "-"
        lines.append(f"| {benchmark.title} (`{name}`) | {len(benchmark.examples)} | {headline} | {sections} |")
    for key, value in report.combined.items():
        lines.append(f"| `{key}` | | {100 * value:.1f} | |")
    for benchmark in report.benchmarks.values():
        if not benchmark.scores.subsets:
            continue
        scores = benchmark.scores
        lines += ["", f"## {benchmark.title}", "", "| subset | n | accuracy | interval |", "|---|---:|---:|---|"]
        for subset, accuracy in scores.subsets.items():
            interval = _interval(scores, f"subset/{subset}", 100, 1).strip()
            lines.append(f"| {subset} | {scores.subset_counts.get(subset, 0)} | {100 * accuracy:.1f} | {interval} |")
        for section, value in scores.sections.items():
            lines.append(f"| **{section}** | | {100 * value:.1f} | {_interval(scores, f'section/{section}', 100, 1).strip()} |")
        if benchmark.length_bias is not None:
            lines += ["", f"Length: {length_line(benchmark.length_bias)}."]
        lines += [f"{note[0].upper()}{note[1:]}." for note in benchmark.notes] + [f"**Warning:** {warning}" for warning in benchmark.warnings]
    settings = report.settings
    t = report.throughput
    lines += [
        "",
        f"Scored on {report.model.get('device')} ({report.model.get('dtype', '?')}), chat template {report.model.get('chat_template', '?')}, "
        f"max_length {settings.get('max_length')}, truncation {settings.get('truncation')}: "
        f"{throughput_line(t)}.",
        "",
    ]
    return "\n".join(lines)
