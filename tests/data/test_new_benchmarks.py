"""JudgeBench, RM-Bench and RewardMATH load their published files from ../shared/data; suites expand and skip what is missing."""

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rm_mlflow.data import DataOptions, load_benchmark
from rm_mlflow.data.loading import expand_suites, load_benchmarks
from rm_mlflow.data.types import GAME_ORDERS
from rm_mlflow.errors import DatasetNotAvailableError
from tests.helpers import REPO_ROOT


def test_judgebench_loads_both_response_models_with_the_published_order(shared_data: Path):
    gpt = load_benchmark("judgebench", DataOptions(data_dir=shared_data))
    claude = load_benchmark("judgebench", DataOptions(data_dir=shared_data, split="claude"))
    assert (len(gpt.examples), len(claude.examples)) == (350, 270) and gpt.split == "gpt"
    assert {gpt.benchmark.section_of(subset) for subset in gpt.subsets()} == {"mmlu-pro", "livebench-reasoning", "livebench-math", "livecodebench"}
    first = gpt.examples[0]
    published = (0, 1) if first.metadata["label"] == "A>B" else (1, 0)  # indices into (chosen, rejected) shown as A, B
    assert first.metadata[GAME_ORDERS] == (published, published[::-1])
    single = load_benchmark("judgebench", DataOptions(data_dir=shared_data, single_game=True, limit=1))
    assert all(len(example.metadata[GAME_ORDERS]) == 1 for example in single.examples)


def test_rm_bench_has_three_styles_a_side_and_says_math_is_missing(shared_data: Path):
    loaded = load_benchmark("rm-bench", DataOptions(data_dir=shared_data))
    assert len(loaded.examples) == 798 and loaded.subsets() == ["chat", "code", "safety-refuse", "safety-response"]
    assert all(len(example.chosen) == len(example.rejected) == 3 for example in loaded.examples)
    assert len({example.id for example in loaded.examples}) == 798  # ids repeat across the domain files: prefixed with the file
    assert loaded.partial == "no data for math"
    assert loaded.benchmark.section_of("safety-refuse") == loaded.benchmark.section_of("safety-response") == "safety"


def test_rewardmath_groups_each_problems_ten_solutions(shared_data: Path):
    loaded = load_benchmark("rewardmath", DataOptions(data_dir=shared_data))
    assert [(example.id, len(example.chosen), len(example.rejected)) for example in loaded.examples] == [("0", 1, 9), ("399", 1, 9)]
    assert loaded.examples[0].chosen[0].startswith("I want to solve for x in the equation $441+2(21)(19)+361=x$.\nI can simplify")


def test_a_suite_expands_in_order_and_skips_missing_data_only_when_asked(shared_data: Path, tmp_path: Path, caplog):
    assert expand_suites(["judgebench", "suite:reasoning", "rmb"]) == ["judgebench", "rewardmath", "rm-bench", "rmb"]
    assert expand_suites(["rmb", "rmb"]) == ["rmb", "rmb"]  # named twice on its own: refused when resolved
    shutil.copytree(shared_data / "rm-bench", tmp_path / "rm-bench")
    with pytest.raises(DatasetNotAvailableError, match=r"^judgebench: .*--skip_missing"):
        load_benchmarks(["suite:reasoning"], DataOptions(data_dir=tmp_path))
    with caplog.at_level(logging.WARNING):
        loaded = load_benchmarks(["suite:reasoning"], DataOptions(data_dir=tmp_path, skip_missing=True))
    assert [item.benchmark.name for item in loaded] == ["rm-bench"]
    assert sum("skipped (--skip_missing)" in record.message for record in caplog.records) == 2
    with pytest.raises(DatasetNotAvailableError, match="no benchmark's data was found"):
        load_benchmarks(["judgebench", "rewardmath"], DataOptions(data_dir=tmp_path / "nothing", skip_missing=True))


def test_the_cli_lists_suites_and_takes_rewardbenchs_pref_sets():
    from rm_mlflow.cli import build_parser, dataset_names

    listing = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "benchmarks"], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert "suite:leaderboard" in listing.stdout and "judgebench" in listing.stdout and "rm-bench" in listing.stdout
    parse = build_parser().parse_args
    assert dataset_names(parse(["evaluate", "--model", "m", "--pref_sets"])) == ["rewardbench-prior"]
    assert dataset_names(parse(["evaluate", "--model", "m", "--dataset", "rewardbench", "--pref_sets"])) == ["rewardbench", "rewardbench-prior"]
