"""The ``rm-mlflow`` command line: argument parsing only; every command calls one library function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rm_mlflow.errors import RmMlflowError
from rm_mlflow.service.signature import DEFAULT_SECRET_ENV, DEFAULT_TOLERANCE_SECONDS
from rm_mlflow.scoring.settings import DTYPES, TRUNCATION_MODES
from rm_mlflow.tracking.run import SYNC_MODES, DataOptions

DEFAULT_OUTPUT = "rm-mlflow-results"


def _flag(parser: argparse.ArgumentParser, name: str, *aliases: str, **kwargs) -> None:
    """Accept both rewardbench's ``--batch_size`` and the dashed ``--batch-size`` spelling."""
    names = [f"--{name}", *aliases]
    if "_" in name:
        names.append(f"--{name.replace('_', '-')}")
    parser.add_argument(*names, **kwargs)


def _add_evaluation_flags(parser: argparse.ArgumentParser) -> None:
    """Which benchmarks and how to score: shared by ``evaluate``, ``serve`` and ``watch``."""
    _flag(parser, "dataset", action="append", default=None,
          help="registered benchmark (see `rm-mlflow benchmarks`), local file/folder, or Hub dataset id; "
               "repeat or comma-separate for several (default: rewardbench)")
    _flag(parser, "data_dir", default=None, help="folder with local benchmark copies (also RM_MLFLOW_DATA_DIR)")
    _flag(parser, "split", default=None, help="dataset split (default: the benchmark's own)")
    _flag(parser, "revision", default=None, help="model and dataset revision on the Hub")
    _flag(parser, "subsets", default=None, help="comma-separated subsets to keep")
    _flag(parser, "limit", type=int, default=None, help="keep the first N examples of each subset (quick runs)")
    _flag(parser, "skip_invalid", action="store_true", help="skip malformed rows (counted and reported) instead of stopping")
    _flag(parser, "tokenizer", default=None, help="tokenizer to use instead of the model's")
    _flag(parser, "chat_template", default=None,
          help="'tokenizer' (the tokenizer's own; the default), 'raw', a named template (chatml, tulu, llama-3) or a Jinja file")
    _flag(parser, "max_length", type=int, default=None, help="truncation length in tokens (default 2048)")
    _flag(parser, "truncation", choices=TRUNCATION_MODES, default=None,
          help="'none' (default, as the rewardbench CLI), 'left' (run_rm.py: keep the end) or 'right'")
    _flag(parser, "force_truncation", action="store_true", help="rewardbench spelling of --truncation left")
    _flag(parser, "batch_size", type=int, default=None, help="most sequences per forward pass (default 64)")
    _flag(parser, "max_tokens_per_batch", type=int, default=None, help="padded-token budget per forward pass (default: by device)")
    _flag(parser, "dtype", choices=DTYPES, default=None, help="'auto' (default) is bfloat16 on GPU, float32 on CPU")
    _flag(parser, "torch_dtype", dest="dtype", choices=DTYPES, help="alias of --dtype (rewardbench spelling)")
    _flag(parser, "device", default=None, help="'auto' (default: cuda if available), 'cpu', 'cuda', 'cuda:1', ...")
    _flag(parser, "attn_implementation", default=None, help="sdpa (default), eager or flash_attention_2")
    _flag(parser, "score_index", type=int, default=None, help="which logit of a multi-logit head is the reward (default 0)")
    _flag(parser, "model_kind", default="auto", help="model loader (default: chosen from the model config)")
    _flag(parser, "trust_remote_code", action="store_true", help="allow model code from the Hub (off by default)")
    _flag(parser, "not_quantized", action="store_true", help="accepted for rewardbench compatibility; models are never quantized")


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a reward model on benchmarks and write per-example scores and a results JSON",
        description="Evaluate a reward model. Flags follow the rewardbench CLI where they overlap.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _flag(parser, "model", required=True,
          help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/ID/PATH, a local MLflow or Hugging Face model folder, or a Hub id")
    _add_evaluation_flags(parser)
    _flag(parser, "output", "--output_dir", default=DEFAULT_OUTPUT, help="folder for results.json and per-example parquet")
    _flag(parser, "no_resume", action="store_true", help="ignore scores cached in the output folder by an earlier run")
    _flag(parser, "quiet", action="store_true", help="no progress bar")
    _flag(parser, "mlflow", action="store_true", help="also log the results to an MLflow run")
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    _flag(parser, "experiment", default=None, help="MLflow experiment name")
    _flag(parser, "run_name", default=None, help="MLflow run name")
    _flag(parser, "sync_model_card", choices=SYNC_MODES, default="off",
          help="with --mlflow: write the results into the model card (local folder and run artifacts; hub also opens a PR)")
    parser.set_defaults(handler=_run_evaluate)


