"""JudgeBench (Tan et al., ICLR 2025): can a judge tell a correct hard answer from a wrong one?

Upstream (github.com/ScalerLab/JudgeBench, ``run_judge.py``, ``utils/metrics.py`` ``compute_final_metrics``,
``utils/judges.py``): each pair is judged twice, as published (A, B) and swapped (B, A), the second decision
flipped back; a pair is correct when the net vote names the label (+1 per decision equal to the label, -1 per
decision equal to its flip), wrong when it is negative, a tie otherwise; accuracy is correct pairs over all pairs,
per source prefix and overall. A reward model decides ``A>B`` iff score(A) > score(B), else ``B>A``: each response
is scored once and both games are read off the two scores, so an exact tie nets to a tie, as upstream.
``--single_game`` plays only the published order (upstream's ``--single_game``).

Splits: ``gpt`` (responses by GPT-4o, 350 pairs, the one the paper reports) and ``claude`` (Claude 3.5 Sonnet,
270 pairs): the Hub set ``ScalerLab/JudgeBench`` or the upstream files
``data/dataset=judgebench,response_model=<model>.jsonl`` in a ``judgebench/`` folder under ``--data-dir``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from rm_mlflow._registry import unknown_name_message
from rm_mlflow.data.benchmark import Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, hub_rows, read_rows
from rm_mlflow.data.types import GAME_ORDERS, ChatMessage, PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.errors import DatasetNotAvailableError, UnknownNameError
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, micro_accuracy, outcome_accuracies
from rm_mlflow.metrics.outcomes import ExampleScores

HUB_ID = "ScalerLab/JudgeBench"
RESPONSE_MODELS = {"gpt": "gpt-4o-2024-05-13", "claude": "claude-3-5-sonnet-20240620"}
SOURCE_PREFIXES = ("mmlu-pro", "livebench-reasoning", "livebench-math", "livecodebench")
LABELS = ("A>B", "B>A")
PUBLISHED, SWAPPED = (0, 1), (1, 0)  # indices into (chosen, rejected) shown as answers A, B
NET_COUNTS = ("right", "wrong", "tie", "no_decision")
TWO_GAME_COUNTS = ("both_right", "both_wrong", "split", "inconsistent")
DOWNLOAD_HINT = (
    f"JudgeBench is on the Hub ({HUB_ID}, splits gpt and claude) and in github.com/ScalerLab/JudgeBench (data/*.jsonl): "
    "put the .jsonl files in DATA_DIR/judgebench and pass --data-dir DATA_DIR, or "
    f"`hf download {HUB_ID} --repo-type dataset --local-dir DATA_DIR/judgebench`."
)


def convert_pair(row: Row, *, single_game: bool) -> PreferenceExample:
    """One pair: ``pair_id``, ``source``, ``question``, ``response_A``, ``response_B``, ``label`` (``A>B`` or ``B>A``)."""
    label = row.text("label")
    if label not in LABELS:
        raise row.error("label", f"expected A>B or B>A (JudgeBench pairs have no ties), got {label!r}")
    response_a, response_b = row.text("response_A"), row.text("response_B")
    chosen, rejected = (response_a, response_b) if label == "A>B" else (response_b, response_a)
    published = PUBLISHED if label == "A>B" else SWAPPED
    games = (published,) if single_game else (published, published[::-1])
    return PreferenceExample(
        id=str(row.raw("pair_id")),
        subset=row.text("source"),
        prompt=(ChatMessage(role="user", content=row.text("question")),),
        chosen=(chosen,),
        rejected=(rejected,),
        metadata={"label": label, GAME_ORDERS: games, "response_model": row.data.get("response_model")},
    )


def game_votes(example: PreferenceExample, scores: ExampleScores) -> tuple[int, ...]:
    """Each game's decision against the label: a judge's own votes, or a reward model's ``A>B iff score(A) > score(B)``."""
    if scores.votes:
        return scores.votes
    values = scores.chosen + scores.rejected
    return tuple(1 if (a if values[a] > values[b] else b) == 0 else -1 for a, b in example.metadata[GAME_ORDERS])


