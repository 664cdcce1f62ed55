"""M-RewardBench: loaded from files in the published schema (filled with RMB's real multilingual rows), scored, and
aggregated exactly as the authors' own get_scores (analysis/plot_utils.py, run from its source) aggregates."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.data.benchmarks.m_rewardbench import EXAMPLE_COUNTS, SUBSET_MAPPING, chosen_languages
from rm_mlflow.data.options import DataOptions
from rm_mlflow.errors import DatasetNotAvailableError, OptionError
from rm_mlflow.metrics.outcomes import metric_slug
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.results import read_results
from rm_mlflow.tracking.plots import write_plots
from tests.helpers import SAMPLE_DATA
from tests.upstream import m_rewardbench_plot_utils

LANGUAGES = ("deu_Latn", "jpn_Jpan", "zho_Hans")
ROWS_PER_SUBSET = 2
SHORT = {"max_length": 512, "truncation": "left", "batch_size": 16}


def _rmb_pairs(shared_data: Path) -> list[dict]:
    """RMB's pairwise rows whose prompt is mostly not ASCII (translation and other multilingual requests), in file order."""
    pairs = []
    for path in sorted((shared_data / "rmb" / "RMB_dataset" / "Pairwise_set").rglob("*.json")):
        for row in json.loads(path.read_text()):
            prompt = row["conversation_input"][-1]["content"]
            if len(re.findall(r"[^\x00-\x7f]", prompt)) > 20 and len(prompt) < 2500:
                pairs.append({"prompt": prompt, "chosen": row["chosen"]["answer"], "rejected": row["reject"]["answer"],
                              "chosen_model": row["chosen"].get("llm_name", ""), "rejected_model": row["reject"].get("llm_name", "")})
    return pairs


@pytest.fixture(scope="module")
def snapshot(shared_data, tmp_path_factory) -> Path:
    """A data folder holding a Hub-shaped M-RewardBench snapshot for three languages (every subset, two rows each) and the
    shipped RewardBench sample, so one run scores English and the translations."""
    pairs = iter(_rmb_pairs(shared_data))
    root = tmp_path_factory.mktemp("m-rewardbench-data")
    shutil.copytree(SAMPLE_DATA / "reward-bench", root / "reward-bench")
    for language in LANGUAGES:
        rows = []
        for source in EXAMPLE_COUNTS:
            for _ in range(ROWS_PER_SUBSET):
                pair = next(pairs)
                rows.append({"id": len(rows), "language": language, "prompt": pair["prompt"], "chosen": pair["chosen"],
                             "rejected": pair["rejected"], "chosen_model": pair["chosen_model"], "rejected_model": pair["rejected_model"],
                             "source": source})
        (root / "multilingual-reward-bench" / language).mkdir(parents=True)
        pd.DataFrame(rows).astype({"id": "int64"}).to_parquet(root / "multilingual-reward-bench" / language / "test-00000-of-00001.parquet")
    return root


@pytest.fixture(scope="module")
def run(tiny_llama, snapshot, tmp_path_factory):
    folder = tmp_path_factory.mktemp("m-rewardbench-run")
    outcome = run_evaluation(EvaluationRequest(model=str(tiny_llama), datasets=["rewardbench", "m-rewardbench"],
                                               data=DataOptions(data_dir=str(snapshot)), settings=SHORT, output_dir=folder, progress=False,
                                               intervals=IntervalOptions(resamples=0)))
    return outcome, read_results(folder / "results.json").benchmarks["m-rewardbench"], pd.read_parquet(folder / "m-rewardbench_scores.parquet")


def _authors_result_file(table: pd.DataFrame, folder: Path) -> None:
    """What scripts/run_rewardbench.py saves for one language (lines 392-418 at 5e5a0d3): ``extra_results`` is its
    ``results_grouped``, each subset's ``num_correct / num_total`` over ``results.append(1) if chosen > rejected``."""
    results = [1 if chosen[0] > rejected[0] else 0 for chosen, rejected in zip(table["chosen_scores"], table["rejected_scores"], strict=True)]
    subsets = [subset.partition("/")[2] for subset in table["subset"]]
    grouped = {subset: sum(r for r, s in zip(results, subsets, strict=True) if s == subset) / subsets.count(subset) for subset in set(subsets)}
    folder.mkdir(parents=True)
    (folder / "tiny.json").write_text(json.dumps({"accuracy": sum(results) / len(results), "num_prompts": len(results), "model": "tiny",
                                                  "ref_model": None, "tokenizer": "tiny", "chat_template": "tokenizer",
                                                  "extra_results": grouped}))


