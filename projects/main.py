"""MLproject entry point ``main``: evaluate one reward model and log the results to the project's run.

mlflow run . -P model=models:/my-rm@champion -P datasets=rewardbench,rmb
"""

from __future__ import annotations

import argparse
import sys

from projects._params import add_flag, optional

# The entry point's own parameters (name -> default; None: required). Every scoring option is a parameter too,
# generated from rm_mlflow.scoring.settings; tests/test_mlproject.py keeps both MLproject files equal to this list.
OWN_PARAMETERS: dict[str, str | None] = {
    "model": None, "datasets": "rewardbench,rewardbench-prior", "data_dir": "", "split": "", "limit": "", "skip_invalid": "false",
    "skip_missing": "false", "single_game": "false", "languages": "", "sync_card": "off", "card_format": "both",
    "push_results_to_hub": "", "public_results": "false", "model_kind": "auto",
}
_HELP = {
    "model": "models:/NAME/VERSION, models:/NAME@ALIAS, runs:/..., a local folder or a Hub id",
    "datasets": "comma-separated benchmarks, files or Hub ids",
    "data_dir": "folder with local benchmark copies (default: RM_MLFLOW_DATA_DIR, else the Hub)",
    "limit": "first N examples per subset",
    "skip_invalid": "true: skip malformed rows instead of stopping",
    "skip_missing": "true: leave out (and name) a benchmark whose data is not found, instead of stopping",
    "single_game": "true: JudgeBench judges each pair once, in its published order",
    "languages": "M-RewardBench language configs, comma-separated (deu_Latn or de; default: all 23)",
    "sync_card": "off, local (the model folder's card files and the run's model_card/) or hub (also a pull request)",
    "card_format": "both, eval_results (the Hub's .eval_results/<benchmark>.yaml) or model_index (README.md, the legacy format)",
    "push_results_to_hub": "a Hub dataset OWNER/NAME for the per-example tables (token from HF_TOKEN)",
    "public_results": "true: make a new results dataset public (default: private)",
    "model_kind": "sequence-classifier, dpo, custom, pairwise, generative (default: from the model)",
}


def parameters() -> dict[str, str | None]:
    """Every parameter of the ``main`` entry point and its default, in MLproject order."""
    from rm_mlflow.scoring.settings import mlproject_parameters

    return OWN_PARAMETERS | mlproject_parameters()


def build_parser() -> argparse.ArgumentParser:
    """The entry point's parameters, as MLproject passes them (strings; empty means not given)."""
    from rm_mlflow.scoring.settings import scoring_options

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    helps = _HELP | {spec.key: spec.help for spec in scoring_options()}
    for name, default in parameters().items():
        add_flag(parser, name, required=default is None, default=default, help=helps.get(name))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Evaluate ``--model`` on ``--datasets`` into the run ``mlflow run`` created; one line and exit 2 on bad input."""
    import mlflow

    from rm_mlflow.errors import user_error
    from rm_mlflow.options import EvaluatorConfig
    from rm_mlflow.pipeline import run_evaluation
    from rm_mlflow.scoring.settings import parse_mlproject_value, scoring_options
    from rm_mlflow.tracking.run import TrackingTarget

    args = build_parser().parse_args(argv)
    try:
        given = {
            "data_dir": optional(args.data_dir),
            "split": optional(args.split),
            "limit": optional(args.limit, int, name="limit"),
            "skip_invalid": args.skip_invalid.lower() in ("1", "true", "yes"),
            "skip_missing": args.skip_missing.lower() in ("1", "true", "yes"),
            "single_game": args.single_game.lower() in ("1", "true", "yes"),
            "languages": optional(args.languages),
            "sync_model_card": optional(args.sync_card),
            "model_card": {"card_format": args.card_format} if args.card_format else None,
            "push_results_to_hub": optional(args.push_results_to_hub),
            "public_results": args.public_results.lower() in ("1", "true", "yes"),
            "model_kind": optional(args.model_kind),
        } | {spec.key: parse_mlproject_value(spec.key, getattr(args, spec.key)) for spec in scoring_options()}
        config = {key: value for key, value in given.items() if value is not None and value is not False or key == "skip_invalid"}
        options = EvaluatorConfig.from_mapping(config, source="MLproject parameters")
        datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
        with mlflow.start_run() as run:  # the run `mlflow run` created (MLFLOW_RUN_ID)
            outcome = run_evaluation(options.request(args.model, datasets), TrackingTarget(run_id=run.info.run_id))
    except Exception as error:
        reported = user_error(error)
        if reported is None:
            raise
        print(reported[0], file=sys.stderr)
        return reported[1]
    for name, benchmark in outcome.report.benchmarks.items():
        score = benchmark.scores.score
        print(f"{name}: {'n/a' if score is None else f'{score:.4f}'}")
    print(f"run {outcome.run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
