"""RM-Bench's six responses per prompt: the shared-prefix path against the padded one, on the same run.

Each RM-Bench row scores three chosen and three rejected responses to one prompt. With ``--shared_prefix
on`` the prompt's tokens are computed once per row and each response on top of them; with ``off`` every
conversation is run whole, padded in its batch. This script scores every RM-Bench row in ``../shared/data``
both ways with one model (random-init Llama, 4 layers, hidden 256) and prints the tokens in the conversations,
the tokens each path computed, both wall times and their ratio, and whether the accuracies are equal.

    python benchmarks/rm_bench_shared_prefix.py [--data ../shared/data] [--max-length 2048]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def evaluate(model: Path, data: Path, output: Path, shared_prefix: str, max_length: int) -> tuple[float, dict]:
    """Run ``rm-mlflow evaluate`` on rm-bench in its own process; (wall seconds, results.json)."""
    command = [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(model), "--dataset", "rm-bench", "--data-dir", str(data),
               "--output", str(output), "--no_resume", "--quiet", "--bootstrap", "0", "--truncation", "left", "--max_length", str(max_length),
               "--shared_prefix", shared_prefix]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, capture_output=True)
    return time.perf_counter() - started, json.loads((output / "results.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--max-length", type=int, default=2048)
    args = parser.parse_args()

    from rm_mlflow.data.sample import sample_corpus
    from rm_mlflow.tiny_models import build_tiny_reward_model

    with tempfile.TemporaryDirectory() as work:
        model = build_tiny_reward_model(Path(work) / "rm", corpus=sample_corpus(), hidden_size=256, num_layers=4)
        runs = {mode: evaluate(model, args.data, Path(work) / mode, mode, args.max_length) for mode in ("off", "on")}
    (padded_seconds, padded), (shared_seconds, shared) = runs["off"], runs["on"]
    print(f"RM-Bench rows: {int(shared['benchmarks']['rm-bench']['num_examples'])}, "
          f"conversations: {int(shared['throughput']['distinct_conversations'])}")
    for mode, (seconds, results) in runs.items():
        throughput = results["throughput"]
        print(f"--shared_prefix {mode:<4}: {seconds:7.1f} s wall ({throughput['seconds']:.1f} s scoring); tokens in the conversations "
              f"{int(throughput['tokens']):,}, computed {int(throughput['computed_tokens']):,} "
              f"({throughput['computed_tokens'] / throughput['tokens']:.3f})")
    same = all(padded["benchmarks"]["rm-bench"][key] == shared["benchmarks"]["rm-bench"][key] for key in ("score", "sections", "subsets"))
    print(f"accuracies equal: {same} (score {shared['benchmarks']['rm-bench']['score']:.6f} / {padded['benchmarks']['rm-bench']['score']:.6f})")
    print(f"RESULT speedup={padded_seconds / shared_seconds:.2f}x (wall, off / auto) "
          f"scoring_speedup={padded['throughput']['seconds'] / shared['throughput']['seconds']:.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
