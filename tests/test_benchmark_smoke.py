"""A --limit 5 smoke run of the side-by-side benchmark against the real rewardbench package (own virtualenv)."""

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT, SHARED_DATA


def test_compare_rewardbench_smoke(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/compare_rewardbench.py", "--limit", "5", "--workdir", str(tmp_path), "--data-dir", str(SHARED_DATA)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"RESULT max_abs_diff=([\d.]+) speedup=([\d.]+)", last)
    assert match, last
    assert float(match.group(1)) == 0.0  # same per-subset accuracies as rewardbench
    assert "Pairwise_set/Harmlessness/S1" in result.stdout and "alpacaeval-easy" in result.stdout


def test_registration_latency_smoke():
    result = subprocess.run([sys.executable, "benchmarks/registration_latency.py", "--versions", "1"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^v2: registration -> finished run [\d.]+s \(25 examples, 50 conversations scored, 0 from cache", result.stdout, re.M)
    assert re.fullmatch(r"RESULT median_latency_s=[\d.]+ manual_s=[\d.]+ ratio=[\d.]+", result.stdout.strip().splitlines()[-1])
