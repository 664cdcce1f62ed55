"""MLproject entry point ``main``: evaluate one reward model and log the results to the project's run.

mlflow run . -P model=models:/my-rm@champion -P datasets=rewardbench,rmb
"""

from __future__ import annotations

import argparse
import sys

from projects._params import add_flag, optional


def build_parser() -> argparse.ArgumentParser:
    """The entry point's parameters, as MLproject passes them (strings; empty means not given)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flag(parser, "model", required=True, help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/..., a local folder or a Hub id")
    add_flag(parser, "datasets", default="rewardbench,rewardbench-prior", help="comma-separated benchmarks, files or Hub ids")
    add_flag(parser, "data_dir", default="", help="folder with local benchmark copies (default: RM_MLFLOW_DATA_DIR, else the Hub)")
    add_flag(parser, "split", default="")
    add_flag(parser, "limit", default="", help="first N examples per subset")
    add_flag(parser, "skip_invalid", default="false", help="true: skip malformed rows instead of stopping")
    add_flag(parser, "batch_size", default="", help="sequences per forward pass (default 64)")
    add_flag(parser, "max_length", default="", help="max tokens (default: the model's logged setting, else 2048)")
    add_flag(parser, "truncation", default="", help="none, left or right")
    add_flag(parser, "dtype", default="", help="auto, float32, bfloat16, float16")
    add_flag(parser, "device", default="", help="auto, cpu, cuda, cuda:1")
    add_flag(parser, "chat_template", default="", help="tokenizer, raw, chatml, tulu, llama-3 or a Jinja file")
    add_flag(parser, "device_map", default="", help="models bigger than one GPU: auto (accelerate's placement over every GPU)")
    add_flag(parser, "max_memory", default="", help="with device_map: memory per device, e.g. 0=70GiB,1=70GiB,cpu=200GiB")
    add_flag(parser, "quantization", default="", help="none (default), 8bit or 4bit (bitsandbytes, CUDA)")
    add_flag(parser, "model_kind", default="auto", help="sequence-classifier, dpo, custom, pairwise, generative (default: from the model)")
    add_flag(parser, "ref_model", default="", help="DPO reference model: a folder, Hub id or models:/ URI")
    add_flag(parser, "ref_free_type", default="", help="DPO without a reference: avg, sum or norm")
    add_flag(parser, "score_attribute", default="", help="custom heads: the output attribute holding the reward")
    add_flag(parser, "trust_remote_code", default="false", help="true: run the checkpoint's own modelling code")
    add_flag(parser, "judge_endpoint", default="", help="generative judges: an OpenAI-compatible base URL (the model is its model name)")
    add_flag(parser, "judge_api_key_env", default="", help="generative judges: the NAME of the environment variable holding the key")
    add_flag(parser, "judge_mode", default="", help="generative judges: ranking or ratings")
    add_flag(parser, "judge_orders", default="", help="generative judges: one (seeded) or both")
    add_flag(parser, "max_new_tokens", default="", help="generative judges: longest answer in tokens (default 2048)")
    add_flag(parser, "sync_card", default="off",
             help="off, local (the model folder's README.md and the run's model_card/README.md) or hub (also a pull request)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Evaluate ``--model`` on ``--datasets`` into the run ``mlflow run`` created; one line and exit 2 on bad input."""
    import mlflow

    from rm_mlflow.errors import RmMlflowError, one_line, tracking_failure
    from rm_mlflow.options import EvaluationOptions
    from rm_mlflow.pipeline import run_evaluation
    from rm_mlflow.tracking.run import TrackingTarget

    args = build_parser().parse_args(argv)
    try:
        config = {
            key: value
            for key, value in {
                "data_dir": optional(args.data_dir),
                "split": optional(args.split),
                "limit": optional(args.limit, int, name="limit"),
                "skip_invalid": args.skip_invalid.lower() in ("1", "true", "yes"),
                "batch_size": optional(args.batch_size, int, name="batch_size"),
                "max_length": optional(args.max_length, int, name="max_length"),
                "truncation": optional(args.truncation),
                "dtype": optional(args.dtype),
                "device": optional(args.device),
                "chat_template": optional(args.chat_template),
                "device_map": optional(args.device_map),
                "max_memory": optional(args.max_memory),
                "quantization": optional(args.quantization),
                "sync_model_card": optional(args.sync_card),
                "model_kind": optional(args.model_kind),
                "ref_model": optional(args.ref_model),
                "ref_free_type": optional(args.ref_free_type),
                "score_attribute": optional(args.score_attribute),
                "trust_remote_code": args.trust_remote_code.lower() in ("1", "true", "yes"),
                "judge_endpoint": optional(args.judge_endpoint),
                "judge_api_key_env": optional(args.judge_api_key_env),
                "judge_mode": optional(args.judge_mode),
                "judge_orders": optional(args.judge_orders),
                "max_new_tokens": optional(args.max_new_tokens, int, name="max_new_tokens"),
            }.items()
            if value is not None
        }
        options = EvaluationOptions.from_mapping(config, source="MLproject parameters")
        datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
        with mlflow.start_run() as run:  # the run `mlflow run` created (MLFLOW_RUN_ID)
            outcome = run_evaluation(options.request(args.model, datasets), TrackingTarget(run_id=run.info.run_id))
    except Exception as error:
        failure = one_line(error) if isinstance(error, RmMlflowError) else tracking_failure(error)
        if failure is None:
            raise
        print(f"rm-mlflow: error: {failure}", file=sys.stderr)
        return 2
    for name, benchmark in outcome.report.benchmarks.items():
        score = benchmark.scores.score
        print(f"{name}: {'n/a' if score is None else f'{score:.4f}'}")
    print(f"run {outcome.run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
