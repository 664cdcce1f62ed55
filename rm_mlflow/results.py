"""Writing and presenting an :class:`EvaluationReport`: results JSON, per-example parquet, a printed summary.

A results folder is complete or it is refused. Every file is written to a temporary name and renamed
into place; :data:`MANIFEST_FILE`, listing each file's size and sha256, is removed before the first file
is written and written last. Every reader checks the manifest (:func:`check_complete`), so a folder left
by a full disk or a kill mid-write (a ``results.json`` beside a truncated parquet, say) is never taken
for a finished evaluation. Any ``OSError`` on these files is one :class:`~rm_mlflow.errors.OutputError`
naming the path and errno; the score cache beside them keeps what was scored, so a rerun resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from rm_mlflow.benchmarking import EvaluationReport
from rm_mlflow.errors import IncompleteResultsError, OptionError, OutputError, RmMlflowError
from rm_mlflow.metrics.calibration import Calibration

RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"
SCORES_SUFFIX = "_scores.parquet"
MANIFEST_FILE = "manifest.json"
MAX_SUBSET_LINES = 30  # RMB has 88 scenarios: past this, the printed summary keeps sections and scores
_KEPT = "the scores computed so far are kept in the folder's score cache; free the space and rerun the same command to resume"


@dataclass(frozen=True)
class BenchmarkResults:
    """One benchmark's figures in ``results.json``: where its data came from, its scores and intervals, and what was noted."""

    title: str
    source: str
    split: str
    revision: str | None
    score: float | None
    sections: dict[str, float]
    subsets: dict[str, float]
    subset_counts: dict[str, int]
    extra: dict[str, float | None]
    num_examples: int
    skipped_invalid: int
    skipped_reasons: list[str]
    intervals: dict[str, list[float]]
    interval_level: float | None
    length_bias: dict[str, Any] | None
    calibration: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partial: str | None = None  # not the whole benchmark: why (its score is not the benchmark's score)
    digest: str | None = None  # the scored examples' content digest; evaluations of different data are not compared


