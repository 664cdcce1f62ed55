"""From a dataset name to validated examples: :func:`resolve_benchmark` and :func:`load_benchmark`."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rm_mlflow._registry import unknown_name_message
from rm_mlflow.data import local
from rm_mlflow.data.benchmark import BENCHMARKS, Benchmark, LoadedBenchmark
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.suites import SUITES, suite_name
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import ConversionReport
from rm_mlflow.errors import DatasetNotAvailableError, OptionError, UnknownNameError

logger = logging.getLogger(__name__)


def resolve_benchmark(spec: str) -> Benchmark:
    """A registered benchmark name, else a local preference/instruction file or folder, else a Hub dataset id."""
    if spec in BENCHMARKS:
        return BENCHMARKS.get(spec)
    path = Path(spec).expanduser()
    if path.exists() or path.is_symlink():
        local.check_data_path(path)
        return local.file_benchmark(path)
    if "/" in spec and not spec.startswith((".", "/", "~")):
        return local.hub_benchmark(spec)
    raise UnknownNameError(
        unknown_name_message("dataset", spec, BENCHMARKS.names(), hint=" (or suite:NAME, an existing file, or a Hub id like 'org/name')")
    )


def expand_suites(specs: Sequence[str | Benchmark]) -> list[str | Benchmark]:
    """``suite:NAME`` replaced by its benchmarks' names, in the suite's order; a suite member already named is not added again."""
    expanded: list[str | Benchmark] = []
    for spec in specs:
        name = suite_name(spec) if isinstance(spec, str) else None
        if name is None:
            expanded.append(spec)  # named twice on its own: resolve_benchmarks refuses it
        else:
            expanded += [member for member in SUITES.get(name).benchmarks if member not in expanded]
    return expanded


def resolve_benchmarks(specs: Sequence[str | Benchmark]) -> list[Benchmark]:
    """Resolve every spec (suites expanded); a benchmark named twice is an :class:`OptionError` (its metrics would collide)."""
    benchmarks = [resolve_benchmark(spec) if isinstance(spec, str) else spec for spec in expand_suites(specs)]
    names = [benchmark.name for benchmark in benchmarks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise OptionError(f"dataset(s) given twice or with the same name: {', '.join(duplicates)}")
    if not benchmarks:
        raise OptionError("no dataset given")
    return benchmarks


def load_benchmark(spec: str | Benchmark, options: DataOptions | None = None) -> LoadedBenchmark:
    """Load a benchmark into validated canonical examples.

    Args:
        spec: a registered benchmark name or alias, a local file or folder, a Hub dataset id, or a :class:`Benchmark`.
        options: where local copies live, split, revision, subsets, per-subset limit, and whether to skip bad rows.

    Returns:
        The examples with their source. Malformed rows raise :class:`~rm_mlflow.errors.DataValidationError`
        naming file, row and field, unless ``options.skip_invalid`` (then they are counted).
    """
    options = options or DataOptions()
    benchmark = resolve_benchmark(spec) if isinstance(spec, str) else spec
    report = ConversionReport()
    rows = benchmark.load(benchmark, options, report)
    present = rows.available_subsets if rows.available_subsets is not None else {example.subset for example in rows.examples}
    examples = _select(rows.examples, options, present=present, benchmark=benchmark.name)
    partial = "; ".join(filter(None, (rows.incomplete, _partial(benchmark, rows.examples, examples, options)))) or None
    return LoadedBenchmark(
        benchmark=benchmark,
        examples=examples,
        source=rows.source,
        split=rows.split,
        revision=rows.revision,
        skipped=report.skipped,
        skipped_reasons=report.reasons,
        partial=partial,
    )


def _partial(benchmark: Benchmark, read: list[PreferenceExample], kept: list[PreferenceExample], options: DataOptions) -> str | None:
    """Why ``kept`` is not the whole benchmark, or None: the options left examples out, or whole sections have no data."""
    reasons = [f"only --subsets {','.join(options.subsets)}"] if options.subsets else []
    available = sum(1 for example in read if not options.subsets or example.subset in options.subsets)
    if len(kept) < available:
        reasons.append(f"--limit {options.limit}: {len(kept):,} of {available:,} examples")
    present = {benchmark.section_of(example.subset) for example in kept}
    missing = [section for section in benchmark.all_sections() if section not in present]
    if missing and kept:
        reasons.append(f"no data for {', '.join(missing)}")
    return "; ".join(reasons) or None


def load_benchmarks(specs: Sequence[str | Benchmark], options: DataOptions | None = None) -> list[LoadedBenchmark]:
    """Resolve every spec first (so a typo fails before any file is read), then load each one.

    A benchmark whose data cannot be found fails the whole load with one line naming it and where to put it, or
    with ``options.skip_missing`` is left out with a warning naming it (at least one benchmark must remain).
    """
    options = options or DataOptions()
    benchmarks = resolve_benchmarks(specs)
    loaded, missing = [], []
    for benchmark in benchmarks:
        try:
            loaded.append(load_benchmark(benchmark, options))
        except DatasetNotAvailableError as error:
            named = str(error) if str(error).startswith(benchmark.name) else f"{benchmark.name}: {error}"
            if len(benchmarks) == 1:
                raise
            if not options.skip_missing:
                raise DatasetNotAvailableError(f"{named} (or pass --skip_missing to evaluate the other benchmarks without it)") from None
            missing.append(benchmark.name)
            logger.warning("skipped (--skip_missing), its data was not found: %s", named)
    if not loaded:
        raise DatasetNotAvailableError(f"no benchmark's data was found ({', '.join(missing)} skipped with --skip_missing)")
    return loaded


def _select(
    examples: list[PreferenceExample], options: DataOptions, *, present: Sequence[str] | set[str], benchmark: str
) -> list[PreferenceExample]:
    if options.subsets:
        unknown = [name for name in options.subsets if name not in present]
        if unknown:
            raise UnknownNameError(f"{benchmark}: " + unknown_name_message("subset", unknown[0], present, label="present"))
        wanted = set(options.subsets)
        examples = [example for example in examples if example.subset in wanted]
    if options.limit is not None:
        kept: dict[str, int] = defaultdict(int)
        selected = []
        for example in examples:
            if kept[example.subset] < options.limit:
                kept[example.subset] += 1
                selected.append(example)
        examples = selected
    return examples