def _rows(options: DataOptions, split: str) -> tuple[Iterator[Row], str]:
    root = find_local_copy(options.data_path, ("judgebench", "JudgeBench"))
    if root is None:
        return hub_rows(HUB_ID, split, options.revision, hint=DOWNLOAD_HINT), f"hf://datasets/{HUB_ID}"
    path = root / f"dataset=judgebench,response_model={RESPONSE_MODELS[split]}.jsonl"
    if not path.is_file():
        path = root / f"{split}.jsonl"  # a Hub download saved per split
    if not path.is_file():
        raise DatasetNotAvailableError(f"judgebench: no file for split {split!r} under {root} (expected {path.name}). {DOWNLOAD_HINT}")
    return read_rows(path), str(root)


def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """The pairs of one response model's split (``gpt`` by default, or ``claude``)."""
    split = options.split or benchmark.default_split
    if split not in RESPONSE_MODELS:
        raise UnknownNameError(unknown_name_message("judgebench split", split, list(RESPONSE_MODELS)))
    rows, source = _rows(options, split)
    examples = convert_rows(rows, lambda row: convert_pair(row, single_game=options.single_game), skip_invalid=options.skip_invalid,
                            report=report)
    return LoadedRows(examples=examples, source=source, split=split, revision=options.revision)


def source_prefix(source: str) -> str:
    """``mmlu-pro-law`` -> ``mmlu-pro``: the groups upstream reports (its ``startswith`` filters)."""
    return next((prefix for prefix in SOURCE_PREFIXES if source.startswith(prefix)), "other")


def game_counts(outcomes: Sequence[ExampleOutcome]) -> dict[str, float]:
    """Upstream's counts over pairs: net vote right/wrong/tie; with two games also both right, both wrong, split, inconsistent."""
    counts = defaultdict(float)
    for outcome in outcomes:
        net = sum(outcome.votes)
        counts["right" if net > 0 else "wrong" if net < 0 else "tie"] += 1
        counts["no_decision"] += any(vote == 0 for vote in outcome.votes)
        if len(outcome.votes) == 2:
            first, second = outcome.votes
            counts["both_right" if first == second == 1 else "both_wrong" if first != 1 and second != 1 else "split"] += 1
            counts["inconsistent"] += first != second
    names = NET_COUNTS + (TWO_GAME_COUNTS if any(len(outcome.votes) == 2 for outcome in outcomes) else ())
    return {name: counts[name] for name in names}


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Accuracy per source and per source prefix (sections), overall accuracy, and the game counts of each."""
    by_prefix: dict[str, list[ExampleOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_prefix[source_prefix(outcome.subset)].append(outcome)
    sections = {prefix: micro_accuracy(o.correct for o in members) for prefix, members in sorted(by_prefix.items())}
    extra = {f"games/{name}": value for name, value in game_counts(outcomes).items()}
    for prefix, members in sorted(by_prefix.items()):
        extra |= {f"games/{prefix}/{name}": value for name, value in game_counts(members).items()}
    return BenchmarkScores(score=micro_accuracy(o.correct for o in outcomes), subsets=outcome_accuracies(outcomes), sections=sections,
                           extra=extra)


JUDGEBENCH = register_benchmark(
    Benchmark(
        name="judgebench",
        title="JudgeBench",
        load=load,
        aggregate=aggregate,
        games=game_votes,
        hub_id=HUB_ID,
        default_split="gpt",
        section_rule=source_prefix,
        section_names=SOURCE_PREFIXES,
        local_dirnames=("judgebench", "JudgeBench"),
        download_hint=DOWNLOAD_HINT,
    ),
    aliases=(HUB_ID,),
)