@dataclass(frozen=True)
class ResultsDocument:
    """``results.json``, typed: written once by :func:`write_results`, read by :func:`read_results` and by nothing else.

    ``reference`` is the evaluated model reference (:meth:`ModelReference.as_dict`), ``gate`` the promotion
    gate's outcome when one was checked: both are part of the document before it is written.
    """

    model: dict[str, Any]
    settings: dict[str, Any]
    benchmarks: dict[str, BenchmarkResults]
    combined: dict[str, float]
    throughput: dict[str, float | None]
    environment: dict[str, str]
    metrics: dict[str, float | None]
    fingerprint: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, str]] = field(default_factory=list)
    reference: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    evaluated_at: str | None = None  # ISO-8601 UTC; absent from documents written before it was recorded

    @classmethod
    def from_report(cls, report: EvaluationReport, *, reference: Mapping[str, Any] | None = None,
                    gate: Mapping[str, Any] | None = None) -> ResultsDocument:
        """The document of a report (the one place its keys are named: :meth:`EvaluationReport.to_dict`)."""
        return cls.from_dict(report.to_dict() | {"reference": dict(reference) if reference else None, "gate": dict(gate) if gate else None})

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], *, source: str = "results document") -> ResultsDocument:
        """Read a document, naming the first missing or malformed field: ``SOURCE: field 'benchmarks.rmb.subsets' ...``."""
        if not isinstance(document, Mapping):
            raise RmMlflowError(f"{source}: not a results document (a JSON object)")
        values = _fields_of(cls, document, source, "")
        benchmarks = values["benchmarks"]
        if not isinstance(benchmarks, Mapping):
            raise RmMlflowError(f"{source}: field 'benchmarks' is not an object")
        values["benchmarks"] = {str(name): BenchmarkResults(**_fields_of(BenchmarkResults, entry, source, f"benchmarks.{name}."))
                                for name, entry in benchmarks.items()}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (``reference``, ``gate`` and ``evaluated_at`` only when set)."""
        document = asdict(self)
        return {key: value for key, value in document.items() if value is not None or key not in ("reference", "gate", "evaluated_at")}


@dataclass(frozen=True)
class Results:
    """A results document with its per-example tables: read from a complete folder, or straight from a report not yet written."""

    document: ResultsDocument
    table: Callable[[str], pd.DataFrame]  # benchmark name -> its per-example table

    @classmethod
    def read(cls, output_dir: Path | str) -> Results:
        """The results of a complete folder (refused when incomplete)."""
        output_dir = Path(output_dir)
        return cls(read_results(output_dir / RESULTS_FILE), lambda name: scores_table(output_dir, name))

    @classmethod
    def of_report(cls, report: EvaluationReport) -> Results:
        """The results of a report in memory (the promotion gate compares them before anything is written)."""
        return cls(ResultsDocument.from_report(report), lambda name: report.benchmarks[name].examples)


def _fields_of(kind: type, document: Any, source: str, prefix: str) -> dict[str, Any]:
    """The dataclass fields of ``kind`` read from ``document``; a required one missing or of the wrong JSON type is one error."""
    if not isinstance(document, Mapping):
        raise RmMlflowError(f"{source}: field {prefix.rstrip('.')!r} is not an object")
    values = {}
    for item in fields(kind):
        annotation = str(item.type)  # a string: this module postpones annotations
        if item.name not in document:
            if item.default is MISSING and item.default_factory is MISSING and not annotation.endswith("| None"):
                raise RmMlflowError(f"{source}: field {prefix + item.name!r} is missing; is it a results.json written by rm-mlflow?")
            continue
        value = document[item.name]
        expected = next((types for head, types in _JSON_TYPES.items() if annotation.startswith(head)), None)
        if value is not None and expected is not None and not isinstance(value, expected):
            raise RmMlflowError(f"{source}: field {prefix + item.name!r} should be a JSON {_JSON_NAMES[expected]}, got {type(value).__name__}")
        values[item.name] = value
    return values


_JSON_TYPES: dict[str, tuple[type, ...]] = {"dict": (dict,), "list": (list,), "str": (str,), "int": (int,), "float": (int, float)}
_JSON_NAMES = {(dict,): "object", (list,): "array", (str,): "string", (int,): "integer", (int, float): "number"}


def write_results(
    report: EvaluationReport, output_dir: Path | str, *, reference: Mapping[str, Any] | None = None, gate: Mapping[str, Any] | None = None,
    also_write: Callable[[Path], Iterable[Path]] | None = None,
) -> dict[str, Path]:
    """Write ``results.json``, ``summary.md`` and one ``<benchmark>_scores.parquet`` per benchmark, then the manifest: once.

    ``reference`` and ``gate`` (the model reference and the promotion gate's outcome) go into ``results.json``.
    ``also_write(folder)`` writes the caller's own files (plots) and returns them; they are sealed in the manifest too.
    """
    output_dir = Path(output_dir)
    earlier = _earlier_files(output_dir)
    with writing(output_dir):
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / MANIFEST_FILE).unlink(missing_ok=True)  # incomplete until the manifest is written again, last
        paths = {"results": output_dir / RESULTS_FILE, "summary": output_dir / SUMMARY_FILE}
        write_atomic(paths["results"], _json_bytes(ResultsDocument.from_report(report, reference=reference, gate=gate).to_dict()))
        write_atomic(paths["summary"], format_markdown_summary(report).encode("utf-8"))
        for name, benchmark in report.benchmarks.items():
            path = output_dir / f"{name}{SCORES_SUFFIX}"
            buffer = io.BytesIO()
            benchmark.examples.assign(benchmark=name).to_parquet(buffer, index=False)
            write_atomic(path, buffer.getvalue())
            paths[f"{name}_scores"] = path
        added = list(also_write(output_dir)) if also_write is not None else []
        seal(output_dir, [*paths.values(), *added], fresh=True)
        for name in earlier - {path.name for path in [*paths.values(), *added]}:
            (output_dir / name).unlink(missing_ok=True)  # an earlier evaluation's table or plot must not pass for this one's
    return paths


def _earlier_files(output_dir: Path) -> set[str]:
    """Result files an earlier evaluation left in the folder: those its manifest lists, and per-example tables."""
    names = {path.name for path in output_dir.glob(f"*{SCORES_SUFFIX}")} if output_dir.is_dir() else set()
    try:
        names |= set(_manifest(output_dir))
    except IncompleteResultsError:
        pass
    return {name for name in names if (output_dir / name).is_file() and "/" not in name}


def prepare_output_folder(output_dir: Path | str) -> Path:
    """Create the results folder and prove it writable now, before any weights load or run starts (a file in its place, a read-only folder)."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise OptionError(f"{output_dir}: --output names an existing file, not a folder; give a folder for the results")
    probe = output_dir / ".rm-mlflow-write-check"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        try:
            probe.write_bytes(b"ok")
        finally:
            probe.unlink(missing_ok=True)
    except OSError as error:
        raise OutputError.from_os_error(error, output_dir, "write to the results folder") from None
    return output_dir


def write_results_document(output_dir: Path | str, document: ResultsDocument | Mapping[str, Any]) -> Path:
    """Write a results document as ``results.json`` of a complete folder (for results built without a report, e.g. in tests)."""
    output_dir = Path(output_dir)
    path = output_dir / RESULTS_FILE
    if not isinstance(document, ResultsDocument):
        document = ResultsDocument.from_dict(document)
    with writing(output_dir):
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / MANIFEST_FILE).unlink(missing_ok=True)
        write_atomic(path, _json_bytes(document.to_dict()))
        seal(output_dir, [path], fresh=True)
    return path


