"""PNG plots of an evaluation: per-subset accuracy, margins by section, response length vs score, and calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rm_mlflow.benchmarking import BenchmarkReport, EvaluationReport


def write_plots(report: EvaluationReport, output_dir: Path | str) -> list[Path]:
    """Write the plots for every benchmark into ``output_dir``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, benchmark in report.benchmarks.items():
        if benchmark.examples.empty:
            continue
        if _language_scores(benchmark):  # one bar per language, in place of one per (language, subset)
            written.append(_per_language(benchmark, output_dir / f"{name}_languages.png"))
        elif benchmark.scores.subsets and len(benchmark.scores.subsets) <= MAX_SUBSET_BARS:
            written.append(_subset_accuracy(benchmark, output_dir / f"{name}_subset_accuracy.png"))
        if benchmark.examples["margin"].notna().any():
            written.append(_margins(benchmark, output_dir / f"{name}_margins.png"))
        written.append(_length_vs_score(benchmark, output_dir / f"{name}_length_vs_score.png"))
        if benchmark.calibration is not None:
            written.append(_reliability(benchmark, output_dir / f"{name}_calibration.png"))
    return written + write_length_plots(report, output_dir)


MAX_SUBSET_BARS = 150  # past this one bar per subset is an unreadable (and many-megapixel) picture


def _language_scores(benchmark: BenchmarkReport) -> dict[str, float]:
    """Per-language scores, for benchmarks that report them (``language/<code>`` figures)."""
    return {key.removeprefix("language/"): value for key, value in benchmark.scores.extra.items()
            if key.startswith("language/") and key.count("/") == 1}


def _per_language(benchmark: BenchmarkReport, path: Path) -> Path:
    scores = _language_scores(benchmark)
    ranked = dict(sorted(scores.items(), key=lambda item: item[1], reverse=True))
    return _bars(ranked, path, title=f"{benchmark.title}: score per language", label="score", average=benchmark.scores.score)


def _subset_accuracy(benchmark: BenchmarkReport, path: Path) -> Path:
    return _bars(benchmark.scores.subsets, path, title=f"{benchmark.title}: accuracy per subset", label="accuracy")


