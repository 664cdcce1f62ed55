"""Scale-out on one machine: data-parallel processes and the packed (shared-prefix) path, against one padded process.

Three runs of ``rm-mlflow evaluate`` on the same model and data, each a fresh process:

1. **baseline**: one process, the padded path (``--shared_prefix off``), all cores;
2. **packed**: one process, shared-prefix packed rows (``--shared_prefix on``: pairs too, on a CPU), all cores;
3. **N processes**: ``--num_processes N`` (torchrun + gloo on CPU, cores split between them), packed.

For each: wall time, scoring time, tokens in the conversations, tokens computed, tokens/s, and the
largest per-example score difference and subset-accuracy difference to the baseline. The last line is
machine-readable: ``RESULT accuracies_identical=... max_score_diff=... packed_speedup=... processes_speedup=...``.

    python benchmarks/scale_out.py                                   # RMB (5 rows per scenario) + LLMBar, small model, 2 processes
    python benchmarks/scale_out.py --limit 2 --model-shape tiny      # quick
    python benchmarks/scale_out.py --device cuda --processes 8        # one process per GPU
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

SHAPES = {"tiny": dict(hidden_size=64, num_layers=2), "small": dict(hidden_size=256, num_layers=4)}


def run(name: str, work: Path, model: Path, args: argparse.Namespace, extra: list[str], env: dict[str, str]) -> dict:
    out = work / name
    command = [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(model), "--data-dir", str(args.data_dir),
               "--dataset", args.datasets, "--limit", str(args.limit), "--skip_invalid", "--truncation", "left",
               "--device", args.device, "--output", str(out), "--no_resume", "--quiet", "--bootstrap", "0", *extra]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ | env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{name} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    from rm_mlflow.results import RESULTS_FILE, read_results

    results = read_results(out / RESULTS_FILE)
    return {"name": name, "wall": wall, "folder": out, "throughput": results.throughput,
            "subsets": {f"{b}/{s}": v for b, report in results.benchmarks.items() for s, v in report.subsets.items()}}


def score_table(folder: Path) -> dict:
    import pandas as pd

    scores = {}
    for path in sorted(folder.glob("*_scores.parquet")):
        for row in pd.read_parquet(path).itertuples():
            scores[(path.stem, row.subset, row.id)] = (*row.chosen_scores, *row.rejected_scores)
    return scores


def max_difference(first: dict, second: dict) -> float:
    assert first.keys() == second.keys()
    return max(abs(a - b) for key in first for a, b in zip(first[key], second[key], strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="rmb,llmbar")
    parser.add_argument("--limit", type=int, default=5, help="rows per subset/scenario")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model-shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workdir", type=Path, default=HERE / ".work" / "scale-out")
    args = parser.parse_args()

    from rm_mlflow.tiny_models import build_tiny_reward_model

    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    model = work / f"{args.model_shape}-rm"
    if not (model / "config.json").exists():
        build_tiny_reward_model(model, **SHAPES[args.model_shape])
    cores = os.cpu_count() or 1
    threads = {"OMP_NUM_THREADS": str(cores)}
    runs = [
        run("baseline (padded)", work, model, args, ["--shared_prefix", "off"], threads),
        run("packed", work, model, args, ["--shared_prefix", "on"], threads),  # on: pairs packed on a CPU too
        run(f"{args.processes} processes", work, model, args, ["--num_processes", str(args.processes)],
            {"OMP_NUM_THREADS": str(max(1, cores // args.processes))}),
    ]
    baseline_scores = score_table(runs[0]["folder"])
    print(f"model {args.model_shape} ({SHAPES[args.model_shape]}), data {args.datasets} (limit {args.limit}), device {args.device}, "
          f"{cores} cores")
    print(f"{'run':<20} {'threads':>10} {'wall s':>8} {'scoring s':>10} {'tokens':>9} {'computed':>9} {'tokens/s':>9} "
          f"{'max |score diff|':>17} {'max |acc diff|':>15}")
    diffs, accuracy_diffs = [], []
    for item in runs:
        t = item["throughput"]
        per_process = max(1, cores // args.processes) if "processes" in item["name"] else cores
        label = f"{per_process}/process" if "processes" in item["name"] else str(per_process)
        diff = max_difference(baseline_scores, score_table(item["folder"]))
        accuracy = max(abs(item["subsets"][s] - runs[0]["subsets"][s]) for s in runs[0]["subsets"])
        diffs.append(diff)
        accuracy_diffs.append(accuracy)
        print(f"{item['name']:<20} {label:>10} {item['wall']:>8.1f} {t['seconds']:>10.1f} {t['scored_tokens']:>9.0f} "
              f"{t['computed_tokens']:>9.0f} {t['scored_tokens'] / t['seconds']:>9.0f} {diff:>17.2e} {accuracy:>15.4f}")
    packed = runs[0]["throughput"]["seconds"] / runs[1]["throughput"]["seconds"]
    processes = runs[1]["throughput"]["seconds"] / runs[2]["throughput"]["seconds"]
    print(f"scoring time: packed {packed:.2f}x the padded baseline; {args.processes} processes {processes:.2f}x one packed process "
          f"(wall {runs[1]['wall'] / runs[2]['wall']:.2f}x, including each process's start-up)")
    print(f"RESULT accuracies_identical={max(accuracy_diffs) == 0} max_score_diff={max(diffs):.2e} packed_speedup={packed:.2f} "
          f"processes_speedup={processes:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