def seal(output_dir: Path | str, files: Iterable[Path | str], *, fresh: bool = False) -> None:
    """Record ``files`` (size and sha256) in the folder's manifest, written atomically; ``fresh`` starts a new manifest."""
    output_dir = Path(output_dir)
    entries = {} if fresh else _manifest(output_dir)
    for file in files:
        file = Path(file)
        entries[file.name] = {"bytes": file.stat().st_size, "sha256": _sha256(file)}
    with writing(output_dir):
        write_atomic(output_dir / MANIFEST_FILE, json.dumps({"format": 1, "files": entries}, indent=2, sort_keys=True).encode("utf-8"))


def check_complete(output_dir: Path | str) -> None:
    """Raise :class:`IncompleteResultsError` unless the folder's manifest is there and every file it lists has its size and digest."""
    output_dir = Path(output_dir)
    for name, entry in _manifest(output_dir).items():
        path = output_dir / name
        if not path.is_file():
            raise _incomplete(output_dir, f"{name} is missing")
        if path.stat().st_size != entry.get("bytes") or _sha256(path) != entry.get("sha256"):
            raise _incomplete(output_dir, f"{name} does not match the manifest ({path.stat().st_size:,} bytes, manifest {entry.get('bytes')})")


def _manifest(output_dir: Path) -> dict[str, dict[str, Any]]:
    path = output_dir / MANIFEST_FILE
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise _incomplete(output_dir, f"no {MANIFEST_FILE}, so the evaluation that wrote it did not finish writing") from None
    except (OSError, ValueError) as error:
        raise _incomplete(output_dir, f"{MANIFEST_FILE} is unreadable ({error})") from None
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, dict) or RESULTS_FILE not in files or not all(isinstance(entry, dict) for entry in files.values()):
        raise _incomplete(output_dir, f"{MANIFEST_FILE} does not list the folder's files")
    return files


def _incomplete(output_dir: Path, reason: str) -> IncompleteResultsError:
    return IncompleteResultsError(
        f"{output_dir}: incomplete results folder: {reason}; rerun `rm-mlflow evaluate` with this --output (it resumes from the score cache)"
    )


