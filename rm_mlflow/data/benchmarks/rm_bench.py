"""RM-Bench (Liu et al., ICLR 2025): does a reward model prefer substance over style?

Each row has three chosen and three rejected responses, each in the styles concise, detailed plain text and
detailed markdown. Upstream (github.com/THU-KEG/RM-Bench, ``scripts/utils.py`` ``compute_accuracy`` and
``split_dataset_by_domain``): per domain a 3x3 matrix ``M[i][j]`` = share of rows where chosen ``i`` scores
strictly above rejected ``j`` (a tie is wrong); hard = mean of the cells above the diagonal (a plainer correct
answer against a fancier wrong one), normal = mean of the diagonal, easy = mean of the cells below it; a
domain's score is the mean of its hard, normal and easy; the domains are chat, math, code and safety (both
safety files are one domain, by ``startswith``); overall hard/normal/easy and the score (upstream's
``total_avg_acc``) are means over the domains. The figures here are computed with upstream's own numpy
operations, in its order, so they equal its output bit for bit.

A score over fewer than the four domains (a copy without the math file) says so: the benchmark is marked
partial with the domains it covers, and the model card does not present it as RM-Bench's score.

Local copies: the per-domain files ``{chat,math,code,safety-refuse,safety-response}_filtered.json`` (the domain
is the file) or ``total_dataset.json`` (rows with ``domain``) in an ``rm-bench/`` folder; else the Hub set
``THU-KEG/RM-Bench``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from rm_mlflow.data.benchmark import Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.hosted import download_hint
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, hub_rows, read_rows
from rm_mlflow.data.types import RATE_EACH_ANSWER, ChatMessage, PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, outcome_accuracies

HUB_ID = "THU-KEG/RM-Bench"
DOMAINS = ("chat", "math", "code", "safety")
DOMAIN_FILES = ("chat", "math", "code", "safety-refuse", "safety-response")
STYLES = ("concise", "detailed plain text", "detailed markdown")
SIZE = len(STYLES)


def domain_of(subset: str) -> str:
    """The domain a file (or a row's ``domain``) belongs to, as upstream's ``startswith``: ``safety-refuse`` -> ``safety``."""
    return next((domain for domain in DOMAINS if subset.startswith(domain)), subset)


def _styled(row: Row, field: str) -> tuple[str, ...]:
    responses = row.texts(field)
    if len(responses) != SIZE:
        raise row.error(field, f"expected {SIZE} responses ({', '.join(STYLES)}), got {len(responses)}")
    return responses


def convert_row(row: Row, domain_file: str | None) -> PreferenceExample:
    """One row: ``id``, ``prompt``, ``subset``, and ``chosen``/``rejected`` with three styled responses each."""
    subset = domain_file or row.text("domain")
    return PreferenceExample(
        id=f"{subset}:{row.raw('id')}",  # ids repeat across the domain files
        subset=subset,
        prompt=(ChatMessage(role="user", content=row.text("prompt")),),
        chosen=_styled(row, "chosen"),
        rejected=_styled(row, "rejected"),
        # the matrix needs a score per response: a generative judge rates each one
        metadata={"source_subset": row.data.get("subset"), RATE_EACH_ANSWER: "standard"},
    )


def _sources(root: Path | None, benchmark: Benchmark, options: DataOptions) -> tuple[list[tuple[Iterable[Row], str | None]], str]:
    """(rows, domain file) per source: the domain files present, else ``total_dataset.json``, else the Hub split."""
    if root is None:
        split = options.split or benchmark.default_split
        return [(hub_rows(HUB_ID, split, options.revision, hint=benchmark.download_hint), None)], f"hf://datasets/{HUB_ID}"
    files = [name for name in DOMAIN_FILES if (root / f"{name}_filtered.json").is_file()]
    if not files and (root / "total_dataset.json").is_file():
        return [(read_rows(root / "total_dataset.json"), None)], str(root)
    wanted = [name for name in files if not options.subsets or name in options.subsets]
    return [(read_rows(root / f"{name}_filtered.json"), name) for name in wanted], str(root)


def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """Every domain file present (or ``total_dataset.json``, or the Hub split); each file is a subset, each domain a section."""
    sources, source = _sources(find_local_copy(options.data_path, benchmark.local_dirnames), benchmark, options)
    examples = []
    for rows, domain_file in sources:
        examples += convert_rows(rows, partial(convert_row, domain_file=domain_file), skip_invalid=options.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=source, split=options.split or benchmark.default_split, revision=options.revision)


def nine_way_share(chosen: Sequence[float], rejected: Sequence[float]) -> float:
    """An example's credit: the share of its 9 (chosen, rejected) comparisons won strictly (a domain's score is their mean)."""
    return sum(c > r for c in chosen for r in rejected) / (len(chosen) * len(rejected))


def style_matrix(outcomes: Sequence[ExampleOutcome]) -> np.ndarray:
    """``M[i][j]``: the share of rows where chosen style ``i`` scores strictly above rejected style ``j`` (upstream's loop)."""
    matrix = np.zeros((SIZE, SIZE))
    for outcome in outcomes:
        for i in range(len(outcome.chosen_scores)):
            for j in range(len(outcome.rejected_scores)):
                if outcome.chosen_scores[i] > outcome.rejected_scores[j]:
                    matrix[i][j] += 1
    matrix /= len(outcomes)
    return matrix


def difficulty(matrix: np.ndarray) -> dict[str, float]:
    """Hard (above the diagonal), normal (the diagonal) and easy (below it), as upstream's ``compute_accuracy``."""
    off_diagonal = SIZE * (SIZE - 1) / 2
    return {
        "hard": float(np.sum(np.triu(matrix, 1)) / off_diagonal),
        "normal": float(np.mean(np.diag(matrix))),
        "easy": float(np.sum(np.tril(matrix, -1)) / off_diagonal),
    }


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Per domain the 3x3 matrix, hard/normal/easy and its score; overall hard/normal/easy and the mean of the domain scores."""
    by_domain: dict[str, list[ExampleOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_domain[domain_of(outcome.subset)].append(outcome)
    present = [domain for domain in DOMAINS if by_domain.get(domain)]
    sections, levels, extra = {}, {}, {}
    for domain in present:
        matrix = style_matrix(by_domain[domain])
        levels[domain] = difficulty(matrix)
        sections[domain] = float(np.mean(list(levels[domain].values())))
        extra |= {f"{domain}/{level}": value for level, value in levels[domain].items()}
        extra |= {f"{domain}/matrix/{i}{j}": float(matrix[i][j]) for i in range(SIZE) for j in range(SIZE)}
    for level in ("hard", "normal", "easy"):
        if present:
            extra[level] = float(np.mean([levels[domain][level] for domain in present]))
    score = float(np.mean([sections[domain] for domain in present])) if present else float("nan")
    return BenchmarkScores(score=score, subsets=outcome_accuracies(outcomes), sections=sections, extra=extra)


RM_BENCH = register_benchmark(
    Benchmark(
        name="rm-bench",
        title="RM-Bench",
        load=load,
        aggregate=aggregate,
        correctness=nine_way_share,
        hub_id=HUB_ID,
        default_split="train",
        section_rule=domain_of,
        section_names=DOMAINS,
        local_dirnames=("rm-bench", "RM-Bench", "rm_bench"),
        local_layout="{chat,math,code,safety-refuse,safety-response}_filtered.json, or total_dataset.json",
        download_hint=download_hint(HUB_ID, "rm-bench"),
    ),
    aliases=(HUB_ID, "rmbench"),
)
