"""Side-by-side: rm-mlflow vs the `rewardbench` package (0.1.4) on the same model, data, truncation and template.

Each tool runs in its own process in the same invocation; the table compares per-subset accuracy,
section scores, wall time, examples/s and tokens/s. The last line is machine-readable:
``RESULT max_abs_diff=... speedup=...``.

    python benchmarks/compare_rewardbench.py                 # full CPU run
    python benchmarks/compare_rewardbench.py --limit 5       # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from rm_mlflow.data import load_benchmark  # noqa: E402
from rm_mlflow.data.sample import SAMPLE_DATA_DIR  # noqa: E402
from rm_mlflow.data.rewardbench import EXAMPLE_COUNTS, SUBSET_MAPPING  # noqa: E402
from rm_mlflow.metrics import section_scores, subset_accuracies  # noqa: E402
from rm_mlflow.tiny_models import build_tiny_reward_model  # noqa: E402

PEER_PACKAGES = ["rewardbench==0.1.4", "torch==2.13.0", "transformers==4.51.0"]
# rewardbench imports pkg_resources, gone from the setuptools torch 2.13 brings; pip warns about the
# downgrade (torch's own requirement) but the peer runs. Installed in a second step for that reason.
PEER_SETUPTOOLS = "setuptools<70"
RMB_SCENARIOS = [
    "Pairwise_set/Harmlessness/S1",
    "Pairwise_set/Harmlessness/S6",
    "Pairwise_set/Helpfulness/Code/Documentation",
    "Pairwise_set/Helpfulness/Chat/Supportive Conversation",
    "Pairwise_set/Helpfulness/Reasoning/Pattern Recognition",
]


def ensure_peer_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    check = subprocess.run([str(python), "-c", "import rewardbench.rewardbench"], capture_output=True)
    if check.returncode != 0:
        print(f"installing the peer into {venv} ...", flush=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", str(REPO / ".ci" / "constraints.txt"), *PEER_PACKAGES], check=True
        )
        subprocess.run([str(python), "-m", "pip", "install", "-q", PEER_SETUPTOOLS], check=True)
    return python


# Llama-3-8B's shape (random init): for GPU throughput runs, where only the FLOPs matter.
LLAMA3_8B = dict(hidden_size=4096, num_layers=32, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8, vocab_size=128256)
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def build_model(path: Path, corpus: list[str], shape: str, device: str) -> Path:
    """A Llama sequence classifier saved so that both transformers 5 (ours) and 4.51 (the peer's) load it."""
    if not (path / "config.json").exists():
        build_tiny_reward_model(path, corpus=corpus, architecture="llama")
        if shape == "llama3-8b":
            _replace_with_8b_shape(path, device)
        config_path = path / "tokenizer_config.json"
        config = json.loads(config_path.read_text())
        config["tokenizer_class"] = "PreTrainedTokenizerFast"  # transformers 4.51 has no TokenizersBackend
        config["chat_template"] = (path / "chat_template.jinja").read_text()
        config_path.write_text(json.dumps(config, indent=2))
    return path


def _replace_with_8b_shape(path: Path, device: str) -> None:
    import torch
    from transformers import AutoConfig, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(path)
    shape = dict(LLAMA3_8B)
    config.num_hidden_layers = shape.pop("num_layers")
    for key, value in shape.items():
        setattr(config, key, value)
    config.dtype = "bfloat16"
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForSequenceClassification(config).to(torch.bfloat16)
    model.save_pretrained(path)


def parameter_count(path: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in path.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():
                total += math.prod(handle.get_slice(name).get_shape())
    return total



def peak_flops() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def write_dataset(path: Path, data_dir: Path, limit: int | None) -> list[dict]:
    """RewardBench-schema rows (the shipped sample) and real RMB pairs, in the `--load_json` form both tools read."""
    examples = load_benchmark("rewardbench", data_dir=SAMPLE_DATA_DIR).examples
    examples += load_benchmark("rmb", data_dir=data_dir, split="pairwise", subsets=RMB_SCENARIOS, limit=limit).examples
    rows = []
    for example in examples:
        prompt = [dict(m) for m in example.prompt]
        rows.append(
            {
                "chosen": prompt + [{"role": "assistant", "content": example.chosen[0]}],
                "rejected": prompt + [{"role": "assistant", "content": example.rejected[0]}],
                "subset": example.subset,
                "id": str(example.id),
            }
        )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


def run_timed(command: list[str], cwd: Path, log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as handle:
        result = subprocess.run(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "disabled"})
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed (exit {result.returncode}); see {log}:\n{log.read_text()[-3000:]}")
    return elapsed


def count_tokens(model_dir: Path, rows: list[dict]) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = [tokenizer.apply_chat_template(row[key], tokenize=False) for row in rows for key in ("chosen", "rejected")]
    return sum(len(ids) for ids in tokenizer(texts)["input_ids"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="RMB rows per scenario (default: all)")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=HERE / ".work")
    parser.add_argument("--peer-venv", type=Path, default=HERE / ".peer-venv")
    parser.add_argument("--batch-size", type=int, default=8, help="the peer's batch size (its CLI default)")
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--truncation", choices=["none", "left"], default="left",
                        help="same on both sides: 'left' is the peer's --force_truncation")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model-shape", default="tiny", choices=["tiny", "llama3-8b"])
    args = parser.parse_args()

    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    peer_python = ensure_peer_venv(args.peer_venv.resolve())
    data_path = work / f"pairs-limit{args.limit or 'all'}.jsonl"
    rows = write_dataset(data_path, args.data_dir.resolve(), args.limit)
    corpus = [m["content"] for row in rows[:200] for m in row["chosen"]]
    model_dir = build_model(work / f"{args.model_shape}-rm", corpus, args.model_shape, args.device)
    tokens = count_tokens(model_dir, rows)
    dtype = "float32" if args.device == "cpu" else "bfloat16"

    peer_out = work / "peer"
    peer_command = [
        str(peer_python), str(HERE / "peer_cpu_shim.py"), "--model", model_dir.name, "--dataset", str(data_path), "--load_json",
        "--not_quantized", "--batch_size", str(args.batch_size), "--max_length", str(args.max_length),
        "--torch_dtype", dtype, "--output_dir", str(peer_out) + "/", "--attn_implementation", "sdpa",
    ] + (["--force_truncation"] if args.truncation == "left" else [])
    ours_out = work / "ours"
    ours_command = [
        sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", model_dir.name, "--dataset", str(data_path),
        "--max_length", str(args.max_length), "--truncation", args.truncation, "--dtype", dtype, "--device", args.device,
        "--output", str(ours_out), "--no_resume", "--quiet",
    ]
    print(f"{len(rows)} pairs ({2 * len(rows)} conversations, {tokens} tokens), truncation={args.truncation}, max_length={args.max_length}", flush=True)
    peer_seconds = run_timed(peer_command, work, work / "peer.log")
    ours_seconds = run_timed(ours_command, work, work / "ours.log")

    peer_rows = [json.loads(line) for line in (peer_out / f"{model_dir.name}_outputs.jsonl").open()]
    peer_acc = subset_accuracies((row["subset"], float(row["results"])) for row in peer_rows)
    ours_table = __import__("pandas").read_parquet(ours_out / f"{data_path.stem}_scores.parquet")
    ours_acc = subset_accuracies(zip(ours_table["subset"], ours_table["correct"]))

    print(f"\n{'subset':<58} {'rewardbench':>11} {'rm-mlflow':>10} {'diff':>8}")
    max_diff = 0.0
    for subset in sorted(set(peer_acc) | set(ours_acc)):
        p, o = peer_acc.get(subset, float("nan")), ours_acc.get(subset, float("nan"))
        diff = abs(p - o)
        max_diff = max(max_diff, diff) if diff == diff else float("inf")
        print(f"{subset:<58} {p:>11.4f} {o:>10.4f} {o - p:>8.4f}")
    for name, accuracy in (("rewardbench", peer_acc), ("rm-mlflow", ours_acc)):
        sections = section_scores(accuracy, SUBSET_MAPPING, EXAMPLE_COUNTS)
        overall = sum(row["results"] for row in peer_rows) / len(peer_rows) if name == "rewardbench" else ours_table["correct"].mean()
        print(f"{name:<12} sections " + "  ".join(f"{k}={v:.4f}" for k, v in sections.items()) + f"  accuracy(all pairs)={overall:.4f}")
    n = len(rows)
    print(f"\n{'tool':<12} {'wall s':>8} {'examples/s':>11} {'tokens/s':>10}")
    print(f"{'rewardbench':<12} {peer_seconds:>8.1f} {n / peer_seconds:>11.2f} {tokens / peer_seconds:>10.0f}")
    print(f"{'rm-mlflow':<12} {ours_seconds:>8.1f} {n / ours_seconds:>11.2f} {tokens / ours_seconds:>10.0f}")
    speedup = peer_seconds / ours_seconds
    print(f"ratio rm-mlflow/rewardbench examples/s: {speedup:.2f}")
    peak = peak_flops()
    if peak is not None:
        params = parameter_count(model_dir)
        scoring_seconds = json.loads((ours_out / "results.json").read_text())["throughput"]["seconds"]
        for name, seconds in (("rewardbench (wall)", peer_seconds), ("rm-mlflow (wall)", ours_seconds), ("rm-mlflow (scoring)", scoring_seconds)):
            print(f"MFU {name}: {2 * params * tokens / seconds / peak:.1%}  ({params / 1e9:.2f}B params, peak {peak / 1e12:.0f} TFLOP/s)")
    print(f"RESULT max_abs_diff={max_diff:.4f} speedup={speedup:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
