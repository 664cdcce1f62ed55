"""M-RewardBench (Gureja et al., ACL 2025): RewardBench's filtered set translated into 23 languages.

Source of every rule here (github.com/for-ai/m-rewardbench at 5e5a0d3, and the Hub card of
``CohereLabsCommunity/multilingual-reward-bench``):

- **Data.** One Hub config per language, named by its FLORES-200 code (the card's ``configs``; the 23 codes of
  ``experiments/run_rm_evals.sh``), split ``test`` (``scripts/run_rewardbench.py --split``, default ``test``
  since 5e5a0d3). Rows: ``id``, ``language``, ``prompt``, ``chosen``, ``rejected``, ``chosen_model``,
  ``rejected_model`` and ``source``, the RewardBench subset the row was translated from
  (``scripts/utils.py`` ``load_multilingual_eval_dataset``: ``subsets = dataset[source_column]``, default
  ``source``). The prompt is one user turn (the same function's ``map_conversations``).
- **A pair** is right when chosen scores strictly above rejected (``run_rewardbench.py``:
  ``results.append(1) if chosen > rejected else results.append(0)``).
- **Per language**: each subset's accuracy (``run_rewardbench.py``'s ``results_grouped``, saved as
  ``extra_results``); each category (Chat, Chat Hard, Safety, Reasoning) the mean of its subsets weighted by
  M-RewardBench's own ``EXAMPLE_COUNTS``, and the language's score the plain mean of the four
  (``analysis/plot_utils.py`` ``get_scores`` and ``_compute_category_scores``: the figures of the paper).
  ``run_rewardbench.py`` also logs RewardBench's English-count weighting (``calculate_scores_per_section``);
  it is a log line there, not a reported figure, and is not reproduced.
- **Across languages**: the headline is the mean of the language scores, each category the mean of the
  languages' category scores. With ``rewardbench`` in the same evaluation, ``gap_to_english`` is the
  headline minus RewardBench's score (the paper's English-vs-multilingual gap).

Left out: the ``translation`` config (de/zh to and from English). Its rows' fields and subset names are not
in the authors' code or in the public card text, so it is not loaded rather than guessed.

Local copies: a Hub snapshot (``<config>/test-00000-of-00001.parquet``) in a ``multilingual-reward-bench/`` folder;
the languages it holds are scored, and fewer than 23 make the result partial (not M-RewardBench's score on a card).
``--languages`` picks configs (codes, or ISO 639-1 codes such as ``de``); a chosen one that is missing is an error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from rm_mlflow.data.benchmark import Benchmark, LoadedRows, register_benchmark
from rm_mlflow.data.benchmarks.rewardbench import SUBSET_MAPPING
from rm_mlflow.data.hosted import download_hint
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.sources import find_local_copy, hub_rows, read_rows, split_files, split_names
from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.data.validation import ConversionReport, Row, convert_rows
from rm_mlflow.errors import DatasetNotAvailableError, OptionError
from rm_mlflow.metrics import BenchmarkScores, ExampleOutcome, mean, outcome_accuracies, section_scores
from rm_mlflow.metrics.outcomes import metric_slug

HUB_ID = "CohereLabsCommunity/multilingual-reward-bench"
DEFAULT_SPLIT = "test"

# experiments/run_rm_evals.sh: the languages and their FLORES-200 codes (the Hub configs); ISO 639-1 from the card.
LANGUAGES: dict[str, tuple[str, str]] = {
    "arb_Arab": ("ar", "Arabic"), "zho_Hans": ("zh", "Chinese (Simplified)"), "zho_Hant": ("zh-Hant", "Chinese (Traditional)"),
    "ces_Latn": ("cs", "Czech"), "nld_Latn": ("nl", "Dutch"), "fra_Latn": ("fr", "French"), "deu_Latn": ("de", "German"),
    "ell_Grek": ("el", "Greek"), "heb_Hebr": ("he", "Hebrew"), "hin_Deva": ("hi", "Hindi"), "ind_Latn": ("id", "Indonesian"),
    "ita_Latn": ("it", "Italian"), "jpn_Jpan": ("ja", "Japanese"), "kor_Hang": ("ko", "Korean"), "pes_Arab": ("fa", "Persian"),
    "pol_Latn": ("pl", "Polish"), "por_Latn": ("pt", "Portuguese"), "ron_Latn": ("ro", "Romanian"), "rus_Cyrl": ("ru", "Russian"),
    "spa_Latn": ("es", "Spanish"), "tur_Latn": ("tr", "Turkish"), "ukr_Cyrl": ("uk", "Ukrainian"), "vie_Latn": ("vi", "Vietnamese"),
}

# analysis/plot_utils.py's SUBSET_MAPPING is RewardBench's (imported); its EXAMPLE_COUNTS are the filtered English
# counts, math-prm upweighted to equal code.
EXAMPLE_COUNTS: dict[str, int] = {
    "alpacaeval-easy": 79, "alpacaeval-length": 79, "alpacaeval-hard": 76, "mt-bench-easy": 24, "mt-bench-med": 38,
    "mt-bench-hard": 35, "math-prm": 983, "refusals-dangerous": 100, "refusals-offensive": 100, "llmbar-natural": 76,
    "llmbar-adver-neighbor": 124, "llmbar-adver-GPTInst": 87, "llmbar-adver-GPTOut": 42, "llmbar-adver-manual": 43,
    "xstest-should-refuse": 154, "xstest-should-respond": 247, "donotanswer": 135, "hep-cpp": 164, "hep-go": 164,
    "hep-java": 164, "hep-js": 164, "hep-python": 163, "hep-rust": 164,
}
SECTIONS = tuple(SUBSET_MAPPING)
_CATEGORY = {subset: section for section, subsets in SUBSET_MAPPING.items() for subset in subsets}


def language_of(subset: str) -> str:
    """The language config of one of our subsets, ``deu_Latn/alpacaeval-easy`` -> ``deu_Latn``."""
    return subset.partition("/")[0]


def category_of(subset: str) -> str:
    """The category (section) of one of our subsets, ``deu_Latn/alpacaeval-easy`` -> ``Chat``."""
    return _CATEGORY.get(subset.partition("/")[2], "Other")


def chosen_languages(names: Sequence[str]) -> list[str]:
    """The configs ``--languages`` names (FLORES-200 codes or ISO 639-1), in the benchmark's order; all when empty."""
    if not names:
        return list(LANGUAGES)
    by_name = {code.lower(): code for code in LANGUAGES} | {iso.lower(): code for code, (iso, _) in LANGUAGES.items()}
    unknown = [name for name in names if name.lower() not in by_name]
    if "translation" in names:
        raise OptionError("m-rewardbench: the translation config is not supported (its schema is not published in the authors' code)")
    if unknown:
        raise OptionError(f"m-rewardbench: unknown language(s) {', '.join(unknown)}; known: {', '.join(LANGUAGES)} "
                          "(or their ISO 639-1 codes, e.g. de, ja)")
    wanted = {by_name[name.lower()] for name in names}
    return [code for code in LANGUAGES if code in wanted]


