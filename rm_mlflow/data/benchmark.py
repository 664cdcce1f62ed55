"""The benchmark registry and the one function that loads any benchmark: :func:`load_benchmark`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rm_mlflow._registry import Registry
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import ConversionReport
from rm_mlflow.errors import UnknownNameError


@dataclass(frozen=True)
class LoadRequest:
    """What the caller asked for: where local copies live, which split/revision, how to treat bad rows."""

    data_dir: Path | None = None
    split: str | None = None
    revision: str | None = None
    skip_invalid: bool = False
    subsets: tuple[str, ...] = ()  # a loader may use this to skip reading other subsets' files


@dataclass(frozen=True)
class LoadedRows:
    examples: list[PreferenceExample]
    source: str  # a local path or an hf:// URI, for lineage
    split: str
    revision: str | None = None


LoadFunction = Callable[["Benchmark", LoadRequest, ConversionReport], LoadedRows]


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: where its data lives, how rows become examples, and how it is scored.

    ``aggregator`` names the metric aggregation in :mod:`rm_mlflow.metrics.aggregators`;
    ``correctness`` names the per-example rule (``strict``: the chosen response must beat every
    rejected one; ``shared_top``: RewardBench 2's 1/k credit for a k-way tie at the top).
    """

    name: str
    title: str
    load: LoadFunction
    aggregator: str
    hub_id: str | None = None
    default_split: str = "train"
    correctness: str = "strict"
    sections: Mapping[str, Sequence[str]] = field(default_factory=dict)
    example_counts: Mapping[str, int] = field(default_factory=dict)
    local_dirnames: tuple[str, ...] = ()
    download_hint: str = ""

    @property
    def metric_prefix(self) -> str:
        return self.name


@dataclass
class LoadedBenchmark:
    benchmark: Benchmark
    examples: list[PreferenceExample]
    source: str
    split: str
    revision: str | None
    skipped: int = 0
    skipped_reasons: list[str] = field(default_factory=list)

    def subsets(self) -> list[str]:
        return sorted({example.subset for example in self.examples})


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def register_benchmark(benchmark: Benchmark, *, aliases: tuple[str, ...] = ()) -> Benchmark:
    return BENCHMARKS.add(benchmark.name, benchmark, aliases=aliases)


def resolve_benchmark(spec: str) -> Benchmark:
    """A registered benchmark name, else a local preference/instruction file, else a Hub dataset id."""
    if spec in BENCHMARKS:
        return BENCHMARKS.get(spec)
    from rm_mlflow.data import local

    path = Path(spec).expanduser()
    if path.exists():
        return local.file_benchmark(path)
    if "/" in spec and not spec.startswith((".", "/")):
        return local.hub_benchmark(spec)
    raise UnknownNameError(
        f"unknown dataset {spec!r}: not a registered benchmark ({', '.join(BENCHMARKS.names())}), "
        "not an existing file, and not a Hub id like 'org/name'"
    )


def load_benchmark(
    spec: str | Benchmark,
    *,
    data_dir: Path | str | None = None,
    split: str | None = None,
    revision: str | None = None,
    subsets: Sequence[str] | None = None,
    limit: int | None = None,
    skip_invalid: bool = False,
) -> LoadedBenchmark:
    """Load a benchmark into canonical examples.

    ``limit`` keeps the first N examples of each subset; ``subsets`` keeps only the named ones (an
    unknown name is an error listing those present). With ``skip_invalid``, malformed rows are
    skipped and counted instead of raising :class:`~rm_mlflow.errors.DataValidationError`.
    """
    benchmark = resolve_benchmark(spec) if isinstance(spec, str) else spec
    request = LoadRequest(
        data_dir=Path(data_dir) if data_dir is not None else None,
        split=split,
        revision=revision,
        skip_invalid=skip_invalid,
        subsets=tuple(subsets or ()),
    )
    report = ConversionReport()
    rows = benchmark.load(benchmark, request, report)
    examples = _select(rows.examples, subsets=subsets, limit=limit, benchmark=benchmark.name)
    return LoadedBenchmark(
        benchmark=benchmark,
        examples=examples,
        source=rows.source,
        split=rows.split,
        revision=rows.revision,
        skipped=report.skipped,
        skipped_reasons=report.reasons,
    )


def _select(
    examples: list[PreferenceExample], *, subsets: Sequence[str] | None, limit: int | None, benchmark: str
) -> list[PreferenceExample]:
    if subsets:
        present = {example.subset for example in examples}
        unknown = [name for name in subsets if name not in present]
        if unknown:
            raise UnknownNameError(
                f"{benchmark}: unknown subset(s) {', '.join(unknown)}; present: {', '.join(sorted(present))}"
            )
        wanted = set(subsets)
        examples = [example for example in examples if example.subset in wanted]
    if limit is not None:
        kept: dict[str, int] = defaultdict(int)
        selected = []
        for example in examples:
            if kept[example.subset] < limit:
                kept[example.subset] += 1
                selected.append(example)
        examples = selected
    return examples
