"""MLproject entry point ``main``: evaluate one reward model and log the results to the project's run.

    mlflow run . -P model=models:/my-rm@champion -P datasets=rewardbench,rmb
"""

from __future__ import annotations

import argparse
import sys

from projects._params import add_flag, optional


def build_parser() -> argparse.ArgumentParser:
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
    add_flag(parser, "sync_card", default="off",
             help="off, local (the model folder's README.md and the run's model_card/README.md) or hub (also a pull request)")
    return parser


def main(argv: list[str] | None = None) -> int:
    import mlflow

    from rm_mlflow.tracking.options import EvaluationOptions
    from rm_mlflow.tracking.run import evaluate_to_run

    args = build_parser().parse_args(argv)
    config = {
        key: value
        for key, value in {
            "data_dir": optional(args.data_dir),
            "split": optional(args.split),
            "limit": optional(args.limit, int),
            "skip_invalid": args.skip_invalid.lower() in ("1", "true", "yes"),
            "batch_size": optional(args.batch_size, int),
            "max_length": optional(args.max_length, int),
            "truncation": optional(args.truncation),
            "dtype": optional(args.dtype),
            "device": optional(args.device),
            "chat_template": optional(args.chat_template),
            "sync_model_card": optional(args.sync_card),
        }.items()
        if value is not None
    }
    options = EvaluationOptions.from_mapping(config, source="MLproject parameters")
    datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
    with mlflow.start_run() as run:  # the run `mlflow run` created (MLFLOW_RUN_ID)
        result = evaluate_to_run(
            args.model, datasets, run_id=run.info.run_id, settings=options.settings, data=options.data, model_kind=options.model_kind,
            sync_model_card=options.sync_model_card, model_card=options.model_card,
        )
    for name, benchmark in result.report.benchmarks.items():
        score = benchmark.scores.score
        print(f"{name}: {'n/a' if score is None else f'{score:.4f}'}")
    print(f"run {result.run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
