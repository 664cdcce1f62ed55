"""JudgeBench, RM-Bench and RewardMATH: each benchmark's official scoring function, run from its authors' source
(``tests/upstream/``, copied unchanged), on the per-example scores our run wrote for every row in ../shared/data,
gives every figure we report."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.data.options import DataOptions
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.results import read_results
from tests.helpers import JUDGE_KEY_ENV
from tests.upstream import judgebench_metrics, rewardmath_eval, rm_bench_scoring

SHORT = {"max_length": 512, "truncation": "left", "batch_size": 16}  # every row, on 2 CPU cores, in about a minute
JUDGEBENCH_FILES = {"gpt": "dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl",
                    "claude": "dataset=judgebench,response_model=claude-3-5-sonnet-20240620.jsonl"}


def _evaluate(model: Path | str, datasets: list[str], folder: Path, data: DataOptions, **settings) -> tuple[dict, Path]:
    run_evaluation(EvaluationRequest(model=str(model), datasets=datasets, data=data, settings=SHORT | settings, output_dir=folder,
                                     progress=False, intervals=IntervalOptions(resamples=0)))
    return read_results(folder / "results.json").benchmarks, folder


@pytest.fixture(scope="module")
def runs(tiny_llama, shared_data, tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    """One run over all three benchmarks (JudgeBench's gpt split) and one over JudgeBench's claude split."""
    data = DataOptions(data_dir=str(shared_data))
    return {
        "all": _evaluate(tiny_llama, ["judgebench", "rm-bench", "rewardmath"], tmp_path_factory.mktemp("upstream-all"), data),
        "claude": _evaluate(tiny_llama, ["judgebench"], tmp_path_factory.mktemp("upstream-claude"),
                            DataOptions(data_dir=str(shared_data), split="claude")),
    }


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _upstream_reward_model_pairs(source: Path, table: pd.DataFrame) -> list[dict]:
    """Upstream's pairs with each game judged by its reward-model rule (``'A>B' if score_A > score_B else 'B>A'``) on our scores."""
    scores = {row.id: (row.chosen_scores[0], row.rejected_scores[0]) for row in table.itertuples()}
    pairs = []
    for pair in _jsonl(source):
        chosen, rejected = scores[pair["pair_id"]]
        score_a, score_b = (chosen, rejected) if pair["label"] == "A>B" else (rejected, chosen)
        first = "A>B" if score_a > score_b else "B>A"  # get_judgment(question, response_A, response_B)
        second = "A>B" if score_b > score_a else "B>A"  # get_judgment(question, response_B, response_A)
        pairs.append(pair | {"judgments": [{"decision": first}, {"decision": second}]})
    return pairs


def _assert_judgebench_matches(pairs: list[dict], figures) -> None:
    prefixes = [prefix for prefix in ("mmlu-pro", "livebench-reasoning", "livebench-math", "livecodebench")
                if any(pair["source"].startswith(prefix) for pair in pairs)]
    assert sorted(prefixes) == sorted(figures.sections)
    for prefix in prefixes:
        upstream = judgebench_metrics.compute_final_metrics(pairs, True, include_fn=lambda pair, p=prefix: pair["source"].startswith(p))
        assert upstream == pytest.approx(100 * figures.sections[prefix], abs=1e-9), prefix
    assert judgebench_metrics.compute_final_metrics(pairs, True) == pytest.approx(100 * figures.score, abs=1e-9)


@pytest.mark.parametrize("split", ["gpt", "claude"])
def test_judgebench_figures_are_upstreams_compute_final_metrics(runs, shared_data, split):
    benchmarks, folder = runs["all" if split == "gpt" else "claude"]
    table = pd.read_parquet(folder / "judgebench_scores.parquet")
    source = shared_data / "judgebench" / JUDGEBENCH_FILES[split]
    pairs = _upstream_reward_model_pairs(source, table)
    assert len(pairs) == len(table) == {"gpt": 350, "claude": 270}[split]
    _assert_judgebench_matches(pairs, benchmarks["judgebench"])
    extra = benchmarks["judgebench"].extra
    both_right = sum(p["judgments"][0]["decision"] == p["label"] and p["judgments"][1]["decision"] != p["label"] for p in pairs)
    assert extra["games/both_right"] == both_right and extra["games/right"] + extra["games/wrong"] + extra["games/tie"] == len(pairs)


def test_judgebench_tie_nets_to_a_tie_and_single_game_follows_the_published_order():
    from rm_mlflow.data.benchmarks.judgebench import convert_pair, game_votes
    from rm_mlflow.data.validation import Row
    from rm_mlflow.scoring.base import ExampleScores

    for label in ("A>B", "B>A"):
        fields = {"pair_id": "p", "source": "livecodebench", "question": "q", "response_A": "a", "response_B": "b", "label": label}
        row = Row("pairs.jsonl", 1, fields)
        tie = ExampleScores(chosen=(0.5,), rejected=(0.5,))
        pair = {"label": label, "source": "livecodebench", "judgments": [{"decision": "B>A"}, {"decision": "B>A"}]}  # upstream on a tie
        assert sum(game_votes(convert_pair(row, single_game=False), tie)) == 0
        assert judgebench_metrics.compute_final_metrics([pair], True) == 0.0
        single = game_votes(convert_pair(row, single_game=True), tie)
        assert (single == (1,)) == (judgebench_metrics.compute_final_metrics([pair], False) == 100.0)


def test_a_generative_judge_plays_both_judgebench_games_through_an_endpoint(judge_server, shared_data, tmp_path):
    """The tiny judge always answers A: every pair is one right and one wrong game, so all are ties and all inconsistent.

    Six real pairs, each text cut to its first 200 characters: the tiny judge answers in its format only on prompts
    near the length it was trained on (on whole JudgeBench rows it gives no verdict).
    """
    rows = [row | {field: row[field][:200] for field in ("question", "response_A", "response_B")}
            for row in _jsonl(shared_data / "judgebench" / JUDGEBENCH_FILES["gpt"])[:6]]
    (tmp_path / "data" / "judgebench").mkdir(parents=True)
    (tmp_path / "data" / "judgebench" / JUDGEBENCH_FILES["gpt"]).write_text("".join(json.dumps(row) + "\n" for row in rows[:6]))
    data = DataOptions(data_dir=str(tmp_path / "data"))
    settings = {"judge_endpoint": judge_server.url, "judge_api_key_env": JUDGE_KEY_ENV, "max_new_tokens": 24, "judge_concurrency": 1}
    run_evaluation(EvaluationRequest(model=str(judge_server.model_dir), datasets=["judgebench"], data=data, settings=settings | {"max_length": 4096},
                                     model_kind="generative", output_dir=tmp_path / "out", progress=False, intervals=IntervalOptions(resamples=0)))
    figures = read_results(tmp_path / "out" / "results.json").benchmarks["judgebench"]
    table = pd.read_parquet(tmp_path / "out" / "judgebench_scores.parquet")
    assert all(list(orders) == ["chosen,rejected", "rejected,chosen"] or list(orders) == ["rejected,chosen", "chosen,rejected"]
               for orders in table["judge_orders"])
    raw = {pair["pair_id"]: pair for pair in rows}
    pairs = [raw[row.id] | {"judgments": [{"decision": {"A": "A>B", "B": "B>A"}.get(verdict)} for verdict in row.judge_verdicts]}
             for row in table.itertuples()]
    _assert_judgebench_matches(pairs, figures)
    # upstream's consistency counts, as compute_final_metrics counts them (it returns only the accuracy)
    games = [(p["label"], p["judgments"][0]["decision"], judgebench_metrics.flip_judgment(p["judgments"][1]["decision"])) for p in pairs]
    expected = {
        "both_right": sum(first == label and second == label for label, first, second in games),
        "both_wrong": sum(first != label and second != label for label, first, second in games),
        "inconsistent": sum(first != second for _, first, second in games),
        "no_decision": sum(first is None or second is None for _, first, second in games),
    }
    assert {name: figures.extra[f"games/{name}"] for name in expected} == expected
    assert len(pairs) == 6 and expected["both_right"] == 0  # a judge that always answers A never gets both games right
    assert sum(figures.extra[f"games/{outcome}"] for outcome in ("right", "wrong", "tie")) == 6


def test_rm_bench_figures_are_upstreams_compute_accuracy(runs, shared_data, monkeypatch):
    benchmarks, folder = runs["all"]
    figures = benchmarks["rm-bench"]
    table = pd.read_parquet(folder / "rm-bench_scores.parquet")
    assert len(table) == 798
    results = [{"domain": row.subset, "score_chosen": list(row.chosen_scores), "score_rejected": list(row.rejected_scores)}
               for row in table.itertuples()]
    by_domain = defaultdict(list)
    for result in results:
        by_domain[result["domain"].split("-")[0]].append({k: v for k, v in result.items() if k != "domain"})
    for domain, rows in by_domain.items():
        upstream = rm_bench_scoring.compute_accuracy(rows)
        assert {level: figures.extra[f"{domain}/{level.removesuffix('_acc')}"] for level in upstream} == upstream, domain
    # upstream's total_dataset.json path, on the domains present (its split also yields an empty, unscorable math domain)
    split = rm_bench_scoring.split_dataset_by_domain
    monkeypatch.setattr(rm_bench_scoring, "split_dataset_by_domain", lambda dataset: {d: rows for d, rows in split(dataset).items() if rows})
    total = rm_bench_scoring.compute_accuracy(results)
    assert total["total_avg_acc"] == figures.score
    assert {domain: total[domain] for domain in ("chat", "code", "safety")} == figures.sections
    assert {level: figures.extra[level.removesuffix("_acc")] for level in ("hard_acc", "normal_acc", "easy_acc")} == \
        {level: total[level] for level in ("hard_acc", "normal_acc", "easy_acc")}
    assert benchmarks["rm-bench"].partial == "no data for math"


def test_rewardmath_figures_are_upstreams_evaluation(runs, shared_data):
    benchmarks, folder = runs["all"]
    table = pd.read_parquet(folder / "rewardmath_scores.parquet").set_index("id")
    rows = json.loads((shared_data / "rewardmath-sample" / "RewardMATH_direct.json").read_text())
    problems: dict[str, dict] = {}
    for row in rows:  # upstream's result file: per problem, each solution's source and score in file order
        ours = table.loc[str(row["problem_id"])]
        problem = problems.setdefault(str(row["problem_id"]), {"problem": row["problem"], "solution_reference": [], "score": [], "rejected": 0})
        if row["solution_type"] == "chosen":
            score = ours.chosen_scores[0]
        else:
            score, problem["rejected"] = ours.rejected_scores[problem["rejected"]], problem["rejected"] + 1
        problem["solution_reference"].append(row["solution_reference"])
        problem["score"].append(score)
    upstream = rewardmath_eval.RewardMATHEvaluation(list(problems.values()), ["normal"]).get_results()["normal"]
    figures = benchmarks["rewardmath"]
    assert len(upstream["reward Acc"]) == 2
    assert figures.score == sum(upstream["reward Acc"]) / len(upstream["reward Acc"])
    assert figures.extra["mrr"] == sum(upstream["reward MRR"]) / len(upstream["reward MRR"])


def test_compare_reads_the_new_benchmarks_back_from_their_tables(runs):
    """``rm-mlflow compare`` (and so the gate) re-aggregates each benchmark from its per-example table: votes and matrices included."""
    from rm_mlflow.comparison import compare_folders

    benchmarks, folder = runs["all"]
    comparison = compare_folders(folder, folder, resamples=50)
    assert set(comparison.benchmarks) == {"judgebench", "rm-bench", "rewardmath"}
    for name, compared in comparison.benchmarks.items():
        assert compared.differences["score"].delta == 0.0, name
    assert {"section/chat", "section/code", "section/safety"} <= set(comparison.benchmarks["rm-bench"].differences)
