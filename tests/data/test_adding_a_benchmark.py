"""``docs/adding-a-benchmark.md`` as written: its one file, installed as a plug-in, is a benchmark every entry point can run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.helpers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "adding-a-benchmark.md"


def test_the_documented_benchmark_file_is_all_a_new_benchmark_needs(tmp_path, tiny_llama, shared_data):
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "hh_rlhf_benchmark.py").write_text(code)
    # A distribution on the path with an entry point in rm-mlflow's group, as `pip install` of a package declaring it makes.
    dist_info = plugins / "hh_rlhf_benchmark-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: hh-rlhf-benchmark\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[rm_mlflow.benchmarks]\nhh-rlhf = hh_rlhf_benchmark\n")
    env = os.environ | {"PYTHONPATH": str(plugins)}

    listed = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "benchmarks"], capture_output=True, text=True, env=env, timeout=120)
    assert re.search(r"^hh-rlhf\s+Anthropic HH-RLHF \(test splits\)", listed.stdout, re.M), listed.stdout + listed.stderr

    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "hh-rlhf", "--data-dir", str(shared_data),
         "--limit", "3", "--truncation", "left", "--skip_invalid", "--output", str(out), "--quiet", "--bootstrap", "0"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())["benchmarks"]["hh-rlhf"]
    assert sorted(report["subsets"]) == ["harmless-base", "helpful-base", "helpful-online", "helpful-rejection-sampled"]
    assert report["num_examples"] == 12
    # a few upstream rows have chosen and rejected transcripts that differ before the last answer: skipped, counted, named
    assert report["skipped_invalid"] >= 1 and "its conversation before the last answer differs" in report["skipped_reasons"][0]
    assert report["score"] == sum(report["subsets"].values()) / 4
    assert "SCORE hh-rlhf" in result.stdout

    # Its bad rows get the same one-line errors as the built-in benchmarks': file, row and field.
    broken = tmp_path / "broken" / "hh-rlhf-test"
    broken.mkdir(parents=True)
    import gzip

    with gzip.open(broken / "harmless-base.test.jsonl.gz", "wt") as handle:
        handle.write(json.dumps({"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "just text"}) + "\n")
    failed = subprocess.run(
        [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_llama), "--dataset", "hh-rlhf", "--data-dir", str(broken.parent),
         "--subsets", "harmless-base"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert failed.returncode == 2
    assert failed.stderr.strip() == (f"rm-mlflow: error: {broken}/harmless-base.test.jsonl.gz, row 1, field 'rejected': "
                                     "expected a transcript of Human/Assistant turns ending with the Assistant; "
                                     "rerun with --skip_invalid (skip_invalid=True) to skip such rows; each is counted and reported")
