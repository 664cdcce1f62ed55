"""Absolute-position models: left padding moves their scores, so rewardbench's numbers for them depend on its batches.

rm-mlflow's default scores every conversation as it is alone; ``--batching rewardbench`` reproduces rewardbench's
batches (dataset order, ``batch_size`` pairs, left padding, no position ids, chosen and rejected apart). Both are
checked here against the same arithmetic done by hand with transformers on real LLMBar pairs.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.data.loading import load_benchmark
from rm_mlflow.data.options import DataOptions
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.results import read_results
from tests.helpers import REPO_ROOT

MAX_LENGTH = 256  # the tiny GPT-2's position limit
BATCH = 4


def _evaluate(model, shared_data, out, batching: str):
    data = DataOptions(data_dir=str(shared_data), limit=3)  # 15 real LLMBar pairs, 5 subsets
    settings = {"truncation": "left", "max_length": MAX_LENGTH, "batch_size": BATCH, "batching": batching}
    run_evaluation(EvaluationRequest(model=str(model), datasets=["llmbar"], data=data, settings=settings, output_dir=out, progress=False,
                                     intervals=IntervalOptions(resamples=0)))
    table = pd.read_parquet(out / "llmbar_scores.parquet")
    return read_results(out / "results.json"), table


def _by_hand(model_dir, shared_data, batch_size: int):
    """rewardbench's pipeline: apply the chat template, tokenize a batch left-padded and left-truncated, one forward, the logits."""
    examples = load_benchmark("llmbar", DataOptions(data_dir=str(shared_data), limit=3)).examples
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side, tokenizer.truncation_side = "left", "left"
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    scores = {}
    for side in ("chosen", "rejected"):
        texts = [tokenizer.apply_chat_template([dict(m) for m in example.conversation(getattr(example, side)[0])], tokenize=False)
                 for example in examples]
        values = []
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start : start + batch_size], truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt")
            with torch.inference_mode():
                values += model(**batch).logits[:, 0].tolist()
        scores[side] = values
    return scores


def _largest_difference(table, scores) -> float:
    return max(max(abs(row.chosen_scores[0] - c), abs(row.rejected_scores[0] - r))
               for row, c, r in zip(table.itertuples(), scores["chosen"], scores["rejected"], strict=True))


def test_an_absolute_position_model_is_found_and_both_numbers_are_reproduced(tiny_gpt2, shared_data, tmp_path):
    own, own_table = _evaluate(tiny_gpt2, shared_data, tmp_path / "independent", "independent")
    theirs, their_table = _evaluate(tiny_gpt2, shared_data, tmp_path / "rewardbench", "rewardbench")
    assert own.model["position_embeddings"] == "absolute" and own.model["padding_sensitive"] is True
    assert own.settings["batching"] == "independent" and theirs.settings["batching"] == "rewardbench"
    assert theirs.model["scoring_path"] == "rewardbench-batches"
    assert list(own_table["id"]) == list(their_table["id"])

    alone, batched = _by_hand(tiny_gpt2, shared_data, 1), _by_hand(tiny_gpt2, shared_data, BATCH)
    assert _largest_difference(own_table, alone) < 1e-4  # the default: each conversation as it is alone (rewardbench at batch size 1)
    assert _largest_difference(their_table, batched) < 1e-4  # --batching rewardbench: rewardbench at batch size 4
    assert _largest_difference(own_table, batched) > 1e-3  # and the two really differ on this model
    assert "Batching: rewardbench's (batches of 4 in dataset order, left-padded): batch-dependent scores" in (
        tmp_path / "rewardbench" / "summary.md").read_text()


def test_a_rotary_model_gives_the_same_scores_either_way(tiny_llama, shared_data, tmp_path):
    own, own_table = _evaluate(tiny_llama, shared_data, tmp_path / "independent", "independent")
    theirs, their_table = _evaluate(tiny_llama, shared_data, tmp_path / "rewardbench", "rewardbench")
    assert own.model["position_embeddings"] == "rotary" and own.model["padding_sensitive"] is False
    differences = [abs(a[0] - b[0]) for column in ("chosen_scores", "rejected_scores")
                   for a, b in zip(own_table[column], their_table[column], strict=True)]
    assert max(differences) < 1e-4
    assert own.benchmarks["llmbar"].subsets == theirs.benchmarks["llmbar"].subsets


@pytest.mark.parametrize(("extra", "refusal"), [
    (["--model_kind", "dpo", "--ref_free_type", "avg"], "reproduces rewardbench's classifier batches; a DPORewardModel has none"),
    (["--dataset", "rmb", "--split", "bon"], "scores pairs (one chosen, one rejected response); this example has 1 and"),
])
def test_what_rewardbench_batching_cannot_reproduce_is_refused_before_weights_load(tiny_causal_lms, tiny_gpt2, shared_data, tmp_path, extra,
                                                                                  refusal):
    model = tiny_causal_lms["policy"] if "dpo" in extra else tiny_gpt2
    dataset = [] if "--dataset" in extra else ["--dataset", "llmbar"]
    result = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(model), *dataset,
                             "--data-dir", str(shared_data), "--limit", "2", "--truncation", "left", "--batching", "rewardbench", "--quiet",
                             "--output", str(tmp_path / "out"), *extra],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("rm-mlflow: error: ") and refusal in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out" / "score_cache.jsonl").exists()  # refused before anything was scored
