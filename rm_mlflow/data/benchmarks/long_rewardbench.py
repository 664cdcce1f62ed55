"""Long-RewardBench (LCM-Lab, 2025): preference pairs and best-of-N sets over contexts of 4K to 128K tokens.

Source of every rule here (github.com/LCM-Lab/Long-RM, ``evaluate/evaluating/longreward_bench/``):

- **Data.** One JSON-lines file per task, ``{Task}.jsonl`` for Cite, Code, ICL, LongQA, Math, Safety and Summ
  (``evaluator.py``: ``read_jsonl(f"{results_folder}/{subset}.jsonl")``, ``sample_numbers_map``). Rows
  (``preprocess.py`` ``LongRewardBenchDisRMPreprocess``): ``prompt_template`` (the chat messages before the
  answer), ``source``, ``ctx_length_for_length`` (``4k`` ... ``128k``), ``tasktype`` (``PairWise`` or
  ``BestOfN``), ``subtype`` (a pair's ``same`` or another kind; a set's size 2, 3 or 4), and ``chosen`` and
  ``rejected`` for a pair, ``candidates`` (best first) for a set. A rank is the candidate's index.
- **Presentation order.** Per task file, ``random.seed(42)``, the rows (of the kept task types, numbered in file
  order) are shuffled, and each row's answers are shuffled in turn: ``order = list(range(n));
  random.shuffle(order)``; answer ``j`` shown is ``answers[order[j]]``. The same calls, in the same order,
  give the same orders here.
- **Credit** (``utils/prompt.py`` ``extract_judgement`` with ``is_disrm``, ``evaluator.py``
  ``compare_shuffled``). The shown answers are ranked by score, highest first; a tie keeps the earlier
  shown answer ahead (a stable sort). The credit is the share of shown positions whose predicted rank
  equals the true one: a pair is 1 or 0, a set of k can earn j/k.
- **Figures** (``evaluator.py`` ``evaluate``):
  - each task's pair accuracy;
  - ``Same.`` and ``Diff.`` (pairs whose subtype is, or is not, ``same``) and ``PairWise Avg.``;
  - ``Rank2``-``Rank4`` (sets by size) and ``Rank Avg.``;
  - pair accuracy per context-length bucket (``context/<bucket>``);
  - ``AVG.``, the mean credit over every item, which is our ``score``.

  An empty group is 0 upstream (``max(len, 1)``); it is left out here.

Length: upstream keeps the first 65,536 and the last 65,531 tokens of a conversation of 131,072 or more. Here the
usual rules apply: past ``--max_length`` (by default the model's position limit, for this benchmark alone) an item
stops the run under ``--truncation none`` and is cut and counted (``num_truncated``, the items not seen whole)
under ``left``.

Generative judges ask each row by the authors' judge path (``get_prompt``, ``extract_judgement``), which
:mod:`rm_mlflow.judges.protocols.long_rewardbench` follows.

Local copies: the seven ``{Task}.jsonl`` files in a ``long-rewardbench/`` folder; else the same files from the Hub
dataset ``LCM-Lab/LongRewardBench``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from rm_mlflow.data.benchmark import MODEL_POSITIONS, Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.hosted import download_hint
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, hub_file_rows, read_rows
from rm_mlflow.data.types import JUDGE_PROTOCOL, PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.errors import DatasetNotAvailableError
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, mean

HUB_ID = "LCM-Lab/LongRewardBench"
TASKS = ("LongQA", "Summ", "Safety", "ICL", "Cite", "Code", "Math")  # evaluator.py's default order
TASK_TYPES = ("PairWise", "BestOfN")
LENGTHS = ("4k", "8k", "16k", "32k", "64k", "128k")
ORDER = "shuffled_order"
PROTOCOL = "long-rewardbench"  # a judge asks these rows by the authors' own path (rm_mlflow.judges.protocols.long_rewardbench)


def example_id(task: str, index: int, subtype: str, length: str) -> str:
    """An item's id, which also carries what the figures group it by within its subset: ``LongQA:12/same/8k``.

    The subset is only task and type (``LongQA/PairWise``): a bootstrap resamples within subsets, and one per
    (subtype, length) would leave most of them a single item, with nothing to resample.
    """
    return f"{task}:{index}/{subtype}/{length}"


def _groups(outcome: ExampleOutcome) -> tuple[str, str, str, str]:
    task, _, task_type = outcome.subset.partition("/")
    _, subtype, length = outcome.id.split("/")
    return task, task_type, subtype, length


def task_of(subset: str) -> str:
    """The task (section) of one of our subsets."""
    return subset.partition("/")[0]


def convert_row(row: Row, task: str, index: int, order: list[int]) -> PreferenceExample:
    """One row: the prompt messages, the best answer as chosen, the others (in rank order) as rejected.

    ``index`` is the row's number among the task's kept rows, ``order`` its answers' presentation order.
    """
    task_type = row.data.get("tasktype") or "PairWise"
    answers = row.texts("candidates") if task_type == "BestOfN" else (row.text("chosen"), row.text("rejected"))
    if len(order) != len(answers):
        raise row.error("candidates", f"{len(answers)} answers, but the presentation order has {len(order)}")
    return PreferenceExample(
        id=example_id(task, index, str(row.raw("subtype")), row.text("ctx_length_for_length")),
        subset=f"{task}/{task_type}",
        prompt=row.prompt("prompt_template"),
        chosen=(answers[0],),
        rejected=tuple(answers[1:]),
        metadata={ORDER: order, "source": row.data.get("source"), JUDGE_PROTOCOL: PROTOCOL},
    )


def presentation(rows: list[Row]) -> Iterator[tuple[Row, int, list[int]]]:
    """The kept rows in upstream's shuffled order, each with its number in file order and its answers' presentation order.

    These are preprocess.py's random calls, in its order.
    """
    kept = list(enumerate(row for row in rows if not row.data.get("tasktype") or row.data["tasktype"] in TASK_TYPES))
    rng = random.Random(42)
    rng.shuffle(kept)
    for index, row in kept:
        size = len(row.data.get("candidates") or ()) if row.data.get("tasktype") == "BestOfN" else 2
        order = list(range(size))
        rng.shuffle(order)
        yield row, index, order


def _task_rows(task: str, root: Path | None, options: DataOptions, hint: str) -> list[Row]:
    if root is not None:
        path = root / f"{task}.jsonl"
        if not path.is_file():
            raise DatasetNotAvailableError(f"long-rewardbench: no {task}.jsonl under {root}")
        return list(read_rows(path))
    return list(hub_file_rows(HUB_ID, f"{task}.jsonl", options.revision, hint=hint))

def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """Every task's file, local or from the Hub, in upstream's presentation order."""
    root = find_local_copy(options.data_path, benchmark.local_dirnames)
    examples = []
    for task in TASKS:
        shown = list(presentation(_task_rows(task, root, options, benchmark.download_hint)))
        placed = {id(row): (index, order) for row, index, order in shown}
        examples += convert_rows((row for row, _, _ in shown), lambda row, task=task, placed=placed: convert_row(row, task, *placed[id(row)]),
                                 skip_invalid=options.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=str(root) if root else f"hf://datasets/{HUB_ID}", split="all", revision=options.revision)


def shown_credit(example: PreferenceExample, chosen: tuple[float, ...], rejected: tuple[float, ...]) -> float:
    """The share of shown positions ranked right (upstream's ``extract_judgement`` then ``compare_shuffled``)."""
    order = example.metadata[ORDER]
    scores = (*chosen, *rejected)  # by true rank
    shown = [scores[rank] for rank in order]
    ranked = sorted(range(len(shown)), key=lambda position: shown[position], reverse=True)  # stable: a tie keeps the earlier
    predicted = [ranked.index(position) for position in range(len(shown))]
    return sum(int(truth == guess) for truth, guess in zip(order, predicted, strict=True)) / len(order)


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Tasks (pairs), same/different pairs, sets by size, pairs by context length, and the mean over every item."""
    groups: dict[str, list[float]] = defaultdict(list)
    subsets: dict[str, list[float]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.correct is None:
            continue
        task, task_type, subtype, length = _groups(outcome)
        subsets[outcome.subset].append(outcome.correct)
        groups["all"].append(outcome.correct)
        if task_type == "PairWise":
            groups[f"task/{task}"].append(outcome.correct)
            groups["pairwise/same" if subtype == "same" else "pairwise/diff"].append(outcome.correct)
            groups["pairwise"].append(outcome.correct)
            groups[f"context/{length}"].append(outcome.correct)
        else:
            groups[f"rank/{subtype}"].append(outcome.correct)
            groups["rank"].append(outcome.correct)
    figures = {name: mean(values) for name, values in groups.items()}
    sections = {task: figures[f"task/{task}"] for task in TASKS if f"task/{task}" in figures}
    extra = {name: value for name, value in figures.items() if not name.startswith("task/") and name != "all"}
    return BenchmarkScores(score=figures.get("all", float("nan")), subsets={name: mean(values) for name, values in subsets.items()},
                           sections=sections, extra=extra)


LONG_REWARDBENCH = register_benchmark(
    Benchmark(
        name="long-rewardbench",
        title="Long-RewardBench",
        load=load,
        aggregate=aggregate,
        example_credit=shown_credit,
        hub_id=HUB_ID,
        default_split="all",
        section_rule=task_of,
        section_names=TASKS,
        local_dirnames=("long-rewardbench", "LongRewardBench", "LongReward-Bench-V1"),
        local_layout="{LongQA,Summ,Safety,ICL,Cite,Code,Math}.jsonl",
        download_hint=download_hint(HUB_ID, "long-rewardbench"),
        default_max_length=MODEL_POSITIONS,  # contexts up to 128K tokens: bounded by the model, not the 2048 default
    ),
    aliases=(HUB_ID, "longrewardbench"),
)