SCORING_FLAGS = ("tokenizer", "chat_template", "max_length", "truncation", "batch_size", "max_tokens_per_batch",
                 "dtype", "device", "attn_implementation", "score_index", "revision")


def scoring_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The scoring settings given on the command line; the rest come from the model's logged settings or the defaults."""
    values = {name: getattr(args, name) for name in SCORING_FLAGS if getattr(args, name) is not None}
    if args.force_truncation:
        values["truncation"] = "left"
    if args.trust_remote_code:
        values["trust_remote_code"] = True
    return values


def dataset_names(args: argparse.Namespace) -> list[str]:
    return [name.strip() for value in (args.dataset or ["rewardbench"]) for name in value.split(",") if name.strip()]


def data_options(args: argparse.Namespace) -> DataOptions:
    return DataOptions(
        data_dir=args.data_dir, split=args.split, revision=args.revision,
        subsets=tuple(args.subsets.split(",")) if args.subsets else (), limit=args.limit, skip_invalid=args.skip_invalid,
    )


def _run_evaluate(args: argparse.Namespace) -> int:
    from rm_mlflow.evaluation import evaluate_reward_model
    from rm_mlflow.results import format_summary, write_results
    from rm_mlflow.tracking.models import load_model_for_scoring, resolve_model_reference
    from rm_mlflow.tracking.run import evaluate_to_run

    datasets = dataset_names(args)
    data = data_options(args)
    output = Path(args.output)
    if args.mlflow or args.tracking_uri:
        result = evaluate_to_run(
            args.model, datasets, settings=scoring_overrides(args), model_kind=args.model_kind, data=data, output_dir=output,
            resume=not args.no_resume, tracking_uri=args.tracking_uri, experiment=args.experiment, run_name=args.run_name,
            progress=not args.quiet, sync_model_card=args.sync_model_card,
        )
        print(format_summary(result.report))
        print(f"\nWrote results to {output}/ and logged them to MLflow run {result.run_id}")
        for outcome in result.card_sync:
            print(f"Model card {outcome['target']}: {outcome['status']}" + (f": {outcome['error']}" if outcome.get("error") else ""))
        if result.gate is not None:
            print(f"Promotion gate: {'passed' if result.gate.passed else 'FAILED'}: {result.gate.message}")
        return 0

    cache_path = output / "score_cache.jsonl"
    if args.no_resume and cache_path.exists():
        cache_path.unlink()
    reward_model = load_model_for_scoring(resolve_model_reference(args.model), scoring_overrides(args), kind=args.model_kind)
    report = evaluate_reward_model(reward_model, datasets, cache_path=cache_path, progress=not args.quiet, **data.load_kwargs())
    paths = write_results(report, output)
    print(format_summary(report))
    print(f"\nWrote {paths['results']} and per-example scores to {output}/")
    return 0


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="offline end-to-end run: tiny random model, shipped sample data, local sqlite MLflow store",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _flag(parser, "dir", default="rm-mlflow-demo", help="working folder for the model, results and mlflow.db")
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from rm_mlflow.demo import run_demo
    from rm_mlflow.results import format_summary

    result = run_demo(args.dir)
    print(format_summary(result.report))
    print(f"\nModel (random init, not trained): {result.model_dir}")
    print(f"Results: {result.results_dir}")
    print(f"MLflow run {result.run_id} in {result.tracking_uri}")
    print(f"Browse it with: mlflow ui --backend-store-uri {result.tracking_uri}")
    return 0