def convert_row(row: Row, language: str) -> PreferenceExample:
    """One row of a language config: ``prompt`` (one user turn), ``chosen``, ``rejected``, ``source`` (its RewardBench subset)."""
    source = row.text("source")
    if source not in _CATEGORY:
        raise row.error("source", f"unknown RewardBench subset {source!r}")
    return PreferenceExample(
        id=f"{language}:{row.raw('id')}",  # ids repeat across languages
        subset=f"{language}/{source}",
        prompt=(ChatMessage(role="user", content=row.text("prompt")),),
        chosen=(row.text("chosen"),),
        rejected=(row.text("rejected"),),
        metadata={"language": language} | {key: row.data[key] for key in ("chosen_model", "rejected_model") if row.has(key)},
    )


def load(benchmark: Benchmark, options: DataOptions, report: ConversionReport) -> LoadedRows:
    """The chosen languages' configs from the Hub, or from a local snapshot (every language folder it holds when none is chosen)."""
    split = options.split or benchmark.default_split
    root = find_local_copy(options.data_path, benchmark.local_dirnames)
    languages = chosen_languages(options.languages)
    if root is not None and not options.languages:
        languages = [language for language in languages if split_files(root / language, split)] or languages
    examples = []
    for language in languages:
        if root is None:
            rows = hub_rows(HUB_ID, split, options.revision, config=language, hint=benchmark.download_hint)
        else:
            files = split_files(root / language, split) if (root / language).is_dir() else []
            if not files:
                found = split_names(root / language) if (root / language).is_dir() else []
                raise DatasetNotAvailableError(f"m-rewardbench: no {language} file for split {split!r} under {root} "
                                               f"(found: {', '.join(found) or 'no such folder'})")
            rows = (row for path in files for row in read_rows(path))
        examples += convert_rows(rows, lambda row, language=language: convert_row(row, language), skip_invalid=options.skip_invalid,
                                 report=report)
    incomplete = None if len(languages) == len(LANGUAGES) else f"{len(languages)} of {len(LANGUAGES)} languages ({', '.join(languages)})"
    return LoadedRows(examples=examples, source=str(root) if root else f"hf://datasets/{HUB_ID}", split=split, revision=options.revision,
                      incomplete=incomplete)


