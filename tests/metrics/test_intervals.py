"""Bootstrap intervals and paired differences computed with each benchmark's own aggregation."""

import math

import pytest

from rm_mlflow import DataOptions, ScoringSettings
from rm_mlflow.benchmarking import IntervalOptions, score_reward_model
from rm_mlflow.data import BENCHMARKS
from rm_mlflow.metrics import ExampleOutcome
from rm_mlflow.metrics.intervals import bootstrap_intervals, paired_difference
from tests.helpers import SAMPLE


def test_intervals_are_seeded_contain_the_estimate_and_cover_every_figure(tiny_llama):
    first = score_reward_model(str(tiny_llama), ["rewardbench"], data=SAMPLE, progress=False, intervals=IntervalOptions(resamples=300, seed=7))
    again = score_reward_model(str(tiny_llama), ["rewardbench"], data=SAMPLE, progress=False, intervals=IntervalOptions(resamples=300, seed=7))
    scores = first.benchmarks["rewardbench"].scores
    assert scores.intervals == again.benchmarks["rewardbench"].scores.intervals
    assert set(scores.intervals) == {"score"} | {f"section/{s}" for s in scores.sections} | {f"subset/{s}" for s in scores.subsets}
    for interval in scores.intervals.values():
        assert interval.low <= interval.estimate <= interval.high and interval.level == 0.95
    metrics = first.metrics()
    assert metrics["rewardbench/score_ci_low"] <= metrics["rewardbench/score"] <= metrics["rewardbench/score_ci_high"]
    assert "rewardbench/section/chat_hard_ci_high" in metrics and "rewardbench/subset/alpacaeval-easy_ci_low" in metrics
    off = score_reward_model(str(tiny_llama), ["rewardbench"], data=SAMPLE, progress=False, intervals=IntervalOptions(resamples=0))
    assert not any(key.endswith(("_ci_low", "_ci_high")) for key in off.metrics())


def test_interval_width_shrinks_like_one_over_root_n_on_real_rmb_rows(tiny_llama, shared_data):
    subset = "Pairwise_set/Harmlessness/S2"  # 1,040 real pairs
    widths = {}
    for n in (100, 400):
        report = score_reward_model(
            str(tiny_llama), ["rmb"], data=DataOptions(data_dir=shared_data, subsets=(subset,), limit=n, skip_invalid=True),
            settings=ScoringSettings(truncation="left", max_length=256), progress=False, intervals=IntervalOptions(resamples=1000),
        )
        interval = report.benchmarks["rmb"].scores.intervals[f"subset/{subset}"]
        widths[n] = interval.high - interval.low
        print(f"n={n}: accuracy {interval.estimate:.4f} [{interval.low:.4f}, {interval.high:.4f}] width {widths[n]:.4f}")
    ratio = widths[100] / widths[400]
    print(f"width ratio n=100 / n=400: {ratio:.2f} (1/sqrt(n) predicts 2.00)")
    assert 1.6 < ratio < 2.5


def test_ties_are_resampled_by_prompt_and_identical_evaluations_differ_by_nothing():
    rb2 = BENCHMARKS.get("rewardbench2")
    outcomes = []
    for prompt in range(12):
        outcomes.append(ExampleOutcome(f"ref:{prompt}", "Ties", (3.0 + prompt % 3,), (1.0, 2.0), None))
        outcomes.append(ExampleOutcome(f"tied:{prompt}", "Ties", (3.0, 2.5 + prompt % 2), (1.0,), None))
        outcomes.append(ExampleOutcome(str(prompt), "Focus", (float(prompt % 2),), (0.5, 0.2, 0.1), float(prompt % 2)))
    intervals = bootstrap_intervals(outcomes, rb2.aggregate, resamples=200, cluster_of=rb2.cluster_of)
    assert intervals["subset/Ties"].low <= intervals["subset/Ties"].estimate <= intervals["subset/Ties"].high
    same = paired_difference(outcomes, outcomes, rb2.aggregate, resamples=200, cluster_of=rb2.cluster_of)
    assert all((d.delta, d.low, d.high, d.probability_better) == (0.0, 0.0, 0.0, 0.0) for d in same.values())


def test_a_clearly_better_candidate_is_better_with_high_probability():
    rb = BENCHMARKS.get("rewardbench")
    base = [ExampleOutcome(str(i), "alpacaeval-easy", (0.0,), (1.0,), float(i % 3 == 0)) for i in range(60)]
    better = [ExampleOutcome(str(i), "alpacaeval-easy", (0.0,), (1.0,), float(i % 3 != 2)) for i in range(60)]
    difference = paired_difference(better, base, rb.aggregate, resamples=500)["score"]
    assert difference.delta == pytest.approx(1 / 3) and difference.probability_better > 0.99 and difference.low > 0
    assert not math.isnan(difference.high)