def read_results(path: Path | str) -> ResultsDocument:
    """The ``results.json`` of a complete results folder (:func:`check_complete`), typed; anything else is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise RmMlflowError(f"{path}: no such results file (is it a folder written by `rm-mlflow evaluate`?)")
    check_complete(path.parent)
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise RmMlflowError(f"{path}: not a readable results JSON: {error}") from None
    return ResultsDocument.from_dict(document, source=str(path))


def scores_table(output_dir: Path | str, benchmark: str) -> pd.DataFrame:
    """The per-example table of one benchmark, as written next to ``results.json``."""
    path = Path(output_dir) / f"{benchmark}{SCORES_SUFFIX}"
    if not path.is_file():
        raise RmMlflowError(f"{path}: missing; the results folder is incomplete")
    return pd.read_parquet(path)


@contextlib.contextmanager
def writing(output_dir: Path) -> Iterator[None]:
    """Turn an ``OSError`` on the results folder's files into one :class:`OutputError` naming the path and errno."""
    try:
        yield
    except OSError as error:
        raise OutputError.from_os_error(error, output_dir, "write the results", _KEPT) from None


def write_atomic(path: Path, content: bytes) -> None:
    """Write through a temporary file in the same folder, flushed to disk, then rename: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)  # a full disk must not keep the space a partial file took
        raise OSError(error.errno, error.strerror, str(path)) from error  # a failed write() names no file; say which one
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(_without_nan(document), indent=2, sort_keys=True, default=_json_default, allow_nan=False).encode("utf-8")


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
    if report.fingerprint:
        data = ", ".join(f"{name} {digest}" for name, digest in report.fingerprint["datasets"].items())
        lines.append(f"Fingerprint: {report.fingerprint['id']} (weights {report.fingerprint['weights']}, data {data})")
    if note := batching_note(report):
        lines.append(note)
    for name, benchmark in report.benchmarks.items():
        scores = benchmark.scores
        lines.append("")
        lines.append(f"== {benchmark.title} [{name}]  ({len(benchmark.examples)} examples from {benchmark.source})")
        if benchmark.partial:
            lines.append(f"   PARTIAL: {benchmark.partial}; these figures are not the benchmark's score")
        if benchmark.skipped:
            lines.append(f"   skipped {benchmark.skipped} invalid row(s); first: {benchmark.skipped_reasons[0]}")
        width = max((len(s) for s in scores.subsets), default=10)
        if len(scores.subsets) > MAX_SUBSET_LINES:
            lines.append(f"  {len(scores.subsets)} subsets: each one's accuracy is in summary.md and the run's metrics")
        for subset, accuracy in scores.subsets.items() if len(scores.subsets) <= MAX_SUBSET_LINES else ():
            lines.append(f"  {subset:<{width}}  {accuracy:7.4f}{_interval(scores, f'subset/{subset}')}  (n={scores.subset_counts.get(subset, 0)})")
        for section, value in scores.sections.items():
            lines.append(f"  section {section:<{max(width - 8, 1)}}  {value:7.4f}{_interval(scores, f'section/{section}')}")
        if scores.score is not None:
            partial = f"  (PARTIAL: {benchmark.partial})" if benchmark.partial else ""
            lines.append(f"  SCORE {name}: {scores.score:.4f}{_interval(scores, 'score')}{partial}")
        if scores.intervals:
            level = next(iter(scores.intervals.values())).level
            lines.append(f"  [intervals: {100 * level:.0f}% percentile bootstrap, resampling examples within subsets]")
        lines.extend(f"  {note}" for note in benchmark.notes)
        lines.extend(f"  WARNING: {warning}" for warning in benchmark.warnings)
        if benchmark.length_bias is not None:
            lines.append(f"  length: {length_line(benchmark.length_bias)}")
        if benchmark.calibration is not None:
            lines.append(f"  calibration: {calibration_line(benchmark.calibration)}")
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
    headline = [(name, benchmark) for name, benchmark in report.benchmarks.items() if benchmark.scores.score is not None]
    if headline:  # the scores again, last, where a long report ends
        lines.append("")
        lines += [f"SCORE {name}: {b.scores.score:.4f}{_interval(b.scores, 'score')}" + (f"  (PARTIAL: {b.partial})" if b.partial else "")
                  for name, b in headline]
    return "\n".join(lines)


def _interval(scores: Any, key: str, scale: float = 1.0, digits: int = 4) -> str:
    interval = scores.intervals.get(key)
    return "" if interval is None else f"  [{scale * interval.low:.{digits}f}, {scale * interval.high:.{digits}f}]"


def length_line(bias: Any) -> str:
    """The length figures in one line."""
    overall = bias.overall
    baseline = "-" if bias.baseline.score is None else f"{bias.baseline.score:.4f}"
    spearman = overall.score_length_spearman
    # a rank correlation is undefined when every score (or every length) is the same: say so rather than print NaN
    correlation = f"{spearman:+.3f}" if not math.isnan(spearman) else "undefined (every score or every length is the same)"
    return (
        f"longer-answer baseline scores {baseline}; accuracy where chosen is longer {overall.accuracy_chosen_longer:.4f} "
        f"(n={overall.examples_chosen_longer}), shorter {overall.accuracy_chosen_shorter:.4f} (n={overall.examples_chosen_shorter}); "
        f"score-length Spearman {correlation}"
    )


def calibration_line(figures: Calibration) -> str:
    """Brier score, log loss and ECE over the pairs, each with its interval when there is one."""
    parts = []
    for name, label in (("brier", "Brier"), ("log_loss", "log loss"), ("ece", "ECE")):
        interval = figures.intervals.get(name)
        parts.append(f"{label} {getattr(figures, name):.4f}" + (f" [{interval.low:.4f}, {interval.high:.4f}]" if interval else ""))
    return f"{', '.join(parts)} over {figures.pairs} pairs (lower is better)"


def throughput_line(t: Mapping[str, float]) -> str:
    """Work done by this run and its rate; scores an interrupted earlier run left in the cache are counted apart."""
    computed = t.get("computed_tokens", t["scored_tokens"])
    shared = f", {computed:.0f} computed" if computed < t["scored_tokens"] else ""
    # conversations that differ as text but not as tokens (a response shared by several pairs) are run once
    same_tokens = t["distinct_conversations"] - t["scored_conversations"] - t["cached_conversations"]
    reused = f", {same_tokens:.0f} token-identical to another" if same_tokens > 0 else ""
    line = (
        f"{t['examples']:.0f} examples, {t['distinct_conversations']:.0f} distinct conversations; "
        f"{t['scored_conversations']:.0f} scored now ({t['scored_tokens']:.0f} tokens{shared}{reused}) in {t['seconds']:.1f}s: "
        f"{t['conversations_per_second']:.2f} conversations/s, {t['tokens_per_second']:.0f} tokens/s"
    )
    if t["cached_conversations"]:
        line += f"; resumed ({t['cached_conversations']:.0f} from cache), {100 * t['cached_share']:.0f}% of the distinct conversations"
    else:
        line += f", {t['examples_per_second']:.2f} examples/s"
    return line + (f"; model loaded once, in {t['model_load_seconds']:.1f}s" if "model_load_seconds" in t else "")


def batching_note(report: EvaluationReport) -> str | None:
    """A line saying the scores came from rewardbench's batches (``--batching rewardbench``); None for the default."""
    if report.settings.get("batching") != "rewardbench":
        return None
    effect = "batch-dependent scores, as its published numbers" if report.model.get("padding_sensitive") else "the same scores as alone"
    return f"Batching: rewardbench's (batches of {report.settings.get('batch_size')} in dataset order, left-padded): {effect}"


def format_markdown_summary(report: EvaluationReport) -> str:
    """A leaderboard-style markdown summary: one headline table, then per-subset accuracies for each benchmark."""
    lines = [f"# Reward-model evaluation: {report.model.get('name')}", ""]
    if note := batching_note(report):
        lines += [f"{note}.", ""]
    lines += ["| benchmark | examples | score | sections |", "|---|---:|---:|---|"]
    for name, benchmark in report.benchmarks.items():
        scores = benchmark.scores
        sections = ", ".join(f"{section} {100 * value:.1f}" for section, value in scores.sections.items()) or "-"
        headline = f"{100 * scores.score:.1f}{_interval(scores, 'score', 100, 1)}" if scores.score is not None else "-"
        partial = f" **partial**: {benchmark.partial}" if benchmark.partial else ""
        lines.append(f"| {benchmark.title} (`{name}`){partial} | {len(benchmark.examples)} | {headline} | {sections} |")
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
        if benchmark.calibration is not None:
            lines += ["", f"Calibration: {calibration_line(benchmark.calibration)}."]
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
