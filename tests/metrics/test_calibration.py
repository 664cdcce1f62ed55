"""Calibration on real RMB pairs, for two tiny models, against a hand computation from the per-example table."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.data.options import DataOptions
from rm_mlflow.metrics.calibration import calibration
from rm_mlflow.metrics.outcomes import ExampleOutcome
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation


def by_hand(margins: list[float]) -> dict[str, float]:
    """Brier, log loss and the two-orientation 10-bin ECE, written out in plain Python."""
    probabilities = [1 / (1 + math.exp(-m)) for m in margins]
    brier = sum((1 - p) ** 2 for p in probabilities) / len(probabilities)
    log_loss = sum(-math.log(p) for p in probabilities) / len(probabilities)
    points = [(p, 1.0) for p in probabilities] + [(1 - p, 0.0) for p in probabilities]
    gaps = [0.0] * 10
    for predicted, observed in points:
        gaps[min(int(predicted * 10), 9)] += observed - predicted
    return {"brier": brier, "log_loss": log_loss, "ece": sum(abs(gap) for gap in gaps) / len(points)}


def test_textbook_cases():
    outcome = lambda m: ExampleOutcome("x", "s", (m,), (0.0,), float(m > 0))  # noqa: E731
    coin = calibration([outcome(0.0), outcome(0.0)])
    assert coin.brier == 0.25 and coin.log_loss == pytest.approx(math.log(2)) and coin.ece == 0.0
    sure = calibration([outcome(40.0)] * 3)
    assert sure.brier == pytest.approx(0.0) and sure.log_loss == pytest.approx(0.0, abs=1e-15) and sure.ece == pytest.approx(0.0)
    wrong = calibration([outcome(-40.0)])
    assert wrong.brier == pytest.approx(1.0) and wrong.log_loss == pytest.approx(40.0) and wrong.ece == pytest.approx(1.0)
    best_of_n = ExampleOutcome("y", "s", (1.0,), (0.0, 0.5), 1.0)
    assert calibration([best_of_n]) is None  # no single Bradley-Terry probability


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_gpt2"])
def test_calibration_on_real_rmb_pairs_matches_a_hand_computation(model, request, shared_data, tmp_path):
    path = request.getfixturevalue(model)
    data = DataOptions(data_dir=str(shared_data), split="pairwise", limit=3, skip_invalid=True)
    run_evaluation(EvaluationRequest(model=str(path), datasets=["rmb"], data=data, settings={"truncation": "left", "max_length": 256},
                                     output_dir=tmp_path, progress=False, intervals=IntervalOptions(resamples=200)))
    figures = json.loads((tmp_path / "results.json").read_text())["benchmarks"]["rmb"]["calibration"]
    table = pd.read_parquet(tmp_path / "rmb_scores.parquet")
    margins = [row.chosen_scores[0] - row.rejected_scores[0] for row in table.itertuples()]
    assert figures["pairs"] == len(margins) > 100
    for name, value in by_hand(margins).items():
        assert figures[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        low, high = figures["intervals"][name]
        assert low <= figures[name] <= high
    assert sum(b["points"] for b in figures["reliability"]) == 2 * len(margins)
    right = [m for m in margins if m > 0]
    assert figures["margins"]["margin_mean_right"] == pytest.approx(sum(right) / len(right))


def test_kinds_whose_scores_are_not_logits_say_why():
    from rm_mlflow.judges.judge import GenerativeJudge
    from rm_mlflow.scoring.dpo import DPORewardModel
    from rm_mlflow.scoring.settings import ScoringSettings

    judge = GenerativeJudge.__new__(GenerativeJudge)
    judge.settings = ScoringSettings()
    assert judge.margin_reading().of is None and "verdicts" in judge.margin_reading().why_not
    judge.settings = ScoringSettings.from_mapping({"judge_mode": "ratings"})
    assert judge.margin_reading().of == "the rating gap" and judge.margin_reading().least == 1.0
    assert "beta" in DPORewardModel.margin_reading(None).why_not
