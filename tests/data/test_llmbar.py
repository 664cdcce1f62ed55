"""A benchmark added in one file: LLMBar from its upstream files, scored like RewardBench's llmbar subsets."""

import json

import pytest

from rm_mlflow import DataOptions
from rm_mlflow.benchmarking import score_reward_model
from rm_mlflow.data import BENCHMARKS, load_benchmark
from rm_mlflow.data.benchmarks.rewardbench import EXAMPLE_COUNTS


def test_llmbar_loads_the_five_upstream_files(shared_data):
    assert "llmbar" in BENCHMARKS.names()
    loaded = load_benchmark("llmbar", DataOptions(data_dir=shared_data))
    counts = {subset: sum(e.subset == subset for e in loaded.examples) for subset in loaded.subsets()}
    assert counts == {name: EXAMPLE_COUNTS[name] for name in counts} and sum(counts.values()) == 419
    raw = json.loads((shared_data / "llmbar" / "Natural.json").read_text())[0]
    first = loaded.examples[0]
    assert first.prompt[0]["content"] == raw["input"]
    assert first.chosen == (raw[f"output_{raw['label']}"],) and first.rejected == (raw[f"output_{3 - raw['label']}"],)


def test_llmbar_score_is_the_chat_hard_weighting(tiny_llama, shared_data):
    data = DataOptions(data_dir=shared_data, limit=4)
    report = score_reward_model(str(tiny_llama), ["llmbar"], data=data, progress=False)
    scores = report.benchmarks["llmbar"].scores
    weighted = sum(scores.subsets[s] * EXAMPLE_COUNTS[s] for s in scores.subsets) / sum(EXAMPLE_COUNTS[s] for s in scores.subsets)
    assert len(scores.subsets) == 5 and scores.score == pytest.approx(weighted)
    assert report.metrics()["llmbar/subset/llmbar-adver-gptinst"] == scores.subsets["llmbar-adver-GPTInst"]
