"""What a benchmark is: where its rows come from, the rule that marks an example correct, and its aggregation, bound together.

Each benchmark module (``rewardbench.py``, ``rmb.py``, ...) declares one :class:`Benchmark` and adds it
to :data:`BENCHMARKS`; adding a benchmark touches that one file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from rm_mlflow._registry import Registry
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.data.validation import ConversionReport
from rm_mlflow.metrics.accuracy import CorrectnessRule, strict_win
from rm_mlflow.metrics.intervals import ClusterOf, by_example
from rm_mlflow.metrics.outcomes import BenchmarkScores, ExampleOutcome, ExampleScores, score_statistics, subset_counts


@dataclass(frozen=True)
class LoadedRows:
    """What a benchmark's loader returns.

    ``available_subsets`` lists every subset the source holds when the loader read only the
    requested ones (so an unknown subset name can be answered with what exists). ``incomplete`` says what
    part of the benchmark the source or the options left out (M-RewardBench's languages), if any.
    """

    examples: list[PreferenceExample]
    source: str  # a local path or an hf:// URI, for lineage
    split: str
    revision: str | None = None
    available_subsets: tuple[str, ...] | None = None
    incomplete: str | None = None


LoadFunction = Callable[["Benchmark", DataOptions, ConversionReport], LoadedRows]
Aggregator = Callable[[Sequence[ExampleOutcome]], BenchmarkScores]
MODEL_POSITIONS = "model positions"  # Benchmark.default_max_length: the model's position limit
# Figures that need several benchmarks' scores (e.g. RewardBench's original score with the prior sets).
Combiner = Callable[[Mapping[str, BenchmarkScores]], dict[str, float]]
# Each game's decision against the label (+1 right, -1 wrong, 0 none), from an example's scores or a judge's votes.
GameRule = Callable[[PreferenceExample, ExampleScores], tuple[int, ...]]
# An example's correctness from its games' decisions; None leaves it out of accuracy (VL-RewardBench's unclear majorities).
VoteRule = Callable[[tuple[int, ...]], float | None]


def net_vote(votes: tuple[int, ...]) -> float:
    """Right when the decisions net positive (JudgeBench: a tie or a loss is wrong)."""
    return 1.0 if sum(votes) > 0 else 0.0


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: its loader, its per-example correctness rule and its aggregation.

    Attributes:
        name: registry name and metric prefix (``rewardbench/score``).
        title: display name.
        load: reads the rows and converts them to :class:`PreferenceExample`.
        aggregate: turns scored examples into subset, section and headline scores.
        correctness: ``(chosen scores, rejected scores) -> credit in [0, 1]``.
        example_credit: a rule that also needs the example (Long-RewardBench's presentation order):
            ``(example, chosen scores, rejected scores) -> credit``; used in place of ``correctness`` when set.
        combine: cross-benchmark figures, given every benchmark's scores of the same evaluation.
        games: for benchmarks scored by games (JudgeBench): each game's decision; ``decide`` then reads the
            example's correctness from them (by default: right when the net vote is positive), and ``correctness`` is not used.
        decide: how the games' decisions make the example's correctness (None: left out of accuracy).
        cluster_of: which examples a bootstrap resamples together (each example alone by default).
        hub_id: the dataset's Hugging Face Hub id, when it lives there.
        default_split: the split used when none is asked for.
        sections: section name -> its subsets (fills the per-example ``section`` column).
        section_rule: for benchmarks whose subsets are discovered (RMB's scenarios): subset -> section, with
            ``section_names`` the sections a complete copy has.
        local_dirnames: folder names a local copy may have under ``--data-dir``.
        local_layout: the files a local copy holds in that folder, for ``rm-mlflow benchmarks``.
        download_hint: what to download, and where, when no copy is reachable.
        default_max_length: ``MODEL_POSITIONS`` when the benchmark, unless ``max_length`` is given, is scored up to the
            model's position limit rather than the run's default (Long-RewardBench's 128K contexts).
    """

    name: str
    title: str
    load: LoadFunction
    aggregate: Aggregator
    correctness: CorrectnessRule = strict_win
    example_credit: Callable[[PreferenceExample, tuple[float, ...], tuple[float, ...]], float] | None = None
    combine: Combiner | None = None
    games: GameRule | None = None
    decide: VoteRule = net_vote
    cluster_of: ClusterOf = by_example
    hub_id: str | None = None
    default_split: str = "train"
    sections: Mapping[str, Sequence[str]] = field(default_factory=dict)
    section_rule: Callable[[str], str] | None = None
    section_names: tuple[str, ...] = ()
    local_dirnames: tuple[str, ...] = ()
    local_layout: str = ""
    download_hint: str = ""
    default_max_length: str | None = None

    def outcome(self, example: PreferenceExample, scores: ExampleScores) -> ExampleOutcome:
        """One scored example under this benchmark's rule: its games' net vote, the kind's own credit, or :attr:`correctness`."""
        chosen, rejected = scores.chosen, scores.rejected
        votes = self.games(example, scores) if self.games is not None else ()
        if votes:
            correct: float | None = self.decide(votes)
        elif scores.credit is not None:
            correct = scores.credit
        elif not rejected:
            correct = None
        elif self.example_credit is not None:
            correct = self.example_credit(example, chosen, rejected)
        else:
            correct = self.correctness(chosen, rejected)
        return ExampleOutcome(example.id, example.subset, chosen, rejected, correct, votes)

    def score(self, outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
        """:attr:`aggregate` plus what every benchmark reports: examples per subset and score statistics."""
        scores = self.aggregate(outcomes)
        scores.subset_counts = subset_counts(outcomes)
        scores.extra |= score_statistics(outcomes)
        return scores

    def section_of(self, subset: str) -> str | None:
        """The section a subset belongs to, if the benchmark has sections."""
        if self.section_rule is not None:
            return self.section_rule(subset)
        return next((section for section, members in self.sections.items() if subset in members), None)

    def all_sections(self) -> tuple[str, ...]:
        """Every section a complete copy of the benchmark has (none when it has no sections)."""
        return tuple(self.sections) or self.section_names


@dataclass
class LoadedBenchmark:
    """A benchmark's examples, where they came from, and how many rows were skipped as invalid."""

    benchmark: Benchmark
    examples: list[PreferenceExample]
    source: str
    split: str
    revision: str | None
    skipped: int = 0
    skipped_reasons: list[str] = field(default_factory=list)
    partial: str | None = None  # why these examples are not the whole benchmark (--limit, --subsets, missing sections)

    @property
    def digest(self) -> str:
        """What was scored, as content: :func:`examples_digest` of the examples (also the MLflow dataset input's digest)."""
        return examples_digest(self.examples)

    def subsets(self) -> list[str]:
        """The subsets present, sorted."""
        return sorted({example.subset for example in self.examples})

    def example_names(self) -> list[str]:
        """Each example as errors name it: ``rewardbench id 12``."""
        return [f"{self.benchmark.name} id {example.id}" for example in self.examples]


def examples_digest(examples: Sequence[PreferenceExample]) -> str:
    """A digest of every example's id, subset, prompt and responses, in order: one changed character changes it."""
    digest = hashlib.sha256()
    for example in examples:
        fields = [example.id, example.subset, example.prompt, example.chosen, example.rejected]
        if example.images:  # by content; a text-only example's digest is what it always was
            fields.append([image.sha256 for image in example.images])
        digest.update(json.dumps(fields, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def all_examples(loaded: Sequence[LoadedBenchmark]) -> tuple[list[PreferenceExample], list[str]]:
    """Every example of the loaded benchmarks, in order, and the name each goes by in errors."""
    return ([example for item in loaded for example in item.examples], [name for item in loaded for name in item.example_names()])


def _discover_benchmarks() -> None:
    import importlib

    importlib.import_module("rm_mlflow.data.benchmarks")  # imports every benchmark module and the plug-ins


BENCHMARKS: Registry[Benchmark] = Registry("benchmark", discover=_discover_benchmarks)


def register_benchmark(benchmark: Benchmark, *, aliases: tuple[str, ...] = ()) -> Benchmark:
    """Add ``benchmark`` to :data:`BENCHMARKS` (by its name and ``aliases``) and return it."""
    return BENCHMARKS.add(benchmark.name, benchmark, aliases=aliases)
