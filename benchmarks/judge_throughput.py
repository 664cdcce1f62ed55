"""Judgments per second of the local ``transformers`` judge backend: batched generation against one judgment at a time.

    python benchmarks/judge_throughput.py --device cuda --shape 1b --judgments 256 --max-new-tokens 128
    python benchmarks/judge_throughput.py --device cpu --shape tiny --judgments 32 --max-new-tokens 32

Builds a random-init Llama judge of the given shape (a locally trained tokenizer; a random judge rarely
writes EOS, so nearly every answer is ``max_new_tokens`` long: the work is fixed), builds rewardbench's
pair-v2 prompts for the shipped sample's rows (repeated to ``--judgments``), and times, in the same
invocation: the baseline (the backend with ``batch_size=1``: one generate call per judgment, as a plain
loop over ``model.generate`` does) and rm-mlflow's batched generation (length-sorted, left-padded
batches under the token budget). Both produce the same answers (greedy); the script checks it.
Last line: ``RESULT judgments_per_second=... baseline=... speedup=...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rm_mlflow.data import DataOptions, load_benchmark  # noqa: E402
from rm_mlflow.data.sample import SAMPLE_DATA_DIR, sample_corpus  # noqa: E402
from rm_mlflow.judges.backends.transformers import TransformersBackend  # noqa: E402
from rm_mlflow.judges.prompts import judge_messages, pair_prompt  # noqa: E402
from rm_mlflow.scoring.settings import ScoringSettings, resolve_dtype  # noqa: E402
from rm_mlflow.tiny_models import build_tokenizer  # noqa: E402

SHAPES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8),
}


def build_judge(shape: str, device: str, dtype: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(sample_corpus(), vocab_size=2000)
    tokenizer.padding_side = "left"
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=8192, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **SHAPES[shape])
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(resolve_dtype(dtype, device)).eval()
    return model, tokenizer


def chats(n: int) -> list:
    examples = load_benchmark("rewardbench", DataOptions(data_dir=str(SAMPLE_DATA_DIR))).examples
    built = [judge_messages(*pair_prompt(e.prompt, e.chosen[0], e.rejected[0])) for e in examples]
    # the same prompt more than once would be answered once by the judge kind; make each judgment distinct
    repeated = built * (n // len(built) + 1)
    return [(*chat[:-1], {"role": "user", "content": f"{chat[-1]['content']}\n\n(judgment {i})"}) for i, chat in enumerate(repeated)][:n]


def timed(backend: TransformersBackend, requests: list) -> tuple[float, list]:
    import torch

    answers: dict[int, object] = {}
    if backend.device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    backend.generate(requests, lambda index, generation: answers.__setitem__(index, generation))
    if backend.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started, [answers[i] for i in range(len(requests))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--judgments", type=int, default=64)
    parser.add_argument("--baseline-judgments", type=int, default=None, help="judgments timed one at a time (default: all; fewer on slow devices)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-tokens-per-batch", type=int, default=None)
    args = parser.parse_args()
    dtype = "float32" if args.device == "cpu" else "bfloat16"
    model, tokenizer = build_judge(args.shape, args.device, dtype)
    requests = chats(args.judgments)
    common = dict(max_new_tokens=args.max_new_tokens, max_length=8192, dtype=dtype, device=args.device)
    batched_settings = ScoringSettings.from_mapping(dict(batch_size=args.batch_size, max_tokens_per_batch=args.max_tokens_per_batch, **common))
    batched = TransformersBackend(model, tokenizer, batched_settings)
    single = TransformersBackend(model, tokenizer, ScoringSettings.from_mapping(dict(batch_size=1, **common)))
    timed(batched, requests[:2])  # warm-up (kernels, allocator)
    baseline_requests = requests[: args.baseline_judgments or len(requests)]
    baseline_seconds, baseline_answers = timed(single, baseline_requests)
    seconds, answers = timed(batched, requests)
    same = sum(a.text == b.text for a, b in zip(answers, baseline_answers, strict=False))
    generated = sum(a.completion_tokens for a in answers)
    prompt_tokens = sum(a.prompt_tokens for a in answers)
    params = sum(p.numel() for p in model.parameters())
    baseline_rate, rate = len(baseline_requests) / baseline_seconds, len(requests) / seconds
    print(f"judge: random-init Llama {args.shape} ({params / 1e9:.2f}B parameters, {dtype}) on {args.device}; "
          f"{len(requests)} judgments, {prompt_tokens} prompt tokens, {generated} generated tokens")
    print(f"one at a time: {len(baseline_requests)} judgments in {baseline_seconds:.1f}s = {baseline_rate:.2f} judgments/s")
    print(f"batched:       {len(requests)} judgments in {seconds:.1f}s = {rate:.2f} judgments/s, {generated / seconds:.0f} generated tokens/s")
    print(f"identical answers (greedy) on the {len(baseline_answers)} judged both ways: {same}/{len(baseline_answers)}")
    print(f"RESULT judgments_per_second={rate:.2f} baseline={baseline_rate:.2f} speedup={rate / baseline_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
