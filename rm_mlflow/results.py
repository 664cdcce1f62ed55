"""Writing and presenting an :class:`EvaluationReport`: results JSON, per-example parquet, a printed summary."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rm_mlflow.evaluation import EvaluationReport

RESULTS_FILE = "results.json"


def write_results(report: EvaluationReport, output_dir: Path | str) -> dict[str, Path]:
    """Write ``results.json`` and one ``<benchmark>_scores.parquet`` per benchmark; returns the paths written."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": output_dir / RESULTS_FILE}
    paths["results"].write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=_json_default), encoding="utf-8")
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
