"""End to end: benchmarks -> engine -> metrics, checked against scores computed independently, as rewardbench does."""

import dataclasses
import json
import subprocess
import sys

import pandas as pd
import pytest

from rm_mlflow import DataOptions, ScoringSettings
from rm_mlflow.benchmarking import score_reward_model
from rm_mlflow.card.model_index import build_eval_results
from rm_mlflow.data.benchmarks.rewardbench import EXAMPLE_COUNTS, SUBSET_MAPPING
from rm_mlflow.results import format_summary, read_results, throughput_line, write_results
from rm_mlflow.tracking.recording import run_tags
from rm_mlflow.tracking.version_tags import succeeded_tags
from tests.helpers import REPO_ROOT, SAMPLE_DATA, reference_scores, write_jsonl

RMB_SUBSETS = ["Pairwise_set/Harmlessness/S1", "BoN_set/Helpfulness/Code/Documentation"]


def test_rewardbench_accuracies_equal_the_reference_rule(tiny_llama):
    report = score_reward_model(str(tiny_llama), ["rewardbench"], data=DataOptions(data_dir=SAMPLE_DATA), progress=False)
    rows = [json.loads(line) for line in (SAMPLE_DATA / "reward-bench" / "filtered.jsonl").open()]
    conversations = []
    for row in rows:
        for response in (row["chosen"], row["rejected"]):
            conversations.append([{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": response}])
    scores = reference_scores(tiny_llama, conversations)
    correct = [1 if c > r else 0 for c, r in zip(scores[::2], scores[1::2], strict=True)]
    results = pd.DataFrame({"subset": [r["subset"] for r in rows], "correct": correct})
    expected_subsets = results.groupby("subset")["correct"].mean().to_dict()
    scores_out = report.benchmarks["rewardbench"].scores
    assert scores_out.subsets == expected_subsets
    for section, subsets in SUBSET_MAPPING.items():
        weighted = sum(expected_subsets[s] * EXAMPLE_COUNTS[s] for s in subsets) / sum(EXAMPLE_COUNTS[s] for s in subsets)
        assert scores_out.sections[section] == pytest.approx(weighted)
    assert scores_out.score == pytest.approx(sum(scores_out.sections.values()) / 4)
    metrics = report.metrics()
    assert metrics["rewardbench/section/chat_hard"] == scores_out.sections["Chat Hard"]
    assert metrics["rewardbench/subset/alpacaeval-easy"] == expected_subsets["alpacaeval-easy"]
    assert metrics["throughput/examples"] == 25 and metrics["throughput/examples_per_second"] > 0


def test_rmb_real_rows_pairwise_and_best_of_n(tiny_llama, shared_data, tmp_path):
    report = score_reward_model(
        str(tiny_llama), ["rmb"], data=DataOptions(data_dir=shared_data, subsets=RMB_SUBSETS, limit=30),
        settings=ScoringSettings(truncation="left", max_length=512), progress=False,
    )
    rmb = report.benchmarks["rmb"]
    table = rmb.examples
    assert len(table) == 45  # 30 pairs + all 15 best-of-N rows of that scenario
    bon = table[table["subset"].str.startswith("BoN")]
    expected_bon = [float(min(c) > max(r)) for c, r in zip(bon["chosen_scores"], bon["rejected_scores"], strict=True)]
    assert rmb.scores.sections["bon/helpfulness"] == pytest.approx(sum(expected_bon) / len(expected_bon))
    assert set(rmb.scores.sections) == {"bon/helpfulness", "pairwise/harmlessness"}
    assert rmb.scores.score == pytest.approx(sum(rmb.scores.sections.values()) / 2)
    paths = write_results(report, tmp_path)
    saved = json.loads(paths["results"].read_text())
    assert saved["benchmarks"]["rmb"]["score"] == pytest.approx(rmb.scores.score)
    written = pd.read_parquet(paths["rmb_scores"])
    assert len(written) == 45 and set(written["section"]) == {"bon/helpfulness", "pairwise/harmlessness"}  # RMB's section, filled in

    # two scenarios of RMB, cut to 30 rows each: partial, said everywhere its score could be read as RMB's
    partial = f"only --subsets {','.join(RMB_SUBSETS)}; --limit 30: 45 of "
    assert rmb.partial.startswith(partial) and rmb.partial.endswith("; no data for bon/harmlessness, pairwise/helpfulness")
    assert saved["benchmarks"]["rmb"]["partial"] == rmb.partial
    assert f"SCORE rmb: {rmb.scores.score:.4f}" in format_summary(report) and f"(PARTIAL: {rmb.partial})" in format_summary(report)
    document = read_results(paths["results"])
    assert run_tags(document)["rm_mlflow.partial"] == f"rmb: {rmb.partial}"
    assert build_eval_results(document) == []  # the model card never shows it as RMB's score
    tags, _ = succeeded_tags(report.metrics(), "run-1", ["rmb"], partial=run_tags(document)["rm_mlflow.partial"])
    assert tags["rm_eval.partial"] == f"rmb: {rmb.partial}" and tags["rm_eval.score"] == f"{rmb.scores.score:.6f}"


def test_prior_sets_and_core_give_the_original_leaderboard_score(tiny_llama, tmp_path):
    prompt = [{"role": "user", "content": "Say something kind."}]
    for split in ("anthropic_helpful", "anthropic_hhh", "shp", "summarize", "mtbench_gpt4"):
        write_jsonl(tmp_path / "pref-test-sets" / f"{split}.jsonl", [{"prompt": prompt, "chosen": "You are doing great.", "rejected": "No."}] * 2)
    (tmp_path / "reward-bench").symlink_to(SAMPLE_DATA / "reward-bench")
    report = score_reward_model(str(tiny_llama), ["rewardbench", "rewardbench-prior"], data=DataOptions(data_dir=tmp_path), progress=False)
    core, prior = report.benchmarks["rewardbench"].scores, report.benchmarks["rewardbench-prior"].scores
    expected = (2 * sum(core.sections.values()) + prior.score) / 9
    assert report.combined["rewardbench/score_original"] == pytest.approx(expected)
    assert report.throughput["distinct_conversations"] == 50 + 2  # the prior-set rows repeat one pair


def test_rewardbench2_ties_and_partial_credit(tiny_llama, tmp_path):
    rows = [
        {"id": "1", "prompt": "Name a fruit.", "chosen": ["Apple."], "rejected": ["Car.", "Blue.", "Seven."], "subset": "Focus"},
        {"id": "ref:3", "prompt": "Name a prime.", "chosen": ["Two."], "rejected": ["Four.", "Nine."], "subset": "Ties"},
        {"id": "tied:3", "prompt": "Name a prime.", "chosen": ["Two.", "Three."], "rejected": ["Four."], "subset": "Ties"},
    ]
    write_jsonl(tmp_path / "reward-bench-2" / "test.jsonl", rows)
    report = score_reward_model(str(tiny_llama), ["rewardbench2"], data=DataOptions(data_dir=tmp_path), progress=False)
    rb2 = report.benchmarks["rewardbench2"]
    focus = rb2.examples.iloc[0]
    scores = [*focus["chosen_scores"], *focus["rejected_scores"]]
    assert rb2.scores.subsets["Focus"] == (1.0 / scores.count(max(scores)) if scores[0] == max(scores) else 0.0)
    assert set(rb2.scores.subsets) == {"Focus", "Ties"} and "ties/ref_accuracy" in rb2.scores.extra


def test_cli_evaluate_prints_scores_and_writes_results(tiny_llama, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "rewardbench",
               "--data-dir", str(SAMPLE_DATA), "--batch_size", "8", "--output", str(out), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "section Chat Hard" in result.stdout and "SCORE rewardbench:" in result.stdout and "examples/s" in result.stdout
    assert (out / "results.json").exists() and (out / "rewardbench_scores.parquet").exists()
    # a rerun resumes from the score cache: nothing is scored twice
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert "(50 from cache)" in again.stdout


def test_cli_bad_input_is_one_clear_line(tmp_path, tiny_llama):
    bad = write_jsonl(tmp_path / "prefs.jsonl", [{"prompt": "Q", "chosen": "A", "rejected": "B"}, {"prompt": "Q", "chosen": ["x"], "rejected": "B"}])
    result = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", str(bad), "--output", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rm-mlflow: error: ") and "prefs.jsonl, row 2, field 'chosen[0]'" in last
    assert "Traceback" not in result.stderr


def test_instruction_set_is_scored_without_accuracy(tiny_llama, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": f"Count to {n}."}, {"role": "assistant", "content": " ".join(map(str, range(1, n + 1)))}]}
        for n in (2, 3, 4)
    ]
    report = score_reward_model(str(tiny_llama), [str(write_jsonl(tmp_path / "sft.jsonl", rows))], progress=False)
    scores = report.benchmarks["sft"].scores
    assert scores.score is None and scores.subsets == {}
    assert report.benchmarks["sft"].examples["correct"].isna().all()
    metrics = report.metrics()
    assert "sft/score" not in metrics and metrics["sft/num_examples"] == 3 and "sft/chosen_score_mean" in metrics


def test_a_resumed_run_reports_the_work_it_did_and_the_cached_share_apart(tiny_llama, tmp_path):
    out = tmp_path / "out"
    base = [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "rewardbench",
            "--data-dir", str(SAMPLE_DATA), "--output", str(out), "--quiet"]
    assert subprocess.run([*base, "--limit", "1"], capture_output=True, cwd=REPO_ROOT, timeout=300).returncode == 0  # 23 of 25 rows
    resumed = subprocess.run(base, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    results = json.loads((out / "results.json").read_text())
    t = results["throughput"]
    assert (t["cached_conversations"], t["scored_conversations"], t["distinct_conversations"]) == (46.0, 4.0, 50.0)
    assert t["cached_share"] == pytest.approx(46 / 50)
    # rates count only the 4 conversations scored now (before: all 50 over this run's seconds, e.g. "197 examples/s")
    assert t["conversations_per_second"] == pytest.approx(4 / t["seconds"])
    assert t["tokens_per_second"] == pytest.approx(t["scored_tokens"] / t["seconds"]) and t["scored_tokens"] < t["tokens"]
    # the key is there in every run (a resumed run's metric set equals a fresh one's); its value does not apply here
    assert t["examples_per_second"] is None and results["metrics"]["throughput/examples_per_second"] is None
    assert "4 scored now" in resumed.stdout and "resumed (46 from cache)" in resumed.stdout


def test_a_results_folder_keeps_no_file_of_an_earlier_evaluation(tiny_llama, tmp_path):
    prefs = write_jsonl(tmp_path / "prefs.jsonl", [{"prompt": "2+2?", "chosen": "4", "rejected": "5"}])
    report = score_reward_model(str(tiny_llama), ["rewardbench", str(prefs)], data=DataOptions(data_dir=SAMPLE_DATA), progress=False)
    out = tmp_path / "out"
    write_results(report, out)
    assert (out / "prefs_scores.parquet").is_file()
    write_results(dataclasses.replace(report, benchmarks={"rewardbench": report.benchmarks["rewardbench"]}), out)
    assert not (out / "prefs_scores.parquet").exists() and (out / "rewardbench_scores.parquet").is_file()
    assert list(read_results(out / "results.json").benchmarks) == ["rewardbench"]


def test_the_throughput_line_says_why_fewer_were_scored_than_were_distinct():
    figures = {"examples": 184, "distinct_conversations": 367, "scored_conversations": 366, "cached_conversations": 0, "scored_tokens": 9000,
               "seconds": 2.0, "conversations_per_second": 183.0, "tokens_per_second": 4500.0, "examples_per_second": 92.0, "cached_share": 0.0}
    assert "366 scored now (9000 tokens, 1 token-identical to another) in 2.0s" in throughput_line(figures)
