"""Evaluations of different data are never compared: one changed row is refused in one line; differing settings are warned about.

Each evaluation's fingerprint names what its numbers depend on: weights, tokenizer, template, data, settings.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import pytest

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.comparison import compare_folders
from rm_mlflow.data.options import DataOptions
from rm_mlflow.errors import RmMlflowError
from rm_mlflow.fingerprint import short_digest
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.results import read_results
from tests.helpers import REPO_ROOT, SAMPLE_DATA, write_jsonl

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
    documents = [read_results(folder / "results.json") for folder in (first, second)]
    digests = [document.benchmarks["prefs"].digest for document in documents]
    assert digests[0] != digests[1] and all(len(digest) == 16 for digest in digests)
    prints = [document.fingerprint for document in documents]  # the same model and settings, other data
    assert prints[0]["datasets"] == {"prefs": digests[0]} and prints[1]["datasets"] == {"prefs": digests[1]}
    assert prints[0]["id"] != prints[1]["id"]
    assert all(prints[0][part] == prints[1][part] is not None for part in ("weights", "tokenizer", "chat_template", "settings", "kind", "device"))

    with pytest.raises(RmMlflowError, match=rf"^prefs: the two evaluations scored different data \(content digest {digests[0]} vs {digests[1]}"):
        compare_folders(first, second)
    cli = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "compare", str(first), str(second)], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=300)
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines()[-1].startswith("rm-mlflow: error: prefs: the two evaluations scored different data")

    same_rows_shorter = _evaluate(tiny_llama, tmp_path / "third", ROWS, max_length=64, truncation="left")
    third = read_results(same_rows_shorter / "results.json").fingerprint
    assert third["datasets"] == prints[0]["datasets"] and third["settings"] != prints[0]["settings"] and third["weights"] == prints[0]["weights"]
    with caplog.at_level(logging.WARNING):
        comparison = compare_folders(first, same_rows_shorter)
    assert comparison.benchmarks["prefs"].shared_examples == len(ROWS)
    assert any("differ in settings that change scores: max_length 2048 vs 64; truncation 'none' vs 'left'" in r.message for r in caplog.records)
    assert not any("chat templates" in r.message for r in caplog.records)

    retemplated = shutil.copytree(tiny_llama, tmp_path / "retemplated")  # the same weights; its own template adds a system turn
    template = retemplated / "chat_template.jinja"
    template.write_text("{{ '<|system|>\nBe brief.\n' }}" + template.read_text())
    other_template = _evaluate(retemplated, tmp_path / "fourth", ROWS)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        compare_folders(first, other_template)
    digests = [read_results(folder / "results.json").fingerprint["chat_template"] for folder in (first, other_template)]
    assert any(f"different chat templates (digest {digests[0]} vs {digests[1]})" in r.message for r in caplog.records)


def test_a_registered_model_is_fingerprinted_by_its_stored_files(mlflow_server, tiny_llama, tiny_gpt2, tmp_path):
    import mlflow

    import rm_mlflow
    from rm_mlflow.tracking.references import resolve_model_reference, stored_model_digest

    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_experiment("fingerprints")
    for folder in (tiny_llama, tiny_llama, tiny_gpt2):  # versions 1 and 2 hold the same weights, 3 others
        with mlflow.start_run():
            rm_mlflow.log_model(str(folder), "rm", registered_model_name="fingerprinted-rm")
    mlflow.MlflowClient().set_registered_model_alias("fingerprinted-rm", "champion", "1")
    first, alias, same_weights, other_weights = (stored_model_digest(resolve_model_reference(f"models:/fingerprinted-rm{at}"))
                                                 for at in ("/1", "@champion", "/2", "/3"))
    assert first.startswith("stored:") and first == alias == same_weights != other_weights

    downloaded = tmp_path / "downloaded"
    mlflow.artifacts.download_artifacts(artifact_uri="models:/fingerprinted-rm/1", dst_path=str(downloaded))
    assert stored_model_digest(resolve_model_reference(str(downloaded))).startswith("sha256:")  # a local MLflow model: read by content

    out = tmp_path / "out"
    run_evaluation(EvaluationRequest(model="models:/fingerprinted-rm/1", datasets=["rewardbench"],
                                     data=DataOptions(data_dir=str(SAMPLE_DATA), limit=2), settings={"truncation": "left"}, output_dir=out,
                                     progress=False, intervals=IntervalOptions(resamples=0)))
    assert read_results(out / "results.json").fingerprint["weights"] == short_digest(first)
