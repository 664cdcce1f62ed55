"""A --limit 5 smoke run of the side-by-side benchmark against the real rewardbench package (own virtualenv)."""

import re
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, SHARED_DATA


@pytest.mark.parametrize("kind", ["classifier", "dpo"])
def test_compare_rewardbench_smoke(kind, tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/compare_rewardbench.py", "--kind", kind, "--limit", "3" if kind == "dpo" else "5",
         "--workdir", str(tmp_path), "--data-dir", str(SHARED_DATA), "--peer-batch-size", "8"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"RESULT max_abs_diff=[\d.]+ speedup=[\d.]+( scoring_speedup=[\d.]+)? noisy_exact_ties=\d+ "
                         r"max_abs_diff_apart_from_them=([\d.]+)", last)
    assert match, last
    assert float(match.group(2)) == 0.0  # same per-subset accuracies as rewardbench, apart from exact ties the peer's float noise broke
    if kind == "classifier":
        assert match.group(1), "the peer's scoring time was not read from its progress bar"
        to_padded = re.search(r"shared-prefix vs our padded path \(--shared_prefix off\): largest per-example score difference ([\d.e+-]+)",
                              result.stdout)
        assert to_padded and float(to_padded.group(1)) < 1e-4
        assert re.search(r"tokens: \d+ in the conversations, \d+ after truncation and de-duplication, \d+ computed", result.stdout)
    assert "Pairwise_set/Harmlessness/S1" in result.stdout and "alpacaeval-easy" in result.stdout
    differences = [float(found) for found in re.findall(r"largest per-example score difference: ([\d.e+-]+)", result.stdout)]
    assert len(differences) == (4 if kind == "dpo" else 1) and max(differences) < 1e-2  # float rounding of sums over thousands of tokens


def test_absolute_positions_smoke(tmp_path):
    """A GPT-2-shaped classifier on 15 real LLMBar pairs: ours equals the peer at batch size 1, and under --batching rewardbench the
    peer at batch size 4; ours and the peer at 4 really differ."""
    result = subprocess.run(
        [sys.executable, "benchmarks/compare_rewardbench.py", "--data", "llmbar", "--limit", "3", "--architecture", "gpt2",
         "--peer-batch-size", "1,4", "--rewardbench-batching", "--max-length", "512", "--workdir", str(tmp_path), "--data-dir", str(SHARED_DATA)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "position embeddings absolute, padding sensitive: True" in result.stdout
    differences = dict(re.findall(r"^\[(peer@\d(?: rb-batch)?)\].*?largest per-example score difference: ([\d.e+-]+)", result.stdout, re.M | re.S))
    assert set(differences) == {"peer@1", "peer@1 rb-batch", "peer@4", "peer@4 rb-batch"}, result.stdout
    assert all(float(differences[name]) < 1e-4 for name in ("peer@1", "peer@1 rb-batch", "peer@4 rb-batch")), differences
    assert float(differences["peer@4"]) > 1e-3, differences
    assert re.search(r"against the peer's fastest setting \(peer@\d+: [\d.]+ s wall", result.stdout)
    assert re.fullmatch(r"RESULT max_abs_diff=0\.0000 .* batch_dependent_max_abs_diff=[\d.]+", result.stdout.strip().splitlines()[-1])


def test_registration_latency_smoke():
    result = subprocess.run([sys.executable, "benchmarks/registration_latency.py", "--versions", "1"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^v2: registration -> finished run [\d.]+s \(25 examples, 50 conversations scored, 0 from cache", result.stdout, re.M)
    assert re.fullmatch(r"RESULT median_latency_s=[\d.]+ manual_s=[\d.]+ ratio=[\d.]+", result.stdout.strip().splitlines()[-1])


def test_scale_out_smoke(tmp_path):
    result = subprocess.run([sys.executable, "benchmarks/scale_out.py", "--limit", "1", "--model-shape", "tiny", "--datasets", "llmbar",
                             "--workdir", str(tmp_path), "--data-dir", str(SHARED_DATA)],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    match = re.fullmatch(r"RESULT accuracies_identical=(\w+) max_score_diff=([\d.e+-]+) packed_speedup=[\d.]+ processes_speedup=[\d.]+",
                         result.stdout.strip().splitlines()[-1])
    assert match and match.group(1) == "True" and float(match.group(2)) < 1e-4, result.stdout
    assert re.search(r"^2 processes\s+1/process", result.stdout, re.M)
