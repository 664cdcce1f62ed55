"""Side-by-side: rm-mlflow vs the `rewardbench` package (0.1.4) on the same model, data, truncation and template.

Each tool runs in its own process in the same invocation; the tables compare per-subset accuracy,
section scores, wall time, scoring time, examples/s and tokens/s. The last line is machine-readable:
``RESULT max_abs_diff=... speedup=...``.

    python benchmarks/compare_rewardbench.py                          # classifier, shipped sample + RMB pairs, CPU
    python benchmarks/compare_rewardbench.py --limit 5                # quick smoke run
    python benchmarks/compare_rewardbench.py --kind dpo               # DPO with a reference and each reference-free mode
    python benchmarks/compare_rewardbench.py --kind generative --data llmbar   # a judge behind `transformers serve`, both tools its clients
    python benchmarks/compare_rewardbench.py --data llmbar --model-shape small    # duplicate-free real rows, 4 layers x 256
    python benchmarks/compare_rewardbench.py --device cuda --model-shape llama3-8b  # GPU, with MFU
    python benchmarks/compare_rewardbench.py --data llmbar --model-shape small --architecture gpt2 --peer-batch-size 1,8,32 \
        --rewardbench-batching    # absolute positions: ours equals the peer at batch 1; with --batching rewardbench, at each size

The peer runs at each ``--peer-batch-size``; speed is reported against each and against its fastest. Which runs
must agree: ours against every peer size for a rotary model; for an absolute-position model ours against the peer
at batch size 1, and ours under ``--batching rewardbench --batch_size B`` against the peer at B.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from rm_mlflow.data import DataOptions, load_benchmark  # noqa: E402
from rm_mlflow.data.benchmarks.rewardbench import EXAMPLE_COUNTS, SUBSET_MAPPING  # noqa: E402
from rm_mlflow.data.sample import SAMPLE_DATA_DIR  # noqa: E402
from rm_mlflow.metrics import section_scores, subset_accuracies  # noqa: E402
from rm_mlflow.results import RESULTS_FILE, read_results  # noqa: E402
from rm_mlflow.tiny_models import build_tiny_reward_model  # noqa: E402

PEER_PACKAGES = ["rewardbench==0.1.4", "torch==2.13.0", "transformers==4.51.0"]
# rewardbench imports pkg_resources, gone from the setuptools torch 2.13 brings; pip warns about the
# downgrade (torch's own requirement) but the peer runs. Installed in a second step for that reason.
PEER_SETUPTOOLS = "setuptools<70"
PEER_JUDGE_CLIENTS = ["anthropic", "google-generativeai", "together", "openai"]
RMB_SCENARIOS = [
    "Pairwise_set/Harmlessness/S1",
    "Pairwise_set/Harmlessness/S6",
    "Pairwise_set/Helpfulness/Code/Documentation",
    "Pairwise_set/Helpfulness/Chat/Supportive Conversation",
    "Pairwise_set/Helpfulness/Reasoning/Pattern Recognition",
]
SHAPES = {
    "tiny": dict(hidden_size=64, num_layers=2),
    "small": dict(hidden_size=256, num_layers=4),
}
# Llama-3-8B's shape (random init): for GPU throughput runs, where only the FLOPs matter.
LLAMA3_8B = dict(hidden_size=4096, num_layers=32, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8, vocab_size=128256)
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
DPO_MODES = ("reference", "avg", "sum", "norm")


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
    if subprocess.run([str(python), "-c", "import rewardbench.generative"], capture_output=True).returncode != 0:
        # rewardbench.generative imports every hosted judge's client at import time, though only local judging runs here
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_JUDGE_CLIENTS], check=True)
    return python


def build_model(path: Path, corpus: list[str], shape: str, device: str, *, head: str = "classifier", seed: int = 0, tokenizer=None,
                architecture: str = "llama") -> Path:
    """A Llama (or GPT-2) model, classifier or causal LM, saved so that both transformers 5 (ours) and 4.51 (the peer's) load it."""
    if not (path / "config.json").exists():
        build_tiny_reward_model(path, corpus=corpus, architecture=architecture, head=head, seed=seed, tokenizer=tokenizer,
                                **SHAPES.get(shape, SHAPES["tiny"]))
        if shape == "llama3-8b":
            _replace_with_8b_shape(path, device, head)
        config_path = path / "tokenizer_config.json"
        config = json.loads(config_path.read_text())
        config["tokenizer_class"] = "PreTrainedTokenizerFast"  # transformers 4.51 has no TokenizersBackend
        config["chat_template"] = (path / "chat_template.jinja").read_text()
        config_path.write_text(json.dumps(config, indent=2))
    return path


def _replace_with_8b_shape(path: Path, device: str, head: str) -> None:
    import torch
    from transformers import AutoConfig, LlamaForCausalLM, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(path)
    shape = dict(LLAMA3_8B)
    config.num_hidden_layers = shape.pop("num_layers")
    for key, value in shape.items():
        setattr(config, key, value)
    config.dtype = "bfloat16"
    torch.manual_seed(0)
    with torch.device(device):
        model = (LlamaForSequenceClassification if head == "classifier" else LlamaForCausalLM)(config).to(torch.bfloat16)
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


def write_dataset(path: Path, data: str, data_dir: Path, limit: int | None) -> list[dict]:
    """The rows both tools read, in the `--load_json` form: chosen and rejected as full conversations.

    ``sample+rmb``: the shipped RewardBench-schema sample (all 23 subsets) and real RMB pairs of five
    scenarios; ``llmbar``: the 419 real LLMBar pairs behind RewardBench's five llmbar subsets (no
    prompt is shared by two rows, so deduplication saves nothing); ``rmb``: the RMB pairs alone.
    """
    examples = []
    if data == "sample+rmb":
        examples += load_benchmark("rewardbench", DataOptions(data_dir=str(SAMPLE_DATA_DIR))).examples
    if data in ("sample+rmb", "rmb"):
        examples += load_benchmark("rmb", DataOptions(data_dir=str(data_dir), split="pairwise", subsets=RMB_SCENARIOS, limit=limit)).examples
    if data == "llmbar":
        examples += load_benchmark("llmbar", DataOptions(data_dir=str(data_dir), limit=limit)).examples
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
        env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "disabled"}
        result = subprocess.run(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed (exit {result.returncode}); see {log}:\n{log.read_text()[-3000:]}")
    return elapsed


# tqdm's closing line of the peer's scoring loop, e.g. "RM batch steps: 100%|####| 252/252 [00:27<00:00,  9.21it/s]"
_PEER_STEPS = re.compile(r"RM batch steps: 100%\|[^|]*\| (\d+)/\d+ \[[^,\]]*, *([\d.]+)(it/s|s/it)\]")


def peer_scoring_seconds(log: Path) -> float | None:
    """The peer's time inside its scoring loop: steps / rate from tqdm's last line (its elapsed field has whole seconds only)."""
    matches = _PEER_STEPS.findall(log.read_text(errors="replace").replace("\r", "\n"))
    if not matches:
        return None
    steps, rate, unit = matches[-1]
    return int(steps) / float(rate) if unit == "it/s" else int(steps) * float(rate)


def count_tokens(model_dir: Path, rows: list[dict]) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = [tokenizer.apply_chat_template(row[key], tokenize=False) for row in rows for key in ("chosen", "rejected")]
    return sum(len(ids) for ids in tokenizer(texts)["input_ids"])


@dataclass
class Comparison:
    """One configuration run by both tools."""

    name: str
    peer_accuracy: dict[str, float]
    ours_accuracy: dict[str, float]
    peer_seconds: float
    ours_seconds: float
    ours_scoring_seconds: float
    max_score_diff: float
    peer_scoring_seconds: float | None = None
    ours_throughput: dict | None = None
    padded_seconds: float | None = None  # our padded reference path (--shared_prefix off) on the same run
    padded_scoring_seconds: float | None = None
    max_diff_to_padded: float | None = None
    exact_ties: int = 0  # pairs whose two responses are one model input to us (an exact tie) that float noise broke for the peer
    max_accuracy_diff_apart_from_ties: float = 0.0
    must_agree: bool = True  # False: an absolute-position model against the peer's padded batches, which move its scores

    @property
    def max_accuracy_diff(self) -> float:
        subsets = set(self.peer_accuracy) | set(self.ours_accuracy)
        diffs = [abs(self.peer_accuracy.get(s, math.nan) - self.ours_accuracy.get(s, math.nan)) for s in subsets]
        return max((d if d == d else math.inf) for d in diffs)


def _ours(work: Path, name: str, data_path: Path, model_dir: Path, args: argparse.Namespace, dtype: str, extra: list[str]) -> tuple[float, Path]:
    out = work / f"ours-{name}"
    command = [
        sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", model_dir.name, "--dataset", str(data_path),
        "--max_length", str(args.max_length), "--truncation", args.truncation, "--dtype", dtype, "--device", args.device,
        "--output", str(out), "--no_resume", "--quiet", *extra,
    ]
    return run_timed(command, work, work / f"ours-{name}.log"), out


def _compare(name: str, peer_rows: list[dict], ours_dir: Path, data_path: Path, peer_seconds: float, ours_seconds: float) -> Comparison:
    import pandas as pd

    table = pd.read_parquet(ours_dir / f"{data_path.stem}_scores.parquet")
    ours_scores = {row.id: (row.chosen_scores[0], row.rejected_scores[0]) for row in table.itertuples()}
    diffs = [max(abs(p["scores_chosen"] - ours_scores[p["id"]][0]), abs(p["scores_rejected"] - ours_scores[p["id"]][1]))
             for p in peer_rows if isinstance(p.get("scores_chosen"), (int, float))]
    # A pair whose chosen and rejected responses are the same model input (RMB has a few identical answers) is an
    # exact tie for us, counted wrong as rewardbench's rule says; the peer scores the two copies in different padded
    # batches, so float noise (~1e-7) decides it. Such pairs are counted and set apart, not hidden.
    ties = {row.id for row in table.itertuples() if row.chosen_scores[0] == row.rejected_scores[0]}
    noisy = {p["id"] for p in peer_rows if p["id"] in ties and abs(p["scores_chosen"] - p["scores_rejected"]) < 1e-5}
    comparison = Comparison(
        name=name,
        peer_accuracy=subset_accuracies((row["subset"], float(row["results"])) for row in peer_rows),
        ours_accuracy=subset_accuracies(zip(table["subset"], table["correct"], strict=True)),
        peer_seconds=peer_seconds,
        ours_seconds=ours_seconds,
        ours_scoring_seconds=read_results(ours_dir / RESULTS_FILE).throughput["seconds"],
        ours_throughput=read_results(ours_dir / RESULTS_FILE).throughput,
        max_score_diff=max(diffs, default=math.nan),
        exact_ties=sum(int(p["results"]) != 0 for p in peer_rows if p["id"] in noisy),
    )
    apart = Comparison(
        name, subset_accuracies((row["subset"], float(row["results"])) for row in peer_rows if row["id"] not in noisy),
        subset_accuracies((s, c) for s, c, i in zip(table["subset"], table["correct"], table["id"], strict=True) if i not in noisy), 0, 0, 0, 0,
    )
    comparison.max_accuracy_diff_apart_from_ties = apart.max_accuracy_diff
    return comparison


def classifier_runs(
    work: Path, data_path: Path, rows: list[dict], peer_python: Path, args: argparse.Namespace, dtype: str
) -> tuple[list[Comparison], Path]:
    """Ours (default mode, and the padded path) against the peer at each batch size; with ``--rewardbench-batching`` also
    ours under ``--batching rewardbench`` at each of those sizes, against the peer at the same size (``peer@B rb-batch``)."""
    corpus = [m["content"] for row in rows[:200] for m in row["chosen"]]
    model_dir = build_model(work / f"{args.model_shape}-{args.architecture}-rm", corpus, args.model_shape, args.device,
                            architecture=args.architecture)
    # --repeat N: ours and the peer at each size take turns N times and each keeps its fastest run, so a slow spell
    # of a shared machine does not land on one tool only
    ours_runs, peer_runs = [], {size: [] for size in args.peer_batch_size}
    for _ in range(args.repeat):
        ours_seconds, ours_dir = _ours(work, "classifier", data_path, model_dir, args, dtype, [])
        ours_runs.append((ours_seconds, read_results(ours_dir / RESULTS_FILE).throughput["seconds"]))
        for size in args.peer_batch_size:
            peer_runs[size].append(_peer_classifier(work, data_path, model_dir, peer_python, args, dtype, size))
    ours_seconds, ours_scoring = min(seconds for seconds, _ in ours_runs), min(scoring for _, scoring in ours_runs)
    if args.repeat > 1:
        print(f"ours, {args.repeat} runs: wall {', '.join(f'{s:.1f}' for s, _ in ours_runs)} s; "
              + "; ".join(f"peer@{size}: wall {', '.join(f'{run[1]:.1f}' for run in runs)} s" for size, runs in peer_runs.items()))
    padded_seconds, padded_dir = _ours(work, "classifier-padded", data_path, model_dir, args, dtype, ["--shared_prefix", "off"])
    sensitive = bool(read_results(ours_dir / RESULTS_FILE).model.get("padding_sensitive"))
    comparisons = []
    for size in args.peer_batch_size:
        peer_rows = peer_runs[size][-1][0]
        peer_seconds = min(run[1] for run in peer_runs[size])
        peer_scoring = min((run[2] for run in peer_runs[size] if run[2] is not None), default=None)
        comparison = _compare(f"peer@{size}", peer_rows, ours_dir, data_path, peer_seconds, ours_seconds)
        comparison.ours_scoring_seconds = ours_scoring
        comparison.peer_scoring_seconds = peer_scoring
        comparison.padded_seconds = padded_seconds
        comparison.padded_scoring_seconds = read_results(padded_dir / RESULTS_FILE).throughput["seconds"]
        comparison.max_diff_to_padded = _max_score_diff(ours_dir, padded_dir, data_path)
        comparison.must_agree = not sensitive or size == 1
        comparisons.append(comparison)
        if args.rewardbench_batching:
            batched_seconds, batched_dir = _ours(work, f"classifier-rb{size}", data_path, model_dir, args, dtype,
                                                 ["--batching", "rewardbench", "--batch_size", str(size)])
            batched = _compare(f"peer@{size} rb-batch", peer_rows, batched_dir, data_path, peer_seconds, batched_seconds)
            batched.peer_scoring_seconds = peer_scoring
            comparisons.append(batched)
    print(f"model: {args.architecture}, position embeddings {read_results(ours_dir / RESULTS_FILE).model.get('position_embeddings')}, "
          f"padding sensitive: {sensitive}")
    return comparisons, model_dir


def _peer_classifier(
    work: Path, data_path: Path, model_dir: Path, peer_python: Path, args: argparse.Namespace, dtype: str, size: int
) -> tuple[list[dict], float, float | None]:
    """The peer's CLI at batch size ``size``: its per-example rows, wall seconds and scoring seconds."""
    peer_out = work / f"peer-{size}"
    peer_command = [
        str(peer_python), str(HERE / "peer_cpu_shim.py"), "--model", model_dir.name, "--dataset", str(data_path), "--load_json",
        "--not_quantized", "--batch_size", str(size), "--max_length", str(args.max_length),
        "--torch_dtype", dtype, "--output_dir", str(peer_out) + "/", "--attn_implementation", "sdpa",
    ] + (["--force_truncation"] if args.truncation == "left" else [])
    peer_seconds = run_timed(peer_command, work, work / f"peer-{size}.log")
    peer_rows = [json.loads(line) for line in (peer_out / f"{model_dir.name}_outputs.jsonl").open()]
    for row in peer_rows:  # the CLI writes each score as a one-element list (the logits row)
        for key in ("scores_chosen", "scores_rejected"):
            if isinstance(row.get(key), list):
                row[key] = row[key][0]
    return peer_rows, peer_seconds, peer_scoring_seconds(work / f"peer-{size}.log")


def _max_score_diff(ours_dir: Path, other_dir: Path, data_path: Path) -> float:
    """Largest per-example score difference between two of our runs on the same data (shared-prefix vs padded)."""
    import pandas as pd

    tables = [pd.read_parquet(d / f"{data_path.stem}_scores.parquet").set_index("id") for d in (ours_dir, other_dir)]
    first, second = tables[0], tables[1].loc[tables[0].index]
    return max(
        (abs(a - b) for column in ("chosen_scores", "rejected_scores") for x, y in zip(first[column], second[column], strict=True)
         for a, b in zip(x, y, strict=True)),
        default=math.nan,
    )


def dpo_runs(work: Path, data_path: Path, rows: list[dict], peer_python: Path, args: argparse.Namespace, dtype: str) -> tuple[list[Comparison], Path]:
    from transformers import AutoTokenizer

    corpus = [m["content"] for row in rows[:200] for m in row["chosen"]]
    policy = build_model(work / f"{args.model_shape}-policy", corpus, args.model_shape, args.device, head="causal-lm", seed=1)
    tokenizer = AutoTokenizer.from_pretrained(policy)
    reference = build_model(work / f"{args.model_shape}-reference", corpus, args.model_shape, args.device, head="causal-lm", seed=2,
                            tokenizer=tokenizer)
    cache = work / "reference-cache"  # fresh for each invocation, so the reference is scored, not read back
    comparisons = []
    for mode in DPO_MODES:
        extra_peer = ["--ref_model", str(reference)] if mode == "reference" else ["--ref_free_type", mode]
        peer_out = work / f"peer-dpo-{mode}.jsonl"
        peer_seconds = run_timed([str(peer_python), str(HERE / "peer_dpo.py"), "--model", str(policy), "--dataset", str(data_path),
                                  "--output", str(peer_out), *extra_peer], work, work / f"peer-dpo-{mode}.log")
        extra_ours = ["--model_kind", "dpo", *(["--ref_model", str(reference)] if mode == "reference" else ["--ref_free_type", mode])]
        os.environ["RM_MLFLOW_CACHE_DIR"] = str(cache / mode)
        ours_seconds, ours_dir = _ours(work, f"dpo-{mode}", data_path, policy, args, dtype, extra_ours)
        peer_rows = [json.loads(line) for line in peer_out.open()]
        comparisons.append(_compare(f"dpo-{mode}", peer_rows, ours_dir, data_path, peer_seconds, ours_seconds))
    return comparisons, policy


JUDGE_NAME = "gpt-4o-2024-08-06"  # in rewardbench's OpenAI list, so its API path sends it to OPENAI_BASE_URL: our endpoint


def generative_runs(
    work: Path, data_path: Path, rows: list[dict], peer_python: Path, args: argparse.Namespace, dtype: str
) -> tuple[list[Comparison], Path]:
    """A judge served by ``transformers serve``; rm-mlflow's endpoint backend and rewardbench-gen's API path are both its clients.

    The judge folder is named after a model in rewardbench's OpenAI list, and the server (started in that
    folder's parent) loads it under that name. rm-mlflow runs first (seeded A/B order, 10 requests in flight);
    the peer then asks the same questions in the same order through ``run_judge_pair`` with 10 threads, as
    ``run_generative.py`` does. Rows with more than two turns are left out on both sides (rewardbench drops them).
    """
    from rm_mlflow.testing import JudgeServer
    from rm_mlflow.tiny_models import build_tiny_judge

    judge = work / JUDGE_NAME
    if not (judge / "config.json").exists():
        if args.judge_model:
            judge.symlink_to(args.judge_model.resolve())
        else:
            build_tiny_judge(judge)
    kept = [row for row in rows if len(row["chosen"]) <= 4]
    if len(kept) < len(rows):
        data_path.write_text("".join(json.dumps(row) + "\n" for row in kept))
        print(f"left out {len(rows) - len(kept)} rows with more than two turns (rewardbench-gen drops them)")
    server = JudgeServer(Path(JUDGE_NAME), work / "judge-server", cwd=work).start()
    try:
        extra = ["--model_kind", "generative", "--judge_endpoint", server.url, "--judge_concurrency", "10", "--max_new_tokens", "2048"]
        command = [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", JUDGE_NAME, "--dataset", str(data_path),
                   "--output", str(work / "ours-generative"), "--no_resume", "--quiet", *extra]
        ours_seconds = run_timed(command, REPO, work / "ours-generative.log")
        import pandas as pd

        table = pd.read_parquet(work / "ours-generative" / f"{data_path.stem}_scores.parquet")
        by_id = {row["id"]: row for row in kept}
        examples = []
        for row in table.itertuples():
            source = by_id[row.id]
            chosen_first = row.judge_orders[0].startswith("chosen")
            answers = [source["chosen"][-1]["content"], source["rejected"][-1]["content"]]
            examples.append({"id": row.id, "subset": row.subset, "prompt": source["chosen"][:-1],
                             "answers": answers if chosen_first else answers[::-1], "chosen_letter": "A" if chosen_first else "B"})
        (work / "peer-judge-examples.json").write_text(json.dumps(examples))
        env = {"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "not-checked-by-transformers-serve"}
        os.environ.update(env)
        peer_seconds = run_timed([str(peer_python), str(HERE / "peer_generative.py"), str(work / "peer-judge-examples.json"),
                                  str(work / "peer-generative.json"), JUDGE_NAME], work, work / "peer-generative.log")
    finally:
        server.stop()
    peer = json.loads((work / "peer-generative.json").read_text())["results"]
    ours = {row.id: row for row in table.itertuples()}
    same_text = sum(p["judgment"] == ours[p["id"]].judge_outputs[0] for p in peer)
    same_verdict = sum((p["winner"] if p["winner"] in ("A", "B") else "error") == ours[p["id"]].judge_verdicts[0] for p in peer)
    print(f"judge answers: {same_text}/{len(peer)} identical texts, {same_verdict}/{len(peer)} identical verdicts")
    comparison = Comparison(
        name="generative",
        peer_accuracy=subset_accuracies((p["subset"], float(p["result"])) for p in peer),
        ours_accuracy=subset_accuracies(zip(table["subset"], table["correct"], strict=True)),
        peer_seconds=peer_seconds,
        ours_seconds=ours_seconds,
        ours_scoring_seconds=read_results(work / "ours-generative" / RESULTS_FILE).throughput["seconds"],
        max_score_diff=float(max(abs(p["result"] - ours[p["id"]].correct) for p in peer)),
    )
    return [comparison], judge


def report(comparisons: list[Comparison], rows: list[dict], tokens: int, model_dir: Path) -> None:
    n = len(rows)
    for comparison in comparisons:
        print(f"\n[{comparison.name}]  {'subset':<56} {'rewardbench':>11} {'rm-mlflow':>10} {'diff':>8}")
        for subset in sorted(set(comparison.peer_accuracy) | set(comparison.ours_accuracy)):
            p, o = comparison.peer_accuracy.get(subset, math.nan), comparison.ours_accuracy.get(subset, math.nan)
            print(f"{'':<{len(comparison.name) + 4}}{subset:<56} {p:>11.4f} {o:>10.4f} {o - p:>8.4f}")
        for name, accuracy in (("rewardbench", comparison.peer_accuracy), ("rm-mlflow", comparison.ours_accuracy)):
            sections = section_scores(accuracy, SUBSET_MAPPING, EXAMPLE_COUNTS)
            shown = "  ".join(f"{k}={v:.4f}" for k, v in sections.items() if any(s in accuracy for s in SUBSET_MAPPING[k]))
            print(f"  {name:<12} sections {shown or '-'}")
        print(f"  largest per-example score difference: {comparison.max_score_diff:.2e}; largest subset accuracy difference: "
              f"{comparison.max_accuracy_diff:.4f}")
        if comparison.max_diff_to_padded is not None:
            print(f"  shared-prefix vs our padded path (--shared_prefix off): largest per-example score difference "
                  f"{comparison.max_diff_to_padded:.2e}")
        if comparison.exact_ties:
            print(f"  {comparison.exact_ties} pair(s) with identical chosen and rejected model inputs: an exact tie here (wrong, as "
                  f"rewardbench's rule says), decided by float noise in the peer; apart from them the largest difference is "
                  f"{comparison.max_accuracy_diff_apart_from_ties:.4f}")
    print(f"\n{'run':<18} {'tool':<20} {'wall s':>8} {'scoring s':>10} {'examples/s':>11} {'tokens/s':>10}")
    for c in comparisons:
        peer_scoring = f"{c.peer_scoring_seconds:>10.1f}" if c.peer_scoring_seconds else f"{'':>10}"
        print(f"{c.name:<18} {'rewardbench':<20} {c.peer_seconds:>8.1f} {peer_scoring} {n / c.peer_seconds:>11.2f} "
              f"{tokens / c.peer_seconds:>10.0f}")
        ratios = f"ratio {c.peer_seconds / c.ours_seconds:.2f}x wall"
        if c.peer_scoring_seconds:
            ratios += f", {c.peer_scoring_seconds / c.ours_scoring_seconds:.2f}x scoring"
        print(f"{'':<18} {'rm-mlflow':<20} {c.ours_seconds:>8.1f} {c.ours_scoring_seconds:>10.1f} {n / c.ours_seconds:>11.2f} "
              f"{tokens / c.ours_seconds:>10.0f}   {ratios}")
        if c.padded_seconds is not None:
            print(f"{'':<18} {'rm-mlflow (padded)':<20} {c.padded_seconds:>8.1f} {c.padded_scoring_seconds:>10.1f} "
                  f"{n / c.padded_seconds:>11.2f} {tokens / c.padded_seconds:>10.0f}")
        if c.ours_throughput:
            t = c.ours_throughput
            computed = t.get("computed_tokens", t["scored_tokens"])
            print(f"{'':<18} tokens: {t['tokens']:.0f} in the conversations, {t['scored_tokens']:.0f} after truncation and "
                  f"de-duplication, {computed:.0f} computed ({computed / t['tokens']:.1%})")
    peers = [c for c in comparisons if c.name.startswith("peer@") and not c.name.endswith("rb-batch")]
    if len(peers) > 1:
        fastest = min(peers, key=lambda c: c.peer_seconds)
        line = f"against the peer's fastest setting ({fastest.name}: {fastest.peer_seconds:.1f} s wall"
        line += f", {fastest.peer_scoring_seconds:.1f} s scoring)" if fastest.peer_scoring_seconds else ")"
        line += f": {fastest.peer_seconds / fastest.ours_seconds:.2f}x wall"
        if fastest.peer_scoring_seconds:
            line += f", {fastest.peer_scoring_seconds / fastest.ours_scoring_seconds:.2f}x scoring"
        print(line)
    peak = peak_flops()
    if peak is not None:
        params = parameter_count(model_dir)
        for c in comparisons:
            timings = (("rewardbench (wall)", c.peer_seconds), ("rm-mlflow (wall)", c.ours_seconds), ("rm-mlflow (scoring)", c.ours_scoring_seconds))
            for name, seconds in timings:
                mfu = 2 * params * tokens / seconds / peak
                print(f"MFU {c.name} {name}: {mfu:.1%}  ({params / 1e9:.2f}B params, peak {peak / 1e12:.0f} TFLOP/s)")


def _sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["classifier", "dpo", "generative"], default="classifier")
    parser.add_argument("--judge-model", type=Path, default=None,
                        help="generative: a local causal-LM judge folder (default: a tiny judge trained here, biased towards answer A)")
    parser.add_argument("--data", choices=["sample+rmb", "llmbar", "rmb"], default="sample+rmb")
    parser.add_argument("--limit", type=int, default=None, help="rows per scenario/subset of the real data (default: all)")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--workdir", type=Path, default=HERE / ".work")
    parser.add_argument("--peer-venv", type=Path, default=HERE / ".peer-venv")
    parser.add_argument("--peer-batch-size", "--batch-size", type=_sizes, default=[1, 8, 32],
                        help="the peer's batch sizes, comma-separated (default 1,8,32: none, its CLI default, and large); classifier only")
    parser.add_argument("--repeat", type=int, default=1,
                        help="classifier: run ours and the peer this many times, taking turns, and keep each one's fastest (default 1)")
    parser.add_argument("--architecture", choices=["llama", "gpt2"], default="llama",
                        help="classifier: llama (rotary positions) or gpt2 (absolute positions, which the peer's left padding moves)")
    parser.add_argument("--rewardbench-batching", action="store_true",
                        help="classifier: also run ours under --batching rewardbench at each peer batch size")
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--truncation", choices=["none", "left"], default="left",
                        help="same on both sides: 'left' is the peer's --force_truncation (and its DPO keep_end)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model-shape", default="tiny", choices=["tiny", "small", "llama3-8b"])
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat must be 1 or more, got {args.repeat}")

    shape = args.model_shape if args.architecture == "llama" else f"{args.model_shape}-{args.architecture}"
    work = (args.workdir / f"{args.kind}-{args.data}-{shape}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    peer_python = ensure_peer_venv(args.peer_venv.resolve())
    data_path = work / f"pairs-{args.data.replace('+', '-')}-limit{args.limit or 'all'}.jsonl"
    rows = write_dataset(data_path, args.data, args.data_dir.resolve(), args.limit)
    dtype = "float32" if args.device == "cpu" else "bfloat16"
    runner = {"classifier": classifier_runs, "dpo": dpo_runs, "generative": generative_runs}[args.kind]
    comparisons, model_dir = runner(work, data_path, rows, peer_python, args, dtype)
    tokens = count_tokens(model_dir, rows)
    print(f"{len(rows)} pairs ({2 * len(rows)} conversations, {tokens} tokens), kind={args.kind}, data={args.data}, "
          f"model={args.model_shape}, truncation={args.truncation}, max_length={args.max_length}, device={args.device}")
    report(comparisons, rows, tokens, model_dir)
    agreeing = [c for c in comparisons if c.must_agree]
    max_diff = max(c.max_accuracy_diff for c in agreeing)
    apart = max(c.max_accuracy_diff_apart_from_ties for c in agreeing)
    ties = sum(c.exact_ties for c in agreeing)
    timed = [c for c in comparisons if not c.name.endswith("rb-batch")]
    speedup = sum(c.peer_seconds for c in timed) / sum(c.ours_seconds for c in timed)
    scoring = ""
    if all(c.peer_scoring_seconds for c in timed):
        ratio = sum(c.peer_scoring_seconds for c in timed) / sum(c.ours_scoring_seconds for c in timed)
        scoring = f" scoring_speedup={ratio:.2f}"
    others = [c for c in comparisons if not c.must_agree]
    batch_dependent = f" batch_dependent_max_abs_diff={max(c.max_accuracy_diff for c in others):.4f}" if others else ""
    print(f"RESULT max_abs_diff={max_diff:.4f} speedup={speedup:.2f}{scoring} noisy_exact_ties={ties} "
          f"max_abs_diff_apart_from_them={apart:.4f}{batch_dependent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
