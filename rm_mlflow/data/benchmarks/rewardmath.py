"""RewardMATH (Kim et al., 2024): one correct solution against nine wrong ones, for each of 483 math problems.

Upstream (github.com/kimsh0507/RewardMATH_official, ``src/evaluation/eval.py`` ``RewardMATHEvaluation``, with
``src/inference_reward.py`` and ``src/prompts.py``): rows are single solutions (``problem_id``, ``solution_type``
``chosen`` or ``rejected``, ``eval_solution`` a list of steps); a classifier scores ``[user: problem, assistant:
steps joined by newlines]``; a problem is correct when its chosen solution (``human_to_GPT-4``) scores strictly
above every rejected one ("reward Acc"), and its reciprocal rank is the reciprocal of the chosen solution's
place among all ten scores sorted from the highest, a rejected solution ranking first on an equal score
("reward MRR"). A generative judge rates each solution (upstream's direct assessment).

Local copies: ``RewardMATH_direct.json`` in a ``rewardmath/`` folder (the repository's ``dataset/benchmark/``
holds a two-problem sample of it); else the Hub set ``RewardMATH/RewardMATH``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rm_mlflow.data.benchmark import Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.hosted import download_hint
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, hub_rows, read_rows
from rm_mlflow.data.types import RATE_EACH_ANSWER, ChatMessage, PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, refuse_or_count
from rm_mlflow.errors import DatasetNotAvailableError, DataValidationError
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, micro_accuracy, outcome_accuracies

HUB_ID = "RewardMATH/RewardMATH"
LOCAL_FILE = "RewardMATH_direct.json"
SOLUTION_TYPES = ("chosen", "rejected")


class _Problem:
    """The solutions of one problem as its rows arrive, checked when complete."""

    def __init__(self, first: Row) -> None:
        self.first = first
        self.problem = first.text("problem")
        self.chosen: list[str] = []
        self.rejected: list[str] = []

    def add(self, row: Row) -> None:
        if row.text("problem") != self.problem:
            raise row.error("problem", f"differs from the problem of row {self.first.index} with the same problem_id")
        kind = row.text("solution_type")
        if kind not in SOLUTION_TYPES:
            raise row.error("solution_type", f"expected chosen or rejected, got {kind!r}")
        solution = "\n".join(row.texts("eval_solution"))  # upstream's classifier input: the steps, one per line
        (self.chosen if kind == "chosen" else self.rejected).append(solution)

    def example(self, problem_id: str) -> PreferenceExample:
        if len(self.chosen) != 1:
            raise self.first.error("solution_type", f"problem_id {problem_id} has {len(self.chosen)} chosen solutions; expected exactly 1")
        if not self.rejected:
            raise self.first.error("solution_type", f"problem_id {problem_id} has no rejected solution")
        return PreferenceExample(
            id=problem_id,
            subset=str(self.first.data.get("subject") or "all"),
            prompt=(ChatMessage(role="user", content=self.problem),),
            chosen=tuple(self.chosen),
            rejected=tuple(self.rejected),
            metadata={"level": self.first.data.get("level"), RATE_EACH_ANSWER: "standard"},
        )


def group_problems(rows: Iterable[Row], *, skip_invalid: bool, report: ConversionReport) -> list[PreferenceExample]:
    """One example per ``problem_id`` (in order of first appearance); a bad row or problem names file, row and field."""
    problems: dict[str, _Problem] = {}
    broken: set[str] = set()
    for row in rows:
        problem_id = str(row.data.get("problem_id"))
        if problem_id in broken:
            continue  # the problem was already refused (and counted) at an earlier row
        try:
            row.raw("problem_id")
            if problem_id not in problems:
                problems[problem_id] = _Problem(row)
            problems[problem_id].add(row)
        except DataValidationError as error:
            refuse_or_count(error, skip_invalid=skip_invalid, report=report)
            broken.add(problem_id)
    examples = []
    for problem_id, problem in problems.items():
        if problem_id in broken:
            continue
        try:
            examples.append(problem.example(problem_id))
        except DataValidationError as error:
            refuse_or_count(error, skip_invalid=skip_invalid, report=report)
    return examples


def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """Every problem of the local ``RewardMATH_direct.json``, or of the Hub split."""
    split = options.split or benchmark.default_split
    root = find_local_copy(options.data_path, benchmark.local_dirnames)
    if root is None:
        rows, source = hub_rows(HUB_ID, split, options.revision, hint=benchmark.download_hint), f"hf://datasets/{HUB_ID}"
    elif (root / LOCAL_FILE).is_file():
        rows, source = read_rows(root / LOCAL_FILE), str(root)
    else:
        raise DatasetNotAvailableError(f"rewardmath: no {LOCAL_FILE} under {root}. {benchmark.download_hint}")
    examples = group_problems(rows, skip_invalid=options.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=source, split=split, revision=options.revision)


def reciprocal_rank(chosen: Sequence[float], rejected: Sequence[float]) -> float:
    """1 / the chosen solution's place among all scores, highest first, a rejected one first on an equal score (upstream's sort)."""
    ranked = sorted([(score, "rej") for score in rejected] + [(score, "cho") for score in chosen], key=lambda pair: (pair[0], pair[1]),
                    reverse=True)
    return 1 / next(place for place, (_, kind) in enumerate(ranked, start=1) if kind == "cho")


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Accuracy over problems (and per subject), and the mean reciprocal rank beside it."""
    scored = [o for o in outcomes if o.correct is not None]
    mrr = micro_accuracy(reciprocal_rank(o.chosen_scores, o.rejected_scores) for o in scored)
    return BenchmarkScores(score=micro_accuracy(o.correct for o in scored), subsets=outcome_accuracies(outcomes), extra={"mrr": mrr})


REWARDMATH = register_benchmark(
    Benchmark(
        name="rewardmath",
        title="RewardMATH",
        load=load,
        aggregate=aggregate,
        hub_id=HUB_ID,
        default_split="test",
        local_dirnames=("rewardmath", "RewardMATH", "rewardmath-sample"),
        download_hint=download_hint(HUB_ID, "rewardmath"),
    ),
    aliases=(HUB_ID, "reward-math"),
)
