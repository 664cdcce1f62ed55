import math

import pytest

from rm_mlflow.data.benchmarks.rewardbench2 import ties_subset_score
from rm_mlflow.metrics import shared_top_credit, strict_win, subset_accuracies


def test_pair_tie_counts_as_wrong():
    assert strict_win([1.0], [0.5]) == 1.0
    assert strict_win([0.5], [0.5]) == 0.0
    assert strict_win([0.4], [0.5]) == 0.0


def test_best_of_n_chosen_must_beat_every_rejected():
    assert strict_win([2.0], [1.0, 1.5, 1.9]) == 1.0
    assert strict_win([2.0], [1.0, 2.0, 0.0]) == 0.0
    assert strict_win([2.0], [1.0, 2.5]) == 0.0


def test_rewardbench2_shares_credit_on_ties_at_the_top():
    assert shared_top_credit([3.0], [1.0, 2.0, 0.0]) == 1.0
    assert shared_top_credit([3.0], [3.0, 2.0, 0.0]) == 0.5
    assert shared_top_credit([3.0], [3.0, 3.0, 3.0]) == 0.25
    assert shared_top_credit([2.0], [3.0, 2.0, 0.0]) == 0.0


def test_subset_accuracies_average_per_subset():
    assert subset_accuracies([("a", 1.0), ("a", 0.0), ("b", 0.5)]) == {"a": 0.5, "b": 0.5}


def test_ties_score_by_hand():
    rows = [
        # prompt 1: ref has one correct answer, tied has two
        ("ref:1", [5.0], [1.0, 2.0]),  # accurate, margin 3
        ("tied:1", [5.0, 4.0], [1.0]),  # accurate, spread 1, margin 3
        # prompt 2: the tied version ranks an incorrect answer between the correct ones
        ("ref:2", [1.0], [0.0]),  # accurate, margin 1
        ("tied:2", [3.0, 1.0], [2.0]),  # not accurate, spread 2, margin -1
    ]
    result = ties_subset_score(rows)
    assert result.ref_accuracy == 1.0
    assert result.tied_accuracy == 0.5
    assert result.correctness_preferred == 0.5  # prompt 1: 3 > 1; prompt 2: -1 > 2 is false
    assert result.correctness_preferred_hard == 0.5  # min(3,3)=3 > 1; min(1,-1)=-1 > 2 false
    margin = (math.tanh(3 / 1 - 1) + math.tanh(-1 / 2 - 1)) / 2
    assert result.correctness_margin_score == pytest.approx(margin)
    expected = 0.3 * 0.5 + 0.3 * 1.0 + 0.2 * 0.5 + 0.2 * 0.5 + 0.01 * margin
    assert result.score == pytest.approx(expected)


def test_ties_zero_spread_follows_numpy_division():
    # equal correct scores: spread 0, positive margin -> +inf -> tanh 1; as numpy gives rewardbench
    result = ties_subset_score([("ref:1", [2.0], [0.0]), ("tied:1", [2.0, 2.0], [0.0])])
    assert result.correctness_margin_score == 1.0
