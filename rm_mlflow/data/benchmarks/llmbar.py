"""LLMBar (Zeng et al., ICLR 2024) from its upstream files: the source of RewardBench's five ``llmbar-*`` subsets.

Rows are ``{input, output_1, output_2, label}`` with ``label`` 1 or 2 naming the better output, in
``Dataset/LLMBar/{Natural,Adversarial/<Name>}/dataset.json`` of the GitHub repository (or flattened
as ``Natural.json``, ``Adversarial_<Name>.json``). Each file is one RewardBench subset; the score is
RewardBench's Chat Hard weighting of the five (``EXAMPLE_COUNTS``, their sizes).
"""

from __future__ import annotations

from collections.abc import Sequence

from rm_mlflow.data.benchmark import Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.benchmarks.rewardbench import EXAMPLE_COUNTS
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, read_rows
from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.errors import DatasetNotAvailableError
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, outcome_accuracies, section_scores

REPOSITORY = "https://github.com/princeton-nlp/LLMBar"
# RewardBench subset -> the upstream file, in the repository layout and flattened.
FILES = {
    "llmbar-natural": ("Natural/dataset.json", "Natural.json"),
    "llmbar-adver-neighbor": ("Adversarial/Neighbor/dataset.json", "Adversarial_Neighbor.json"),
    "llmbar-adver-GPTInst": ("Adversarial/GPTInst/dataset.json", "Adversarial_GPTInst.json"),
    "llmbar-adver-GPTOut": ("Adversarial/GPTOut/dataset.json", "Adversarial_GPTOut.json"),
    "llmbar-adver-manual": ("Adversarial/Manual/dataset.json", "Adversarial_Manual.json"),
}
SECTION = {"LLMBar": tuple(FILES)}


def _converter(subset: str):
    def convert(row: Row) -> PreferenceExample:
        label = row.raw("label")
        if label not in (1, 2):
            raise row.error("label", f"expected 1 or 2 (the better output), got {label!r}")
        outputs = (row.text("output_1"), row.text("output_2"))
        return PreferenceExample(
            id=f"{subset}:{row.index - 1}",
            subset=subset,
            prompt=(ChatMessage(role="user", content=row.text("input")),),
            chosen=(outputs[label - 1],),
            rejected=(outputs[2 - label],),
        )

    return convert


def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """The five subsets' files from a local copy (``--data-dir`` holding ``llmbar/`` or the repository's ``Dataset/LLMBar``)."""
    root = find_local_copy(options.data_path, ("llmbar", "LLMBar/Dataset/LLMBar", "Dataset/LLMBar"), marker="Natural.json")
    if root is None:
        hint = f"Clone {REPOSITORY} and pass --data-dir pointing at it (or at a folder holding llmbar/)."
        raise DatasetNotAvailableError(f"llmbar: no LLMBar copy found. {hint}")
    examples: list[PreferenceExample] = []
    for subset, names in FILES.items():
        if options.subsets and subset not in options.subsets:
            continue
        path = next((root / name for name in names if (root / name).is_file()), None)
        if path is None:
            raise DatasetNotAvailableError(f"llmbar: {root} has neither {' nor '.join(names)}")
        examples += convert_rows(read_rows(path), _converter(subset), skip_invalid=options.skip_invalid, report=report)
    return LoadedRows(examples=examples, source=str(root), split="all", available_subsets=tuple(FILES))


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Accuracy per subset and their Chat Hard weighting."""
    subsets = outcome_accuracies(outcomes)
    score = section_scores(subsets, SECTION, EXAMPLE_COUNTS)["LLMBar"] if subsets else float("nan")
    return BenchmarkScores(score=score, subsets=subsets)


LLMBAR = register_benchmark(
    Benchmark(name="llmbar", title="LLMBar (RewardBench Chat Hard sources)", load=load, aggregate=aggregate, default_split="all", sections=SECTION)
)
