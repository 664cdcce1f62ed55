"""Evaluations of different data are never compared: one changed row is refused in one line; differing settings are warned about."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.comparison import compare_folders
from rm_mlflow.errors import RmMlflowError
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.results import read_results
from tests.helpers import REPO_ROOT, write_jsonl

ROWS = [{"prompt": f"Question {i}: what is {i} + {i}?", "chosen": f"It is {2 * i}.", "rejected": f"It is {2 * i + 1}."} for i in range(12)]


def _evaluate(model, folder, rows, **settings):
    (folder / "data").mkdir(parents=True)
    write_jsonl(folder / "data" / "prefs.jsonl", rows)
    run_evaluation(EvaluationRequest(model=str(model), datasets=[str(folder / "data" / "prefs.jsonl")], settings=settings,
                                     output_dir=folder / "out", progress=False, intervals=IntervalOptions(resamples=20)))
    return folder / "out"


def test_one_changed_row_is_refused_and_differing_settings_are_warned_about(tiny_llama, tmp_path, caplog):
    first = _evaluate(tiny_llama, tmp_path / "first", ROWS)
    changed = [dict(row) for row in ROWS]
    changed[7]["rejected"] = "It is fifteen."
    second = _evaluate(tiny_llama, tmp_path / "second", changed)
    digests = [read_results(folder / "results.json").benchmarks["prefs"].digest for folder in (first, second)]
    assert digests[0] != digests[1] and all(len(digest) == 16 for digest in digests)

    with pytest.raises(RmMlflowError, match=rf"^prefs: the two evaluations scored different data \(content digest {digests[0]} vs {digests[1]}"):
        compare_folders(first, second)
    cli = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "compare", str(first), str(second)], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=300)
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines()[-1].startswith("rm-mlflow: error: prefs: the two evaluations scored different data")

    same_rows_shorter = _evaluate(tiny_llama, tmp_path / "third", ROWS, max_length=64, truncation="left")
    with caplog.at_level(logging.WARNING):
        comparison = compare_folders(first, same_rows_shorter)
    assert comparison.benchmarks["prefs"].shared_examples == len(ROWS)
    assert any("differ in settings that change scores: max_length 2048 vs 64; truncation 'none' vs 'left'" in r.message for r in caplog.records)
