"""Peak memory of VL-RewardBench's 1,250 items: are the images streamed, or all held at once?

Writes 1,250 items in the Hub parquet's exact schema (``data/test-00000-of-00001.parquet``): LLMBar's real questions
and answers from ../shared/data, each with a distinct noisy picture drawn with Pillow, about 77 KB as PNG, so the
file is about the real one's 97 MB. Then, each in a fresh process, it measures peak RSS:

Each process imports torch, transformers, pandas and rm-mlflow first; "before" is its RSS then, so each figure is
what the work itself adds.

- ``whole`` (the baseline): ``pandas.read_parquet`` of the file, what a loader that reads rows in one go holds;
- ``load``: rm-mlflow's loader (rows streamed 16 at a time, each image checked and kept on disk by content hash),
  and the same on four times as many items (``load x4``): streamed, its growth barely moves;
- ``judge``: the whole evaluation with a tiny LLaVA judge trained here (images decoded one chat at a time), with its items/s.

    .venv/bin/python benchmarks/vl_memory.py            # --items 1250
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from process_memory import rss_mib

REPO = Path(__file__).resolve().parent.parent
LLMBAR = REPO.parent / "shared" / "data" / "llmbar"
PREFIXES = ("RLAIF-V", "RLHF-V", "mathverse", "mmmu", "wildvision", "hallucination", "VLFeedback")


def picture(seed: int, side: int = 160) -> bytes:
    """A noisy PNG (noise does not compress: each picture weighs what a photo of its size would) with a coloured band."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    ImageDraw.Draw(image).rectangle((0, 0, side, side // 4), fill=(220, 30, 30) if seed % 2 else (30, 30, 220))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_items(count: int, root: Path) -> Path:
    """``count`` schema-exact items under ``root/vl-rewardbench/data/``."""
    from rm_mlflow.testing import vl_row, write_vl_parquet

    texts = [row for name in sorted(LLMBAR.glob("*.json")) for row in json.loads(name.read_text(encoding="utf-8"))
             if len(row["input"]) + len(row["output_1"]) + len(row["output_2"]) < 1500]
    rows = []
    for n in range(count):
        text = texts[n % len(texts)]
        rows.append(vl_row(f"{PREFIXES[n % len(PREFIXES)]}_{n:05d}", {"bytes": picture(n), "path": f"{n:05d}.png"}, query=text["input"],
                           responses=(text["output_1"], text["output_2"]), ranking=(0, 1) if text["label"] == 1 else (1, 0)))
    return write_vl_parquet(rows, root / "vl-rewardbench" / "data" / "test-00000-of-00001.parquet")


def measure(mode: str, root: Path, model: str) -> dict:
    """One mode in this process: RSS after its imports and at the peak, seconds, items."""
    import pandas as pd
    import torch  # noqa: F401 - imported before the baseline: the judge's libraries are not what is measured
    import transformers  # noqa: F401

    from rm_mlflow.benchmarking import IntervalOptions
    from rm_mlflow.data.loading import load_benchmark
    from rm_mlflow.data.options import DataOptions
    from rm_mlflow.pipeline import EvaluationRequest, run_evaluation

    before, _ = rss_mib()
    start = time.perf_counter()
    if mode == "whole":
        items = len(pd.read_parquet(root / "vl-rewardbench" / "data" / "test-00000-of-00001.parquet").to_dict("records"))
    elif mode in ("load", "load x4"):
        folder = root / "x4" if mode == "load x4" else root
        items = len(load_benchmark("vl-rewardbench", DataOptions(data_dir=str(folder))).examples)
    else:
        outcome = run_evaluation(EvaluationRequest(model=model, datasets=["vl-rewardbench"], data=DataOptions(data_dir=str(root)),
                                                   settings={"max_new_tokens": 16}, output_dir=root / "out", progress=False,
                                                   intervals=IntervalOptions(resamples=0)))
        items = len(outcome.report.benchmarks["vl-rewardbench"].examples)
    return {"mode": mode, "items": items, "seconds": time.perf_counter() - start, "before_mib": before, "peak_mib": rss_mib()[1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1250, help="items to write (VL-RewardBench has 1,250)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a child process: measure this mode
    parser.add_argument("--root", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, Path(args.root), args.model)))
        return 0
    from rm_mlflow.tiny_models import build_tiny_vl_judge

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = write_items(args.items, root / "data")
        write_items(4 * args.items, root / "data" / "x4")
        model = build_tiny_vl_judge(root / "tiny-vl-judge")
        env = {**os.environ, "RM_MLFLOW_CACHE_DIR": str(root / "cache"), "HF_HUB_OFFLINE": "1"}
        print(f"{args.items} items, {path.stat().st_size / 2**20:.1f} MiB parquet")
        print(f"{'mode':>10} {'items':>6} {'seconds':>8} {'items/s':>8} {'RSS before':>11} {'peak RSS':>9} {'peak - before':>14}")
        rows = {}
        for mode in ("whole", "load", "load x4", "judge"):
            child = subprocess.run([sys.executable, __file__, "--one", mode, "--root", str(root / "data"), "--model", str(model)],
                                   capture_output=True, text=True, cwd=REPO, check=True, env=env)
            row = rows[mode] = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"{mode:>10} {row['items']:>6} {row['seconds']:>8.1f} {row['items'] / row['seconds']:>8.1f} {row['before_mib']:>7.0f} MiB "
                  f"{row['peak_mib']:>5.0f} MiB {row['peak_mib'] - row['before_mib']:>10.0f} MiB")
        growth = {mode: row["peak_mib"] - row["before_mib"] for mode, row in rows.items()}
        print(f"RESULT load grows RSS {growth['load']:.0f} MiB vs {growth['whole']:.0f} MiB for the whole file "
              f"({growth['load'] / growth['whole']:.2f}x); {growth['load x4']:.0f} MiB for 4x the items; "
              f"the whole evaluation {growth['judge']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
