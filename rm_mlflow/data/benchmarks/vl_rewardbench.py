"""VL-RewardBench (Li et al., CVPR 2025): can a vision-language reward model or judge tell the better answer about an image?

Source of every rule here (github.com/vl-rewardbench/VL_RewardBench, the same files the MIT-licensed dataset
repository ``MMInstruction/VL-RewardBench`` carried under ``inference/``):

- **Data** (``inference_hf.py`` ``process_item``): one parquet ``data/test-00000-of-00001.parquet``, 1,250 rows of
  ``id``, ``query``, ``response`` (two answers), ``image`` (``{bytes, path}``), ``human_ranking`` (the rank of each
  answer, 0 the better), ``models``, ``judge``, ``rationale``, ``query_source``.
- **Subsets** (``cal.py`` ``get_dataset_from_id``): the source dataset read from the id prefix (``RLAIF`` rlaif-v,
  ``RLHF`` rlhf-v, ``mathverse``/``mmmu`` reasoning_tasks, ``wildvision`` wildvision-battle, ``hallucination``
  povid, anything else vlfeedback), grouped into general, hallucination and reasoning (``distribution_dataset``).
- **Judging** (``inference_hf.py``, ``prompt.py``, ``cal.py``): see :mod:`rm_mlflow.judges.protocols.vl_rewardbench`:
  k samples per item, each in a drawn answer order, the verdict parsed by the authors' pattern, the item classified by
  majority (agree, reject, or neither), as ``distribution`` and ``classify`` do.
- **Figures** (``distribution_dataset``): per group, agreed items over agreed plus rejected items (an item with no
  majority is in neither count); the overall accuracy pools the three groups; the macro average is their mean. The
  overall accuracy is the headline.

A reward model (classifier) scores both answers; an item is agreed when the better answer scores strictly higher,
rejected otherwise (the authors evaluate judges only; this is RewardBench's rule for a pair).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from rm_mlflow.data.benchmark import Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.hosted import download_hint
from rm_mlflow.data.images import ImageError, image_from_row_value
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, hub_file, parquet_rows, split_files
from rm_mlflow.data.types import JUDGE_PROTOCOL, ChatMessage, PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.errors import DatasetNotAvailableError
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome
from rm_mlflow.metrics.outcomes import ExampleScores

HUB_ID = "MMInstruction/VL-RewardBench"
HUB_FILE = "data/test-00000-of-00001.parquet"
PROTOCOL = "vl-rewardbench"
# metadata key: the indices into example.responses() of the published answers, in the row's order (response[0], response[1])
PUBLISHED_ORDER = "published_order"
GROUPS = {"vlfeedback": "general", "wildvision-battle": "general", "povid": "hallucination", "rlhf-v": "hallucination",
          "rlaif-v": "hallucination", "reasoning_tasks": "reasoning"}
GROUP_NAMES = ("general", "hallucination", "reasoning")


def dataset_of(item_id: str) -> str:
    """``cal.py`` ``get_dataset_from_id``: the id's prefix (up to the first ``_`` or ``-``) names the source dataset."""
    cuts = [position for position in (item_id.find("_"), item_id.find("-")) if position != -1]
    prefix = item_id[: min(cuts)] if cuts else item_id
    return {"RLAIF": "rlaif-v", "RLHF": "rlhf-v", "mathverse": "reasoning_tasks", "mmmu": "reasoning_tasks",
            "wildvision": "wildvision-battle", "hallucination": "povid"}.get(prefix, "vlfeedback")


def group_of(subset: str) -> str:
    """The group (section) a source dataset reports under."""
    return GROUPS[subset]


