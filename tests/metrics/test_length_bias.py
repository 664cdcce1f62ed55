"""The longer-answer baseline and the model's length figures, against a hand computation on the shipped sample."""

import json
import math

import evaluate
import pandas as pd
import pytest
from scipy.stats import spearmanr

import rm_mlflow
from rm_mlflow.benchmarking import score_reward_model
from rm_mlflow.data import load_benchmark
from rm_mlflow.data.benchmarks.rewardbench import EXAMPLE_COUNTS, SUBSET_MAPPING
from rm_mlflow.metrics import section_scores
from tests.helpers import SAMPLE, write_jsonl


def test_length_baseline_and_figures_on_the_sample(tiny_llama):
    report = score_reward_model(str(tiny_llama), ["rewardbench"], data=SAMPLE, progress=False)
    bias = report.benchmarks["rewardbench"].length_bias
    examples = load_benchmark("rewardbench", SAMPLE).examples
    longer_wins = {e.id: float(len(e.chosen[0]) > len(e.rejected[0])) for e in examples}
    by_subset = pd.DataFrame([{"subset": e.subset, "win": longer_wins[e.id]} for e in examples]).groupby("subset")["win"].mean().to_dict()
    sections = section_scores(by_subset, SUBSET_MAPPING, EXAMPLE_COUNTS)
    assert bias.baseline.score == pytest.approx(sum(sections.values()) / 4)  # the leaderboard formula applied to "longer wins"
    assert {s: f.baseline_accuracy for s, f in bias.subsets.items()} == pytest.approx(by_subset)

    table = report.benchmarks["rewardbench"].examples
    longer = table[[c[0] > r[0] for c, r in zip(table["chosen_chars"], table["rejected_chars"], strict=True)]]
    assert bias.overall.accuracy_chosen_longer == pytest.approx(longer["correct"].mean()) and bias.overall.examples_chosen_longer == len(longer)
    scores = [s for row in table.itertuples() for s in (*row.chosen_scores, *row.rejected_scores)]
    sizes = [n for row in table.itertuples() for n in (*row.chosen_chars, *row.rejected_chars)]
    assert bias.overall.score_length_spearman == pytest.approx(spearmanr(scores, sizes).statistic)
    metrics = report.metrics()
    assert metrics["rewardbench/length/baseline_score"] == bias.baseline.score
    print(f"\nsample: longer-answer baseline {bias.baseline.score:.4f}; model {report.benchmarks['rewardbench'].scores.score:.4f}; "
          f"chosen longer {bias.overall.accuracy_chosen_longer:.4f} (n={bias.overall.examples_chosen_longer}), "
          f"shorter {bias.overall.accuracy_chosen_shorter:.4f} (n={bias.overall.examples_chosen_shorter}), "
          f"spearman {bias.overall.score_length_spearman:+.3f}")


def test_the_evaluate_metric_gives_exactly_our_scores(tiny_llama, tmp_path):
    rows = [
        {"id": "1", "prompt": "Name a fruit.", "chosen": ["Apple."], "rejected": ["Car.", "Blue.", "Seven."], "subset": "Focus"},
        {"id": "ref:3", "prompt": "Name a prime.", "chosen": ["Two."], "rejected": ["Four.", "Nine."], "subset": "Ties"},
        {"id": "tied:3", "prompt": "Name a prime.", "chosen": ["Two.", "Three."], "rejected": ["Four."], "subset": "Ties"},
    ]
    write_jsonl(tmp_path / "reward-bench-2" / "test.jsonl", rows)
    (tmp_path / "reward-bench").symlink_to(SAMPLE.data_path / "reward-bench")
    report = score_reward_model(str(tiny_llama), ["rewardbench", "rewardbench2"], data=rm_mlflow.DataOptions(data_dir=tmp_path), progress=False)
    for name in ("rewardbench", "rewardbench2"):
        table = report.benchmarks[name].examples
        metric = evaluate.load(rm_mlflow.evaluate_metric_path(), config_name=name)
        computed = metric.compute(chosen_scores=[list(x) for x in table["chosen_scores"]],
                                  rejected_scores=[list(x) for x in table["rejected_scores"]], subsets=list(table["subset"]), ids=list(table["id"]))
        ours = {key.removeprefix(f"{name}/"): value for key, value in report.metrics().items()
                if key.startswith(f"{name}/") and key.removeprefix(f"{name}/").split("/")[0] in ("score", "section", "subset")
                and not key.endswith(("_ci_low", "_ci_high"))}
        assert computed == ours and not any(math.isnan(v) for v in computed.values())
    assert json.dumps(computed)
