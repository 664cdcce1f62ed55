"""Peak memory of scoring one long pair on the CPU: is it bounded, or does it hold a seq x seq attention matrix?

Builds a tiny random Llama reward model with a 128K position limit, writes one preference pair whose prompt is
real text (LLMBar's Natural.json from ../shared/data, repeated) cut to N tokens, and scores it through
``rm-mlflow``'s pipeline in a fresh process per length. Prints each process's peak RSS next to its RSS before
scoring (the baseline measured in the same process), and what one float32 seq x seq matrix of that length
would take.

    .venv/bin/python benchmarks/long_context_memory.py --tokens 8192 32768 65536
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from process_memory import rss_mib

REPO = Path(__file__).resolve().parent.parent
TEXT = REPO.parent / "shared" / "data" / "llmbar" / "Natural.json"


def measure(tokens: int, model_dir: Path, work: Path) -> dict:
    """Score one pair whose prompt is ``tokens`` tokens long; this process's RSS before and at its peak."""
    from transformers import AutoTokenizer

    from rm_mlflow.benchmarking import IntervalOptions
    from rm_mlflow.pipeline import EvaluationRequest, run_evaluation

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    text = TEXT.read_text(encoding="utf-8")
    while len(tokenizer(text)["input_ids"]) < tokens:
        text += text
    prompt = tokenizer.decode(tokenizer(text)["input_ids"][: tokens - 64])
    work.mkdir(parents=True, exist_ok=True)
    (work / "pair.jsonl").write_text(json.dumps({"prompt": prompt, "chosen": "A short grounded answer.", "rejected": "No."}) + "\n")
    before, _ = rss_mib()
    start = time.perf_counter()
    outcome = run_evaluation(EvaluationRequest(model=str(model_dir), datasets=[str(work / "pair.jsonl")], settings={"max_length": 131072},
                                               output_dir=work / "out", progress=False, intervals=IntervalOptions(resamples=0)))
    longest = max(max(row) for row in outcome.report.benchmarks["pair"].examples["chosen_tokens"])
    return {"tokens": int(longest), "seconds": time.perf_counter() - start, "before_mib": before,
            "peak_mib": rss_mib()[1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[8192, 32768, 65536], help="conversation lengths to score")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a child process: measure this length
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        with tempfile.TemporaryDirectory() as work:
            print(json.dumps(measure(args.one, Path(args.model), Path(work))))
        return 0
    from rm_mlflow.tiny_models import build_tiny_reward_model

    with tempfile.TemporaryDirectory() as folder:
        model = build_tiny_reward_model(Path(folder) / "tiny-128k", max_positions=131072)
        print(f"{'tokens':>8} {'seconds':>8} {'RSS before':>11} {'peak RSS':>9} {'peak/before':>11} {'one seq x seq fp32 matrix':>26}")
        for tokens in args.tokens:
            child = subprocess.run([sys.executable, __file__, "--one", str(tokens), "--model", str(model)], capture_output=True, text=True,
                                   cwd=REPO, check=True)
            row = json.loads(child.stdout.strip().splitlines()[-1])
            matrix = row["tokens"] ** 2 * 4 / 2**20
            print(f"{row['tokens']:>8} {row['seconds']:>8.1f} {row['before_mib']:>8.0f} MiB {row['peak_mib']:>5.0f} MiB "
                  f"{row['peak_mib'] / row['before_mib']:>10.2f}x {matrix:>22,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
