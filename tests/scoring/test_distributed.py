"""Data-parallel scoring (torchrun + gloo on CPU through ``--num_processes``) and big-model placement (``--device_map``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rm_mlflow.scoring.distributed import balanced_shards, without_option
from tests.helpers import JUDGE_KEY_ENV, REPO_ROOT, SAMPLE_DATA


def test_shards_are_balanced_by_weight_and_the_same_on_every_process():
    weights = [900, 10, 10, 10, 10, 10, 10, 10, 10, 10, 400, 380]
    shards = balanced_shards(weights, 2)
    assert sorted(i for shard in shards for i in shard) == list(range(len(weights)))
    loads = [sum(weights[i] for i in shard) for shard in shards]
    assert loads == [900, 870]
    assert [sum(weights[:6]), sum(weights[6:])] == [950, 820]  # half the rows each would be less even
    assert balanced_shards(weights, 2) == shards
    assert balanced_shards([5], 3) == [[0], [], []]


def test_the_launcher_drops_only_its_own_option():
    argv = ["evaluate", "--model", "m", "--num_processes", "2", "--num-processes=3", "--limit", "2"]
    assert without_option(argv, "num_processes") == ["evaluate", "--model", "m", "--limit", "2"]


def _evaluate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--quiet", "--bootstrap", "0", *args],
                            capture_output=True, text=True, cwd=REPO_ROOT, env=os.environ | (env or {}), timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def _scores(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}_scores.parquet").set_index(["subset", "id"]).sort_index()


def _assert_same_scores(first: pd.DataFrame, second: pd.DataFrame, tolerance: float) -> None:
    assert list(first.index) == list(second.index)
    assert list(first["correct"]) == list(second["correct"])
    for column in ("chosen_scores", "rejected_scores"):
        for a, b in zip(first[column], second[column], strict=True):
            assert list(a) == pytest.approx(list(b), abs=tolerance)


def test_two_processes_score_what_one_does_log_once_and_resume_per_shard(tiny_llama, shared_data, tmp_path, tracking):
    import mlflow

    data = ["--data-dir", str(shared_data), "--dataset", "rmb", "--limit", "2", "--skip_invalid", "--truncation", "left",
            "--model", str(tiny_llama)]
    one = tmp_path / "one"
    _evaluate(*data, "--output", str(one))
    two = tmp_path / "two"
    result = _evaluate(*data, "--output", str(two), "--num_processes", "2", "--mlflow", "--experiment", "data-parallel")
    assert "scoring with 2 CPU processes" in result.stderr
    assert result.stdout.count("Throughput:") == 1  # only the first process reports

    _assert_same_scores(_scores(one, "rmb"), _scores(two, "rmb"), 1e-5)  # other batches, same numbers up to float rounding
    first, second = (json.loads((folder / "results.json").read_text()) for folder in (one, two))
    for key in ("score", "sections", "subsets"):
        assert first["benchmarks"]["rmb"][key] == second["benchmarks"]["rmb"][key]
    assert second["throughput"]["scored_conversations"] == first["throughput"]["scored_conversations"]
    assert second["throughput"]["computed_tokens"] == first["throughput"]["computed_tokens"]

    shards = [two / "score_cache.jsonl", two / "score_cache.rank1.jsonl"]
    counts = [len(path.read_text().splitlines()) for path in shards]
    assert min(counts) > 0 and sum(counts) == first["throughput"]["scored_conversations"]
    runs = mlflow.search_runs(experiment_names=["data-parallel"], output_format="list")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["rmb/score"] == pytest.approx(first["benchmarks"]["rmb"]["score"])

    # Resume per shard: with the first process's file gone, a rerun reuses the second's and scores only the rest.
    shards[0].unlink()
    (two / "results.json").unlink()
    resumed = _evaluate(*data, "--output", str(two))
    throughput = json.loads((two / "results.json").read_text())["throughput"]
    assert throughput["cached_conversations"] == counts[1] and throughput["scored_conversations"] == counts[0]
    assert "resumed" in resumed.stdout
    _assert_same_scores(_scores(one, "rmb"), _scores(two, "rmb"), 1e-5)


def test_two_processes_share_the_judgments_of_an_endpoint_judge(judge_server, tiny_judge, tmp_path):
    args = ["--model", str(tiny_judge), "--model_kind", "generative", "--judge_endpoint", judge_server.url, "--judge_api_key_env",
            JUDGE_KEY_ENV, "--max_new_tokens", "24", "--data-dir", str(SAMPLE_DATA), "--limit", "3"]
    one, two = tmp_path / "one", tmp_path / "two"
    before = judge_server.completions_served()
    _evaluate(*args, "--output", str(one))
    alone = judge_server.completions_served() - before
    _evaluate(*args, "--output", str(two), "--num_processes", "2")
    assert judge_server.completions_served() - before - alone == alone  # each judgment asked once, by one of the two processes
    first, second = _scores(one, "rewardbench"), _scores(two, "rewardbench")
    assert list(first["judge_outputs"].map(list)) == list(second["judge_outputs"].map(list))
    assert list(first["correct"]) == list(second["correct"])


def test_a_model_split_over_cpu_and_disk_scores_as_the_whole_model(tiny_llama, tmp_path):
    from rm_mlflow.scoring.loaders import load_reward_model
    from rm_mlflow.scoring.settings import ScoringSettings

    weights = sum(path.stat().st_size for path in tiny_llama.glob("*.safetensors"))
    limit = f"cpu={int(weights * 0.8) // 1024}KB"  # room for the embeddings: the layers and the head are offloaded to disk
    placed = load_reward_model(str(tiny_llama), ScoringSettings(device="cpu", device_map="auto", max_memory=limit))
    assert {"cpu", "disk"} <= set(placed.model.hf_device_map.values())

    whole, split = tmp_path / "whole", tmp_path / "split"
    common = ["--model", str(tiny_llama), "--data-dir", str(SAMPLE_DATA), "--device", "cpu"]
    _evaluate(*common, "--output", str(whole))
    _evaluate(*common, "--output", str(split), "--device_map", "auto", "--max_memory", limit)
    _assert_same_scores(_scores(whole, "rewardbench"), _scores(split, "rewardbench"), 1e-5)
    params = json.loads((split / "results.json").read_text())["settings"]
    assert params["device_map"] == "auto" and params["max_memory"] == limit and params["quantization"] == "none"