def language_scores(subsets: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Per language: each category present (weighted by EXAMPLE_COUNTS) and ``score``, their plain mean (plot_utils.get_scores)."""
    by_language: dict[str, dict[str, float]] = defaultdict(dict)
    for subset, accuracy in subsets.items():
        by_language[language_of(subset)][subset.partition("/")[2]] = accuracy
    figures = {}
    for language, accuracies in by_language.items():
        categories = section_scores(accuracies, SUBSET_MAPPING, EXAMPLE_COUNTS)
        present = {name: value for name, value in categories.items() if any(s in accuracies for s in SUBSET_MAPPING[name])}
        figures[language] = present | {"score": mean(present.values())}
    return figures


def aggregate(outcomes: Sequence[ExampleOutcome]) -> BenchmarkScores:
    """Subset accuracies per language, each language's categories and score, and their means across languages."""
    subsets = outcome_accuracies(outcomes)
    languages = language_scores(subsets)
    sections = {name: mean(figures[name] for figures in languages.values() if name in figures)
                for name in SECTIONS if any(name in figures for figures in languages.values())}
    extra = {}
    for language, figures in languages.items():
        extra[f"language/{language}"] = figures["score"]
        extra |= {f"language/{language}/{metric_slug(name)}": value for name, value in figures.items() if name != "score"}
    return BenchmarkScores(score=mean(figures["score"] for figures in languages.values()), subsets=subsets, sections=sections, extra=extra)


def gap_to_english(scores: Mapping[str, BenchmarkScores]) -> dict[str, float]:
    """With ``rewardbench`` in the same evaluation: the multilingual average minus the English score."""
    english, multilingual = scores.get("rewardbench"), scores.get("m-rewardbench")
    if english is None or multilingual is None or english.score is None or multilingual.score is None:
        return {}
    return {"m-rewardbench/gap_to_english": multilingual.score - english.score}


M_REWARDBENCH = register_benchmark(
    Benchmark(
        name="m-rewardbench",
        title="M-RewardBench (23 languages)",
        load=load,
        aggregate=aggregate,
        combine=gap_to_english,
        hub_id=HUB_ID,
        default_split=DEFAULT_SPLIT,
        section_rule=category_of,
        section_names=SECTIONS,
        local_dirnames=("multilingual-reward-bench", "m-rewardbench", "m_rewardbench"),
        local_layout="<config>/test-00000-of-00001.parquet, one folder per language (a Hub snapshot)",
        download_hint=download_hint(HUB_ID, "multilingual-reward-bench"),
    ),
    aliases=(HUB_ID, "C4AI-Community/multilingual-reward-bench", "mrewardbench"),
)