def _bars(values: dict[str, float], path: Path, *, title: str, label: str, average: float | None = None) -> Path:
    """One horizontal bar per entry on a 0-1 axis, chance (0.5) dashed and, when given, the average as a line."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, max(2.5, 0.28 * len(values) + 1)))
    axes.barh(list(values), list(values.values()), color="#4c72b0")
    if average is not None:
        axes.axvline(average, color="black", linewidth=0.8, label=f"average {average:.3f}")
        axes.legend(fontsize="small")
    axes.axvline(0.5, color="grey", linestyle="--", linewidth=0.8)
    axes.set_xlim(0, 1)
    axes.invert_yaxis()
    axes.set_xlabel(label)
    axes.set_title(title)
    return _save(figure, path)


def _margins(benchmark: BenchmarkReport, path: Path) -> Path:
    import matplotlib.pyplot as plt

    frame = benchmark.examples.dropna(subset=["margin"])
    groups = frame.groupby(frame["section"].fillna("all") if "section" in frame else pd.Series("all", index=frame.index))
    figure, axes = plt.subplots(figsize=(8, 4))
    for section, part in groups:
        axes.hist(part["margin"].astype(float), bins=30, alpha=0.5, label=f"{section} (n={len(part)})")
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("min chosen score - max rejected score")
    axes.set_ylabel("examples")
    axes.set_title(f"{benchmark.title}: margin by section")
    axes.legend(fontsize="small")
    return _save(figure, path)


def _length_vs_score(benchmark: BenchmarkReport, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for role, color in (("chosen", "#55a868"), ("rejected", "#c44e52")):
        # only rows with one token count per score: a pairwise kind's units are comparisons, not responses
        pairs = [
            (float(tokens), float(score))
            for row_tokens, row_scores in zip(benchmark.examples[f"{role}_tokens"], benchmark.examples[f"{role}_scores"], strict=True)
            if len(row_tokens) == len(row_scores)
            for tokens, score in zip(row_tokens, row_scores, strict=True)
        ]
        if pairs:
            axes.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=6, alpha=0.5, color=color, label=role)
    axes.set_xlabel("conversation length (tokens)")
    axes.set_ylabel("reward")
    axes.set_title(f"{benchmark.title}: length vs score")
    axes.legend(fontsize="small")
    return _save(figure, path)


def _reliability(benchmark: BenchmarkReport, path: Path) -> Path:
    """The reliability diagram (observed share preferred against sigmoid(margin), per bin) and the margins of right and wrong pairs."""
    import matplotlib.pyplot as plt

    figures = benchmark.calibration
    assert figures is not None
    figure, (diagram, margins) = plt.subplots(1, 2, figsize=(10, 4))
    bins = figures.reliability
    diagram.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfectly calibrated")
    diagram.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["observed"] for b in bins], width=0.09, color="#4c72b0", alpha=0.7,
                label="observed")
    diagram.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], "o", color="#c44e52", label="mean prediction")
    diagram.set_xlim(0, 1)
    diagram.set_ylim(0, 1)
    diagram.set_xlabel("sigmoid(margin)")
    diagram.set_ylabel("share preferred")
    diagram.set_title(f"reliability: ECE {figures.ece:.4f}, Brier {figures.brier:.4f}", fontsize="small")
    diagram.legend(fontsize="small")
    pairs = benchmark.examples[(benchmark.examples["chosen_scores"].map(len) == 1) & (benchmark.examples["rejected_scores"].map(len) == 1)]
    pairs = pairs.dropna(subset=["margin", "correct"])
    for label, part, color in (("ranked right", pairs[pairs["correct"] > 0], "#55a868"), ("ranked wrong", pairs[pairs["correct"] <= 0], "#c44e52")):
        if len(part):
            margins.hist(part["margin"].astype(float), bins=30, alpha=0.5, color=color, label=f"{label} (n={len(part)})")
    margins.axvline(0.0, color="black", linewidth=0.8)
    margins.set_xlabel("chosen score - rejected score")
    margins.set_ylabel("pairs")
    margins.legend(fontsize="small")
    figure.suptitle(f"{benchmark.title}: calibration over {figures.pairs} pairs")
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_comparison_plot(comparison: Any, output_dir: Path | str) -> list[Path]:
    """One PNG per benchmark: candidate minus baseline for each figure, with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, benchmark in comparison.benchmarks.items():
        figures = list(benchmark.differences)
        if not figures:
            continue
        deltas = [benchmark.differences[f].delta for f in figures]
        lows = [benchmark.differences[f].delta - benchmark.differences[f].low for f in figures]
        highs = [benchmark.differences[f].high - benchmark.differences[f].delta for f in figures]
        figure, axes = plt.subplots(figsize=(8, max(2.5, 0.28 * len(figures) + 1)))
        axes.errorbar(deltas, range(len(figures)), xerr=[lows, highs], fmt="o", color="#4c72b0", ecolor="#8fa8d0", capsize=2)
        axes.axvline(0.0, color="grey", linestyle="--", linewidth=0.8)
        axes.set_yticks(range(len(figures)), figures, fontsize="small")
        axes.invert_yaxis()
        axes.set_xlabel(f"candidate - baseline ({100 * comparison.level:.0f}% paired bootstrap)")
        axes.set_title(f"{name}: {comparison.candidate} vs {comparison.baseline}", fontsize="small")
        written.append(_save(figure, Path(output_dir) / f"{name}_comparison.png"))
    return written


def write_length_plots(report: EvaluationReport, output_dir: Path | str) -> list[Path]:
    """Per benchmark: each subset's accuracy next to the longer-answer baseline's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, benchmark in report.benchmarks.items():
        bias = benchmark.length_bias
        if bias is None or not bias.subsets:
            continue
        subsets = list(bias.subsets)
        positions = range(len(subsets))
        figure, axes = plt.subplots(figsize=(8, max(2.5, 0.32 * len(subsets) + 1)))
        axes.barh([p - 0.2 for p in positions], [benchmark.scores.subsets.get(s, float("nan")) for s in subsets], height=0.4,
                  color="#4c72b0", label="model")
        axes.barh([p + 0.2 for p in positions], [bias.subsets[s].baseline_accuracy for s in subsets], height=0.4, color="#dd8452",
                  label="longer answer wins")
        axes.set_yticks(list(positions), subsets, fontsize="small")
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.set_xlabel("accuracy")
        axes.set_title(f"{benchmark.title}: model vs length-only baseline")
        axes.legend(fontsize="small")
        written.append(_save(figure, Path(output_dir) / f"{name}_length_bias.png"))
    return written
