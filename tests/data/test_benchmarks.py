"""Each registered benchmark loads its published schema from a local copy, and fails clearly without one."""

import json
from pathlib import Path

import pandas as pd
import pytest

from rm_mlflow.data import BENCHMARKS, DataOptions, load_benchmark
from rm_mlflow.errors import DatasetNotAvailableError, UnknownNameError
from rm_mlflow.metrics import shared_top_credit
from tests.helpers import SAMPLE_DATA, rewardbench_rows, write_jsonl


def test_registry_lists_the_named_benchmarks():
    assert {"rewardbench", "rewardbench-prior", "rewardbench2", "rmb"} <= set(BENCHMARKS.names())
    assert BENCHMARKS.get("allenai/reward-bench").name == "rewardbench"


def test_rewardbench_from_hub_snapshot_layout(tmp_path: Path):
    # `hf download allenai/reward-bench --local-dir DIR/reward-bench` gives data/filtered-00000-of-00001.parquet
    target = tmp_path / "reward-bench" / "data" / "filtered-00000-of-00001.parquet"
    target.parent.mkdir(parents=True)
    pd.DataFrame(rewardbench_rows()).to_parquet(target)
    loaded = load_benchmark("rewardbench", DataOptions(data_dir=tmp_path))
    assert len(loaded.examples) == 25 and len(loaded.subsets()) == 23
    first = loaded.examples[0]
    assert first.prompt == ({"role": "user", "content": "Name three primary colors."},)
    assert first.kind == "pairwise" and first.id == "900000"
    assert loaded.source.endswith("reward-bench") and loaded.split == "filtered"


def test_rewardbench_limit_and_subsets():
    loaded = load_benchmark("rewardbench", DataOptions(data_dir=SAMPLE_DATA, limit=1))
    assert len(loaded.examples) == 23
    loaded = load_benchmark("rewardbench", DataOptions(data_dir=SAMPLE_DATA, subsets=["math-prm", "hep-go"]))
    assert sorted(loaded.subsets()) == ["hep-go", "math-prm"] and len(loaded.examples) == 3
    with pytest.raises(UnknownNameError, match="unknown subset.*nope.*present: .*alpacaeval-easy"):
        load_benchmark("rewardbench", DataOptions(data_dir=SAMPLE_DATA, subsets=["nope"]))


def test_prior_sets_make_each_split_a_subset_and_drop_pku(tmp_path: Path):
    row = {
        "prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye?"}],
        "chosen": "Goodbye!",
        "rejected": "No.",
        "subset": "helpful-base",
        "id": 3,
    }
    for split in ("anthropic_helpful", "shp", "pku_safer"):
        write_jsonl(tmp_path / "pref-test-sets" / f"{split}.jsonl", [row])
    loaded = load_benchmark("rewardbench-prior", DataOptions(data_dir=tmp_path))
    assert loaded.subsets() == ["anthropic_helpful", "shp"]
    example = loaded.examples[0]
    assert len(example.prompt) == 3 and example.metadata == {"subsubset": "helpful-base"}


def test_rewardbench2_keeps_best_of_four_and_ties(tmp_path: Path):
    rows = [
        {"id": "1", "prompt": "Q", "chosen": ["good"], "rejected": ["b1", "b2", "b3"], "subset": "Math", "num_correct": 1, "total_completions": 4},
        {"id": "ref:7", "prompt": "Q", "chosen": ["c1"], "rejected": ["w1", "w2"], "subset": "Ties", "num_correct": 1, "total_completions": 3},
        {"id": "tied:7", "prompt": "Q", "chosen": ["c1", "c2"], "rejected": ["w1"], "subset": "Ties", "num_correct": 2, "total_completions": 3},
    ]
    write_jsonl(tmp_path / "reward-bench-2" / "test.jsonl", rows)
    loaded = load_benchmark("rewardbench2", DataOptions(data_dir=tmp_path))
    assert [e.kind for e in loaded.examples] == ["best_of_n", "best_of_n", "multi_chosen"]
    assert loaded.benchmark.correctness is shared_top_credit  # bound by object, not named by a string


def test_rmb_loads_the_real_repository_layout(shared_data: Path):
    loaded = load_benchmark("rmb", DataOptions(data_dir=shared_data, split="bon"))
    assert len(loaded.examples) == 3786  # BoN Helpfulness 2,109 + Harmlessness 1,677
    pairwise = load_benchmark("rmb", DataOptions(data_dir=shared_data / "rmb", split="pairwise", subsets=["Pairwise_set/Harmlessness/S1"]))
    assert len(pairwise.examples) == 459
    raw = json.loads((shared_data / "rmb/RMB_dataset/Pairwise_set/Harmlessness/S1.json").read_text())[0]
    first = pairwise.examples[0]
    assert first.id == raw["pair_uid"] and first.chosen == (raw["chosen"]["answer"],) and first.rejected == (raw["reject"]["answer"],)
    bon = [e for e in loaded.examples if e.kind == "best_of_n"]
    assert all(2 <= len(e.rejected) <= 6 for e in bon)


def test_rmb_real_data_has_empty_answers_that_skip_invalid_counts(shared_data: Path):
    with pytest.raises(Exception, match=r"S5\.json, row 397, field 'reject\.answer': empty string"):
        load_benchmark("rmb", DataOptions(data_dir=shared_data, split="pairwise", subsets=["Pairwise_set/Harmlessness/S5"]))
    loaded = load_benchmark("rmb", DataOptions(data_dir=shared_data, split="pairwise", skip_invalid=True))
    assert loaded.skipped == 7
    assert len(loaded.examples) == 8456 + 6087 - 7


def test_offline_without_local_copy_says_what_to_download(tmp_path: Path):
    with pytest.raises(DatasetNotAvailableError) as error:
        load_benchmark("rewardbench", DataOptions(data_dir=tmp_path))
    message = str(error.value)
    assert "allenai/reward-bench" in message and "--data-dir" in message and "hf download" in message
    with pytest.raises(DatasetNotAvailableError, match="github.com/Zhou-Zoey"):
        load_benchmark("rmb", DataOptions(data_dir=tmp_path))


def test_hub_dataset_id_offline_is_a_clear_error():
    with pytest.raises(DatasetNotAvailableError, match=r"someorg/my-prefs.*offline.*hf download someorg/my-prefs"):
        load_benchmark("someorg/my-prefs")
    with pytest.raises(UnknownNameError, match="unknown dataset 'nonsense'"):
        load_benchmark("nonsense")
