import math

import pytest

from rm_mlflow.data.benchmarks.prior import prior_sets_score
from rm_mlflow.data.benchmarks.rewardbench import EXAMPLE_COUNTS, SUBSET_MAPPING, leaderboard_score, original_leaderboard_score
from rm_mlflow.metrics import section_scores


@pytest.mark.parametrize(
    ("chat", "chat_hard", "safety", "reasoning", "prior", "published"),
    [
        (96.9, 76.8, 92.2, 97.3, 74.3, 89.0),  # ArmoRM row on the original leaderboard
        (96.4, 71.3, 92.7, 97.7, 78.2, 88.3),
    ],
)
def test_original_leaderboard_score_matches_published_rows(chat, chat_hard, safety, reasoning, prior, published):
    sections = {"Chat": chat, "Chat Hard": chat_hard, "Safety": safety, "Reasoning": reasoning}
    assert round(original_leaderboard_score(sections, prior), 1) == published


def test_current_leaderboard_score_is_plain_mean_of_sections():
    # issue #211: 0.9449... = mean(0.9665, 0.9013, 0.9284, 0.9836)
    sections = {"Chat": 0.9665, "Chat Hard": 0.9013, "Safety": 0.9284, "Reasoning": 0.9836}
    assert leaderboard_score(sections) == pytest.approx(0.94495)
    assert original_leaderboard_score(sections, None) == pytest.approx(leaderboard_score(sections))


def test_sections_are_weighted_by_example_counts():
    accuracy = {subset: 0.0 for subsets in SUBSET_MAPPING.values() for subset in subsets}
    accuracy["math-prm"] = 1.0  # weighted 984 = 6 x 164: math counts as much as all of code
    accuracy["alpacaeval-easy"] = 1.0
    sections = section_scores(accuracy, SUBSET_MAPPING, EXAMPLE_COUNTS)
    assert sections["Reasoning"] == pytest.approx(0.5)
    assert sections["Chat"] == pytest.approx(100 / 358)
    assert sections["Safety"] == 0.0


def test_chat_and_chat_hard_denominators_match_issue_158():
    # rewardbench issue #158: Chat 0.97765... = 350/358, Chat Hard 0.82017... = 374/456
    assert sum(EXAMPLE_COUNTS[s] for s in SUBSET_MAPPING["Chat"]) == 358
    assert sum(EXAMPLE_COUNTS[s] for s in SUBSET_MAPPING["Chat Hard"]) == 456
    assert sum(EXAMPLE_COUNTS[s] for s in SUBSET_MAPPING["Safety"]) == 740
    assert EXAMPLE_COUNTS["xstest-should-refuse"] == 154 and EXAMPLE_COUNTS["xstest-should-respond"] == 250


def test_section_without_subsets_scores_zero_like_rewardbench():
    sections = section_scores({"alpacaeval-easy": 0.5}, SUBSET_MAPPING, EXAMPLE_COUNTS)
    assert sections == {"Chat": 0.5, "Chat Hard": 0, "Safety": 0, "Reasoning": 0}


def test_prior_sets_is_nanmean_of_four_columns():
    accuracy = {"anthropic_helpful": 0.6, "anthropic_hhh": 0.8, "shp": float("nan"), "summarize": 0.7, "mtbench_gpt4": 0.0}
    assert prior_sets_score(accuracy) == pytest.approx(0.7)  # mean of anthropic_helpful, anthropic_hhh, shp, summarize
    assert math.isnan(prior_sets_score({}))