def convert_row(row: Row, base_dir: Path | None) -> PreferenceExample:
    """One item: the query with its image, the human-preferred answer as chosen, the other as rejected."""
    responses = row.texts("response")
    if len(responses) != 2:
        raise row.error("response", f"expected two answers, got {len(responses)}")
    ranking = row.raw("human_ranking")
    if not isinstance(ranking, list) or not all(isinstance(rank, int) for rank in ranking) or sorted(ranking) != [0, 1]:
        raise row.error("human_ranking", f"expected the ranks of the two answers ([0, 1] or [1, 0]), got {ranking!r}")
    better = ranking.index(0)
    try:
        image = image_from_row_value(row.raw("image"), base_dir=base_dir)
    except ImageError as error:
        raise row.error("image", str(error)) from None
    item_id = row.text("id")
    return PreferenceExample(
        id=item_id,
        subset=dataset_of(item_id),
        prompt=(ChatMessage(role="user", content=row.text("query")),),
        chosen=(responses[better],),
        rejected=(responses[1 - better],),
        images=(image,),
        metadata={JUDGE_PROTOCOL: PROTOCOL, PUBLISHED_ORDER: (0, 1) if better == 0 else (1, 0),
                  "query_source": row.data.get("query_source")},
    )


def _rows(root: Path | None, options: DataOptions, hint: str) -> tuple[Iterator[Row], str, Path | None]:
    if root is None:
        return parquet_rows(hub_file(HUB_ID, HUB_FILE, options.revision, hint=hint)), f"hf://datasets/{HUB_ID}", None
    files = split_files(root, "test") or sorted(root.glob("*.parquet"))
    if not files:
        raise DatasetNotAvailableError(f"vl-rewardbench: no parquet file under {root} (expected {HUB_FILE}). {hint}")
    return (row for path in files for row in parquet_rows(path)), str(root), root


def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """The test split, local or from the Hub, streamed: each image is checked and stored by hash as its row is read."""
    root = find_local_copy(options.data_path, benchmark.local_dirnames)
    rows, source, base_dir = _rows(root, options, benchmark.download_hint)
    examples = convert_rows(rows, lambda row: convert_row(row, base_dir), skip_invalid=options.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=source, split="test", revision=options.revision)


def item_votes(example: PreferenceExample, scores: ExampleScores) -> tuple[int, ...]:
    """Each sample's decision (+1 agree, -1 reject, 0 no verdict): a judge's own, or a reward model's strict win as one sample."""
    if scores.votes:
        return scores.votes
    return (1 if min(scores.chosen) > max(scores.rejected) else -1,)


def majority(votes: tuple[int, ...]) -> float | None:
    """``cal.py`` ``classify``: agree (1) or reject (0) by strict majority of the samples; an item with neither is left out."""
    if votes.count(1) > len(votes) / 2:
        return 1.0
    if votes.count(-1) > len(votes) / 2:
        return 0.0
    return None


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Per source dataset and per group: agreed over agreed plus rejected; overall pools the groups, macro averages them."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # subset -> [agreed, judged]
    left_out = 0
    for outcome in outcomes:
        if outcome.correct is None:
            left_out += 1
            continue
        counts[outcome.subset][0] += int(outcome.correct)
        counts[outcome.subset][1] += 1
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for subset, (agreed, judged) in counts.items():
        groups[group_of(subset)][0] += agreed
        groups[group_of(subset)][1] += judged
    sections = {group: agreed / judged for group, (agreed, judged) in groups.items() if judged}
    agreed, judged = sum(a for a, _ in groups.values()), sum(j for _, j in groups.values())
    extra = {"left_out": float(left_out)}
    if all(group in sections for group in GROUP_NAMES):
        extra["macro_average"] = sum(sections[group] for group in GROUP_NAMES) / len(GROUP_NAMES)
    return BenchmarkScores(score=agreed / judged if judged else float("nan"),
                           subsets={subset: a / j for subset, (a, j) in counts.items() if j}, sections=sections, extra=extra)


VL_REWARDBENCH = register_benchmark(
    Benchmark(
        name="vl-rewardbench",
        title="VL-RewardBench",
        load=load,
        aggregate=aggregate,
        games=item_votes,
        decide=majority,
        hub_id=HUB_ID,
        default_split="test",
        section_rule=group_of,
        section_names=GROUP_NAMES,
        local_dirnames=("vl-rewardbench", "VL-RewardBench"),
        local_layout=HUB_FILE + " (image-bearing rows, streamed)",
        download_hint=download_hint(HUB_ID, "vl-rewardbench"),
    ),
    aliases=(HUB_ID, "vlrewardbench"),
)