def test_the_authors_get_scores_gives_our_per_language_figures_and_their_mean_is_our_score(run, tmp_path):
    outcome, ours, table = run
    assert (EXAMPLE_COUNTS, SUBSET_MAPPING) == (m_rewardbench_plot_utils.EXAMPLE_COUNTS, m_rewardbench_plot_utils.SUBSET_MAPPING)
    assert set(table["subset"].str.partition("/")[0]) == set(LANGUAGES) and len(table) == len(LANGUAGES) * 23 * ROWS_PER_SUBSET
    assert ours.partial == "3 of 23 languages (zho_Hans, deu_Latn, jpn_Jpan)"  # the snapshot holds three: not the benchmark's score
    theirs = {}
    for language in LANGUAGES:
        _authors_result_file(table[table["subset"].str.startswith(language + "/")], tmp_path / language)
        (result,) = m_rewardbench_plot_utils.get_scores(tmp_path / language)
        theirs[language] = result
        assert ours.extra[f"language/{language}"] == pytest.approx(result["score"], abs=1e-12)
        for category, value in result["category_scores"].items():
            assert ours.extra[f"language/{language}/{metric_slug(category)}"] == pytest.approx(value, abs=1e-12)
        for subset, value in result["subset_scores"].items():
            assert ours.subsets[f"{language}/{subset}"] == pytest.approx(value, abs=1e-12)
    assert ours.score == pytest.approx(sum(r["score"] for r in theirs.values()) / len(theirs), abs=1e-12)
    for category in ("Chat", "Chat Hard", "Safety", "Reasoning"):
        assert ours.sections[category] == pytest.approx(sum(r["category_scores"][category] for r in theirs.values()) / len(theirs), abs=1e-12)
    english = read_results(outcome.results_dir / "results.json").benchmarks["rewardbench"].score
    assert outcome.metrics["m-rewardbench/gap_to_english"] == pytest.approx(ours.score - english, abs=1e-12)
    assert set(table["section"]) == {"Chat", "Chat Hard", "Safety", "Reasoning"}
    written = {path.name for path in write_plots(outcome.report, tmp_path / "plots")}  # what a logged run gets
    assert "m-rewardbench_languages.png" in written and "m-rewardbench_subset_accuracy.png" not in written  # a bar per language, not per subset


def test_languages_are_chosen_by_flores_or_iso_code_and_bad_ones_are_refused():
    assert chosen_languages(["de", "jpn_Jpan", "zh"]) == ["zho_Hans", "deu_Latn", "jpn_Jpan"]
    assert len(chosen_languages([])) == 23
    with pytest.raises(OptionError, match="unknown language.*xx"):
        chosen_languages(["de", "xx"])
    with pytest.raises(OptionError, match="translation config is not supported"):
        chosen_languages(["translation"])


def test_only_the_chosen_languages_load_and_a_missing_one_is_named(snapshot):
    from rm_mlflow.data.loading import load_benchmarks

    (loaded,) = load_benchmarks(["m-rewardbench"], DataOptions(data_dir=str(snapshot), languages="de,ja"))
    assert {example.subset.partition("/")[0] for example in loaded.examples} == {"deu_Latn", "jpn_Jpan"}
    with pytest.raises(DatasetNotAvailableError, match="no fra_Latn file for split 'test'"):
        load_benchmarks(["m-rewardbench"], DataOptions(data_dir=str(snapshot), languages="fr"))


def test_offline_without_a_copy_the_message_names_the_download(tmp_path):
    from rm_mlflow.data.loading import load_benchmarks

    with pytest.raises(DatasetNotAvailableError) as error:
        load_benchmarks(["m-rewardbench"], DataOptions(data_dir=str(tmp_path)))
    message = str(error.value)
    assert "CohereLabsCommunity/multilingual-reward-bench (config 'arb_Arab', split 'test') is not available offline" in message
    assert "hf download CohereLabsCommunity/multilingual-reward-bench --repo-type dataset --local-dir DATA_DIR/multilingual-reward-bench" in message