def _add_benchmarks(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("benchmarks", help="list the registered benchmarks")
    parser.set_defaults(handler=_run_benchmarks)


def _run_benchmarks(args: argparse.Namespace) -> int:
    from rm_mlflow.data import BENCHMARKS

    for name, benchmark in BENCHMARKS:
        home = benchmark.hub_id or "local files (see --data-dir)"
        print(f"{name:<20} {benchmark.title}  [{home}, split {benchmark.default_split or 'all'}]")
    return 0


def _add_card(subparsers: argparse._SubParsersAction) -> None:
    card = subparsers.add_parser("card", help="model-card (model-index) metadata")
    actions = card.add_subparsers(dest="card_command", required=True)
    parser = actions.add_parser(
        "sync",
        help="merge evaluation results into a model card: a local folder's README.md, the run's artifacts, or the Hub",
        description="Existing results from other sources are kept byte for byte; our earlier results are replaced. "
        "The Hub token comes only from HF_TOKEN or `hf auth login` and is never printed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    _flag(source, "run_id", help="an rm-mlflow evaluation run (reads rm_eval/results.json)")
    _flag(source, "results", help="a results.json written by `rm-mlflow evaluate`")
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    _flag(parser, "model_dir", default=None, help="write the card into this model folder's README.md (created if missing)")
    _flag(parser, "repo_id", default=None, help="the model's Hub repo")
    _flag(parser, "push", action="store_true", help="push to --repo_id: a pull request unless --direct_commit")
    _flag(parser, "direct_commit", action="store_true", help="commit to the main branch instead of opening a pull request")
    _flag(parser, "model_name", default=None, help="model-index name (default: the folder name or repo id)")
    _flag(parser, "include_subsets", action="store_true", help="one metric per subset as well as score and sections")
    _flag(parser, "public_url", default=None, help="public MLflow address for each result's source link (also RM_MLFLOW_PUBLIC_URL)")
    _flag(parser, "dry_run", action="store_true", help="print the YAML diff and write nothing")
    parser.set_defaults(handler=_run_card_sync)


def _run_card_sync(args: argparse.Namespace) -> int:
    from rm_mlflow.card import CardSyncError, load_results, sync_hub, sync_local, sync_run_artifact
    from rm_mlflow.card.sync import source_url_for_run

    if not (args.model_dir or args.repo_id or args.run_id):
        raise CardSyncError("nothing to write: give --model_dir, --repo_id (with --push or --dry_run) or --run_id")
    if args.tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(args.tracking_uri)
    results = load_results(run_id=args.run_id, results_path=args.results)
    render = {"include_subsets": args.include_subsets, "model_name": args.model_name}
    if args.run_id:
        render["source_url"] = source_url_for_run(args.run_id, args.public_url)
    outcomes = []
    if args.model_dir:
        outcomes.append(sync_local(args.model_dir, results, dry_run=args.dry_run, **render))
    if args.repo_id:
        if not (args.push or args.dry_run):
            raise CardSyncError("--repo_id needs --push (or --dry_run to see the change)")
        outcomes.append(sync_hub(args.repo_id, results, create_pr=not args.direct_commit, dry_run=args.dry_run, **render))
    if args.run_id and not args.dry_run and not (args.model_dir or args.repo_id):
        outcomes.append(sync_run_artifact(args.run_id, results, **render))
    for outcome in outcomes:
        if args.dry_run:
            print(outcome.diff or f"{outcome.target}: no change")
        else:
            print(f"{outcome.target}: {'updated' if outcome.changed else 'already up to date'}" + (f" ({outcome.url})" if outcome.url else ""))
    return 0


def _add_service_flags(parser: argparse.ArgumentParser) -> None:
    """What the registration service evaluates, and where it keeps its queue: shared by ``serve`` and ``watch``."""
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI)")
    _flag(parser, "state_dir", default="rm-mlflow-service", help="folder for the job queue (queue.sqlite) and each job's results")
    _flag(parser, "select_tag", default="rm_eval=true",
          help="registered-model tag KEY=VALUE that marks reward models ('' to select by --name_pattern only)")
    _flag(parser, "name_pattern", default=None, help="also select registered models whose name matches this glob, e.g. 'rm-*'")
    _flag(parser, "experiment", default="rm-eval", help="MLflow experiment for the evaluation runs")
    _flag(parser, "workers", type=int, default=None, help="evaluations at a time (default: one per GPU, one on CPU)")
    _flag(parser, "max_attempts", type=int, default=5, help="attempts for transient failures (tracking server, network)")
    _flag(parser, "retry_delay", type=float, default=30.0, help="seconds before the first retry; doubles each time")
    _flag(parser, "backfill", action="store_true", help="when polling for the first time, also queue versions registered earlier")
    _flag(parser, "sync_model_card", choices=SYNC_MODES, default="off", help="write each run's results into the model card")
    _add_evaluation_flags(parser)


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="receive MLflow model-registry webhooks and evaluate each new version of a reward model",
        description="Each delivery is verified (HMAC-SHA256 signature, 5-minute timestamp window, new delivery id) "
        "and queued durably before it is answered; a worker evaluates each model version exactly once and writes "
        "rm_eval.status, rm_eval.run_id, rm_eval.score and rm_eval.error tags on the version. "
        "Register the webhook with `rm-mlflow webhook create`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _flag(parser, "host", default="127.0.0.1", help="address to listen on")
    _flag(parser, "port", type=int, default=8765, help="port to listen on")
    _flag(parser, "secret_env", default=DEFAULT_SECRET_ENV, help="environment variable holding the webhook secret")
    _flag(parser, "secret_file", default=None, help="file holding the webhook secret (instead of --secret_env)")
    _flag(parser, "tolerance", type=int, default=DEFAULT_TOLERANCE_SECONDS, help="seconds a delivery's timestamp may be off")
    _flag(parser, "poll_interval", type=float, default=None, help="also poll the registry every N seconds (catches missed deliveries)")
    _add_service_flags(parser)
    parser.set_defaults(handler=_run_serve)


def _add_watch(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="poll the registry for new versions of reward models and evaluate them (for stores without webhooks)",
        description="The polling fallback of `rm-mlflow serve`: same queue, same exactly-once evaluation, same version tags.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _flag(parser, "interval", type=float, default=30.0, help="seconds between polls")
    _flag(parser, "once", action="store_true", help="poll once, evaluate what is due, then exit (for cron)")
    _add_service_flags(parser)
    parser.set_defaults(handler=_run_watch)


def _service(args: argparse.Namespace, *, poll_interval: float | None):
    from rm_mlflow.service import EvaluationPlan, EvaluationService, ModelSelector, RetryPolicy, ServiceConfig

    plan = EvaluationPlan(datasets=tuple(dataset_names(args)), data=data_options(args), settings=scoring_overrides(args),
                          model_kind=args.model_kind, experiment=args.experiment, sync_model_card=args.sync_model_card)
    config = ServiceConfig(
        state_dir=Path(args.state_dir), plan=plan, selector=ModelSelector.from_options(args.select_tag, args.name_pattern),
        retry=RetryPolicy(max_attempts=args.max_attempts, first_delay=args.retry_delay), tracking_uri=args.tracking_uri,
        workers=args.workers, poll_interval=poll_interval, backfill=args.backfill,
    )
    return EvaluationService(config)


def _run_serve(args: argparse.Namespace) -> int:
    from rm_mlflow.service import WebhookVerifier, load_secret, serve

    verifier = WebhookVerifier(load_secret(env=args.secret_env, file=args.secret_file), tolerance_seconds=args.tolerance)
    serve(_service(args, poll_interval=args.poll_interval), verifier, host=args.host, port=args.port)
    return 0


def _run_watch(args: argparse.Namespace) -> int:
    from rm_mlflow.service import watch

    added = watch(_service(args, poll_interval=args.interval), once=args.once)
    if args.once:
        print(f"queued {added} new version(s)")
    return 0


def _add_webhook(subparsers: argparse._SubParsersAction) -> None:
    webhook = subparsers.add_parser("webhook", help="MLflow model-registry webhooks for `rm-mlflow serve`")
    actions = webhook.add_subparsers(dest="webhook_command", required=True)
    parser = actions.add_parser(
        "create",
        help="register `rm-mlflow serve` as a webhook receiver with the MLflow server",
        description="Calls MlflowClient.create_webhook. The MLflow server only accepts an http:// or private-address URL when "
        "it runs with MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true (see the README).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _flag(parser, "url", required=True, help="the receiver's address, e.g. https://rm-eval.internal:8765/webhook")
    _flag(parser, "secret_env", default=DEFAULT_SECRET_ENV, help="environment variable holding the shared secret")
    _flag(parser, "secret_file", default=None, help="file holding the shared secret (instead of --secret_env)")
    _flag(parser, "name", default="rm-mlflow", help="webhook name")
    _flag(parser, "events", default=None, help="comma-separated events (default: model_version.created,model_version_alias.created)")
    _flag(parser, "tracking_uri", default=None, help="MLflow server (default: MLFLOW_TRACKING_URI)")
    _flag(parser, "test", action="store_true", help="then have MLflow send a test delivery and report the answer")
    parser.set_defaults(handler=_run_webhook_create)


def _run_webhook_create(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from rm_mlflow.service import load_secret
    from rm_mlflow.service.app import VERSION_EVENTS

    client = MlflowClient(tracking_uri=args.tracking_uri)
    secret = load_secret(env=args.secret_env, file=args.secret_file)
    events = [event.strip() for event in args.events.split(",") if event.strip()] if args.events else list(VERSION_EVENTS)
    webhook = client.create_webhook(name=args.name, url=args.url, events=events, secret=secret,
                                    description="rm-mlflow: evaluate new reward-model versions")
    print(f"created webhook {webhook.webhook_id} ({args.name}) -> {args.url} for {', '.join(events)}")
    if args.test:
        result = client.test_webhook(webhook.webhook_id)
        print(f"test delivery: {'ok' if result.success else 'FAILED'} (HTTP {result.response_status}) {result.error_message or ''}".rstrip())
        return 0 if result.success else 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rm-mlflow", description="Reward-model evaluation for MLflow.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(subparsers)
    _add_benchmarks(subparsers)
    _add_demo(subparsers)
    _add_card(subparsers)
    _add_serve(subparsers)
    _add_watch(subparsers)
    _add_webhook(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2"):  # one INFO line per HTTP request otherwise
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.handler(args)
    except RmMlflowError as error:
        print(f"rm-mlflow: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
