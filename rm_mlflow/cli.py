"""The ``rm-mlflow`` command line: argument parsing only; every command calls one library function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rm_mlflow.card.sync import CARD_FORMATS, SYNC_MODES
from rm_mlflow.data.options import DataOptions
from rm_mlflow.errors import OptionError, RmMlflowError, user_error
from rm_mlflow.scoring.settings import add_scoring_flags, flag_values
from rm_mlflow.service.signature import DEFAULT_SECRET_ENV, DEFAULT_TOLERANCE_SECONDS

DEFAULT_OUTPUT = "rm-mlflow-results"
GATE_FAILED_STATUS = 3  # 1: could not write or log, 2: bad input; 3: ran, and the candidate did not pass


class _Parser(argparse.ArgumentParser):
    """An argument error is one line (``rm-mlflow evaluate: error: ...``) and exit status 2, like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Shows a flag's default once, and only when it says something (not None, not a switch's False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or action.option_strings == []:
            return text
        return f"{text} (default: {action.default})"


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def _gpu_count(value: str) -> int | str:
    """A positive number of GPUs, or ``all``."""
    return "all" if value == "all" else _positive_int(value)


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
    _flag(parser, "subsets", default=None, help="comma-separated subsets to keep")
    _flag(parser, "limit", type=_positive_int, default=None, help="keep the first N examples of each subset (quick runs)")
    _flag(parser, "skip_invalid", action="store_true", help="skip malformed rows (counted and reported) instead of stopping")
    _flag(parser, "skip_missing", action="store_true",
          help="leave out (and name) a benchmark whose data is not found, instead of stopping (useful with suite:NAME)")
    _flag(parser, "single_game", action="store_true", help="JudgeBench: judge each pair once, in its published order (upstream's --single_game)")
    _flag(parser, "languages", default=None,
          help="M-RewardBench: comma-separated language configs, FLORES-200 (deu_Latn) or ISO 639-1 (de) codes (default: all 23)")
    _flag(parser, "pref_sets", action="store_true", help="rewardbench spelling of --dataset rewardbench-prior")
    add_scoring_flags(parser, positive_int=_positive_int)  # one flag per option of ScoringSettings and its kinds' groups
    _flag(parser, "model_kind", default="auto",
          help="sequence-classifier, dpo, custom, pairwise, generative or a plug-in kind "
               "(default: chosen from the model config, --ref_model and --judge_endpoint)")
    # rewardbench's spellings that are not one option each
    _flag(parser, "force_truncation", action="store_true", help="rewardbench spelling of --truncation left")
    _flag(parser, "score_w_ratings", dest="judge_mode", action="store_const", const="ratings", help="rewardbench spelling of --judge_mode ratings")
    _flag(parser, "not_quantized", action="store_true", help="rewardbench spelling of the default: no quantization unless --quantization")
    _flag(parser, "bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals of every figure (0: none)")
    _flag(parser, "ci_level", type=float, default=0.95, help="coverage of the intervals")
    _flag(parser, "seed", type=int, default=0, help="seed of the bootstrap (and of any sampling)")


def _add_gate_flags(parser: argparse.ArgumentParser, *, alias: bool = True) -> None:
    """The promotion gate's rule: shared by ``evaluate``, ``serve``, ``watch`` (against ``--gate_alias``) and ``gate``."""
    group = parser.add_argument_group("promotion gate", f"a failed gate is printed as FAILED and exits with status {GATE_FAILED_STATUS}")
    _flag(group, "gate_metric", default=None, help="the metric the gate reads (default: the first benchmark's score, e.g. rmb/score)")
    _flag(group, "gate_min", type=float, default=None, help="pass only when the metric is at least this")
    if alias:
        _flag(group, "gate_alias", default=None,
              help="compare with the latest evaluation of this alias of the registered model (e.g. champion); it must exist and "
                   "have been evaluated on the same benchmarks")
    _flag(group, "gate_margin", type=float, default=None, help="pass only when the metric beats the baseline's by at least this (> 0)")
    _flag(group, "gate_confidence", type=float, default=None,
          help="pass only when the candidate is better than the baseline with at least this probability (paired bootstrap), e.g. 0.95")
    _flag(group, "gate_max_regression", type=float, default=None,
          help="pass only when the lower end of the difference's interval is above minus this (no clear regression), e.g. 0.01")


def gate_config(args: argparse.Namespace, *, baseline_given: bool = False):
    """The :class:`~rm_mlflow.tracking.gate.GateConfig` of the ``--gate_*`` flags, None when none is set."""
    from rm_mlflow.data.loading import resolve_benchmarks
    from rm_mlflow.tracking.gate import GateConfig

    rule = {"minimum": args.gate_min, "alias": getattr(args, "gate_alias", None), "margin": args.gate_margin,
            "confidence": args.gate_confidence, "max_regression": args.gate_max_regression}
    metric = args.gate_metric
    if metric is None and hasattr(args, "dataset") and any(value is not None for value in rule.values()):
        metric = f"{resolve_benchmarks(dataset_names(args))[0].name}/score"
    return GateConfig.from_flags(metric=metric or "<first benchmark>/score", baseline_given=baseline_given, **rule)


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a reward model on benchmarks and write per-example scores and a results JSON",
        description="Evaluate a reward model. Flags follow the rewardbench CLI where they overlap.",
        formatter_class=_HelpFormatter,
    )
    _flag(parser, "model", required=True,
          help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/ID/PATH, a local MLflow or Hugging Face model folder, or a Hub id")
    _add_evaluation_flags(parser)
    _flag(parser, "output", "--output_dir", default=DEFAULT_OUTPUT, help="folder for results.json and per-example parquet")
    _flag(parser, "no_resume", action="store_true", help="ignore scores cached in the output folder by an earlier run")
    _flag(parser, "num_processes", type=_positive_int, default=1,
          help="data-parallel processes on this machine: one per GPU (accelerate launch), or CPU processes (torchrun) that split "
               "the cores; each scores a token-balanced share, the first writes and logs the results")
    _flag(parser, "quiet", action="store_true", help="no progress bars (scoring, weight loading, downloads)")
    _flag(parser, "mlflow", action="store_true", help="also log the results to an MLflow run")
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    _flag(parser, "experiment", default=None, help="MLflow experiment name")
    _flag(parser, "run_name", default=None, help="MLflow run name")
    _flag(parser, "sync_model_card", choices=SYNC_MODES, default="off",
          help="with --mlflow: write the results into the model card (local folder and run artifacts; hub also opens a PR)")
    _add_card_format_flag(parser)
    _add_results_dataset_flags(parser)
    _flag(parser, "log_traces", type=int, default=0,
          help="with --mlflow: log up to N wrongly ranked examples and N others (seeded) as MLflow traces with feedback")
    _add_gate_flags(parser)
    parser.set_defaults(handler=_run_evaluate)


def scoring_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The scoring settings given on the command line; the rest come from the model's logged settings or the defaults."""
    values = flag_values(args)
    if args.force_truncation:
        values["truncation"] = "left"
    return values


def dataset_names(args: argparse.Namespace) -> list[str]:
    """``--dataset`` values, repeated or comma-separated (default: rewardbench; ``--pref_sets`` adds rewardbench-prior, as in rewardbench)."""
    names = [name.strip() for value in (args.dataset or []) for name in value.split(",") if name.strip()]
    if getattr(args, "pref_sets", False):
        return [*names, "rewardbench-prior"] if "rewardbench-prior" not in names else names
    return names or ["rewardbench"]


def data_options(args: argparse.Namespace) -> DataOptions:
    """The data flags as the one :class:`DataOptions` every loader reads."""
    return DataOptions(
        data_dir=args.data_dir, split=args.split, revision=args.revision, subsets=args.subsets or (), limit=args.limit,
        skip_invalid=args.skip_invalid, skip_missing=args.skip_missing, single_game=args.single_game, languages=args.languages or (),
    )


def evaluation_request(args: argparse.Namespace, **values: object):
    """The :class:`~rm_mlflow.pipeline.EvaluationRequest` the evaluation flags describe (``values`` add or override fields)."""
    from rm_mlflow.benchmarking import IntervalOptions
    from rm_mlflow.pipeline import EvaluationRequest

    return EvaluationRequest(**{
        "model": getattr(args, "model", None), "datasets": dataset_names(args), "data": data_options(args),
        "settings": scoring_overrides(args), "model_kind": args.model_kind,
        "intervals": IntervalOptions(resamples=args.bootstrap, level=args.ci_level, seed=args.seed), "gate": gate_config(args),
        "results_dataset": results_dataset_target(args), **values,
    })


def _launch_processes(args: argparse.Namespace, request, tracking) -> int:
    """Check the request here (data, options, references) and then run this same command as ``--num_processes`` processes."""
    from rm_mlflow.pipeline import EvaluationPipeline
    from rm_mlflow.scoring.distributed import launch, without_option
    from rm_mlflow.scoring.settings import ScoringSettings

    EvaluationPipeline(request, tracking).resolve()  # bad input is one line here, not once per process
    on_gpu = ScoringSettings.from_mapping(request.settings).resolved_device.startswith("cuda")
    logging.getLogger(__name__).info("scoring with %d %s processes", args.num_processes, "GPU" if on_gpu else "CPU")
    status = launch(without_option(args.argv, "num_processes"), args.num_processes, on_gpu=on_gpu)
    if status != 0:
        raise RmMlflowError(f"the {args.num_processes}-process run failed (exit {status}); the scores its processes computed are kept "
                            f"in {args.output}/ and a rerun resumes from them")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from rm_mlflow.card.sync import CardTarget
    from rm_mlflow.pipeline import run_evaluation
    from rm_mlflow.results import format_summary
    from rm_mlflow.scoring.distributed import end_process_group, launched_rank
    from rm_mlflow.tracking.run import TrackingTarget

    logged = args.mlflow or args.tracking_uri
    tracking = TrackingTarget(tracking_uri=args.tracking_uri, experiment=args.experiment, run_name=args.run_name) if logged else None
    request = evaluation_request(
        args, output_dir=args.output, resume=not args.no_resume, progress=not args.quiet,
        card=CardTarget.from_options(args.sync_model_card, {"card_format": args.card_format}),
        log_traces=args.log_traces,
    )
    if args.num_processes > 1 and launched_rank() is None:
        return _launch_processes(args, request, tracking)
    outcome = run_evaluation(request, tracking)
    end_process_group()
    if launched_rank():
        return 0  # only the first process reports
    print(format_summary(outcome.report))
    if outcome.run_id is None:
        print(f"\nWrote {Path(args.output) / 'results.json'} and per-example scores to {args.output}/")
        _print_results_dataset(outcome.results_dataset)
        return 0
    import mlflow

    print(f"\nWrote results to {args.output}/ and logged them to MLflow run {outcome.run_id} on {mlflow.get_tracking_uri()}")
    if not (args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")):
        print("(no --tracking_uri and no MLFLOW_TRACKING_URI: MLflow's default store in this folder)")
    if outcome.run_page:
        print(f"See the run: {outcome.run_page}")
    for sync in outcome.card_sync:
        print(f"Model card {sync['target']}: {sync['status']}" + (f": {sync['error']}" if sync.get("error") else ""))
    _print_results_dataset(outcome.results_dataset)
    if outcome.gate is not None:
        return _report_gate(outcome.gate)
    return 0


def _print_results_dataset(published: dict | None) -> None:
    if published:
        print(f"Results dataset: {published['url']}" if published["status"] == "succeeded" else f"Results dataset: failed: {published['error']}")


def _report_gate(gate) -> int:
    """Print the gate's outcome last, as one line; a failed gate exits with :data:`GATE_FAILED_STATUS`."""
    against = f" (against {gate.baseline})" if gate.baseline else ""
    print(f"Promotion gate{against}: {'passed' if gate.passed else 'FAILED'}: {gate.message}")
    return 0 if gate.passed else GATE_FAILED_STATUS


def _add_gate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="check the promotion gate of one finished evaluation against another",
        description="Each side is a results folder, an MLflow run id, or models:/NAME/VERSION or models:/NAME@ALIAS (that version's "
        f"latest finished evaluation). Exits 0 when the candidate passes and {GATE_FAILED_STATUS} when it does not.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("candidate", help="the evaluation under test (e.g. models:/my-rm/7)")
    _flag(parser, "baseline", required=True, help="the evaluation to compare with (e.g. models:/my-rm@champion)")
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking URI for run ids and models:/ references (default: MLFLOW_TRACKING_URI)")
    _add_gate_flags(parser, alias=False)
    parser.set_defaults(handler=_run_gate)


def _run_gate(args: argparse.Namespace) -> int:
    import tempfile

    from rm_mlflow.results import Results
    from rm_mlflow.tracking.earlier_runs import results_folder
    from rm_mlflow.tracking.gate import gate_between
    from rm_mlflow.tracking.run import TrackingTarget

    if gate_config(args, baseline_given=True) is None:  # the rule is checked before anything is downloaded
        raise OptionError("give the gate's rule: --gate_min, --gate_margin, --gate_confidence and/or --gate_max_regression")
    tracking = TrackingTarget(tracking_uri=args.tracking_uri)

    with tempfile.TemporaryDirectory(prefix="rm-mlflow-gate-") as tmp:
        candidate_dir, _ = results_folder(args.candidate, client_factory=tracking.client, workdir=Path(tmp) / "candidate")
        baseline_dir, baseline_label = results_folder(args.baseline, client_factory=tracking.client, workdir=Path(tmp) / "baseline")
        candidate, baseline = Results.read(candidate_dir), Results.read(baseline_dir)
        if args.gate_metric is None:
            args.gate_metric = f"{next(iter(candidate.document.benchmarks))}/score"
        outcome = gate_between(candidate, baseline, gate_config(args, baseline_given=True), baseline_label=baseline_label)
    return _report_gate(outcome)


def _add_log(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "log",
        help="log a results folder to its MLflow run (results kept while the tracking server was down)",
        description="Logs params, metrics, tags, dataset inputs, per-example tables and result files of a folder written by "
        "`rm-mlflow evaluate` to the given run, then marks the run FINISHED. Logging the same folder twice is harmless.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("results_dir", help="the folder holding results.json")
    _flag(parser, "run_id", required=True, help="the run the evaluation created (named in its error message)")
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    parser.set_defaults(handler=_run_log)


def _run_log(args: argparse.Namespace) -> int:
    from rm_mlflow.results import RESULTS_FILE, read_results
    from rm_mlflow.tracking.run import TrackedRun, TrackingTarget

    results_dir = Path(args.results_dir)
    read_results(results_dir / RESULTS_FILE)  # a wrong folder fails here, before MLflow is asked anything
    run = TrackedRun.open(TrackingTarget(run_id=args.run_id, tracking_uri=args.tracking_uri))
    artifacts = run.log(results_dir)
    run.end("FINISHED")
    print(f"logged {results_dir} to MLflow run {args.run_id} ({len(artifacts)} artifacts); the run is FINISHED")
    return 0


def _add_compare(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare two evaluations of the same examples: paired bootstrap deltas with intervals, and the examples that flipped",
        description="Each side is a results folder, an MLflow run id, or models:/NAME/VERSION or models:/NAME@ALIAS (that version's "
        "latest finished evaluation). Deltas are CANDIDATE minus BASELINE over the examples both scored; P(better) is the share "
        "of paired resamples where the candidate is ahead.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("baseline", help="the evaluation to compare against (e.g. models:/my-rm@champion)")
    parser.add_argument("candidate", help="the evaluation under test (e.g. models:/my-rm/7)")
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking URI for run ids and models:/ references (default: MLFLOW_TRACKING_URI)")
    _flag(parser, "bootstrap", type=_positive_int, default=1000, help="paired bootstrap resamples")
    _flag(parser, "ci_level", type=float, default=0.95, help="coverage of the intervals")
    _flag(parser, "seed", type=int, default=0, help="seed of the bootstrap")
    _flag(parser, "flips", type=int, default=10, help="flipped examples to list per benchmark and direction")
    _flag(parser, "all_subsets", action="store_true", help="list every subset (by default only those where an example flipped)")
    _flag(parser, "output", default=None, help="also write comparison.json and plots here")
    _flag(parser, "mlflow", action="store_true", help="log the comparison (metrics, tables, plots) to a new MLflow run")
    _flag(parser, "experiment", default=None, help="MLflow experiment for that run")
    parser.set_defaults(handler=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    import tempfile

    from rm_mlflow.benchmarking import IntervalOptions
    from rm_mlflow.comparison import compare_folders, format_comparison
    from rm_mlflow.tracking.earlier_runs import results_folder
    from rm_mlflow.tracking.run import TrackedRun, TrackingTarget

    intervals = IntervalOptions(resamples=args.bootstrap, level=args.ci_level, seed=args.seed)  # validates the level
    tracking = TrackingTarget(tracking_uri=args.tracking_uri, experiment=args.experiment)

    with tempfile.TemporaryDirectory(prefix="rm-mlflow-compare-") as tmp:
        baseline, baseline_label = results_folder(args.baseline, client_factory=tracking.client, workdir=Path(tmp) / "baseline")
        candidate, candidate_label = results_folder(args.candidate, client_factory=tracking.client, workdir=Path(tmp) / "candidate")
        comparison = compare_folders(baseline, candidate, resamples=intervals.resamples, level=intervals.level, seed=intervals.seed,
                                     labels=(baseline_label, candidate_label))
    print(format_comparison(comparison, flips=args.flips, all_subsets=args.all_subsets))
    if args.output or args.mlflow:
        from rm_mlflow.tracking.recording import log_comparison, write_comparison

        output = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="rm-mlflow-compare-out-"))
        if args.mlflow:
            run = TrackedRun.open(tracking, default_name=f"compare {args.baseline} vs {args.candidate}"[:250])
            log_comparison(comparison, output, run_id=run.run_id, client=run.client)
            run.end("FINISHED")
            print(f"\nLogged the comparison to MLflow run {run.run_id}")
        else:
            write_comparison(comparison, output)
        print(f"Wrote comparison.json and plots to {output}/")
    return 0


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the whole product offline: two model versions registered, evaluated through mlflow.models.evaluate, gated, carded, compared",
        description="Builds two random-init reward models (not trained), registers them as v1 and v2 of one model in a local "
        "sqlite MLflow store, evaluates both with the reward_model evaluator, runs the promotion gate for v2 against champion, "
        "writes the better version's model card and prints how to compare the two runs in the MLflow UI.",
        formatter_class=_HelpFormatter,
    )
    _flag(parser, "dir", default="rm-mlflow-demo", help="working folder for the models, the store (mlflow.db) and the results")
    _flag(parser, "data_dir", default=None, help="also evaluate a slice of real data found here (RMB, LLMBar, or a RewardBench copy)")
    _flag(parser, "quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from rm_mlflow.demo import run_demo

    run_demo(args.dir, data_dir=args.data_dir, progress=not args.quiet)
    return 0


def _add_doctor(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="pre-flight check of a reward model: template, BOS, padding, lengths, batch invariance, dtype and attention",
        description="Check a reward model and its setup on a small sample before trusting its numbers. Each line is OK, WARNING or "
        "DEFECT; the exit status is 1 when a line is a defect. Without --dataset the shipped RewardBench sample is used.",
        formatter_class=_HelpFormatter,
    )
    _flag(parser, "model", required=True, help="a local model folder or a Hub id")
    _add_evaluation_flags(parser)
    _flag(parser, "quick", action="store_true", help="only the checks that need no weights (template, BOS, padding, lengths)")
    parser.set_defaults(handler=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rm_mlflow.data.loading import load_benchmarks
    from rm_mlflow.data.sample import SAMPLE_DATA_DIR
    from rm_mlflow.doctor import Patient, examine, format_findings, sample_of
    from rm_mlflow.scoring.settings import ScoringSettings

    settings = ScoringSettings.from_mapping(scoring_overrides(args), source="scoring settings")
    data = data_options(args)
    if args.dataset is None and not args.pref_sets:
        data = replace(data, data_dir=str(SAMPLE_DATA_DIR))
    benchmarks = load_benchmarks(dataset_names(args), data)
    patient = Patient(model=args.model, settings=settings, kind=args.model_kind, benchmarks=benchmarks, sample=sample_of(benchmarks))
    findings = examine(patient, cheap_only=args.quick)
    print(format_findings(findings))
    return 1 if any(finding.verdict == "defect" for finding in findings) else 0


def _add_benchmarks(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("benchmarks", help="list the registered benchmarks")
    parser.set_defaults(handler=_run_benchmarks)


def _run_benchmarks(args: argparse.Namespace) -> int:
    from rm_mlflow.data import BENCHMARKS
    from rm_mlflow.data.suites import PREFIX, SUITES

    for name, benchmark in BENCHMARKS:
        home = benchmark.hub_id or "local files (see --data-dir)"
        print(f"{name:<20} {benchmark.title}  [{home}, split {benchmark.default_split or 'all'}]")
        if benchmark.local_dirnames:
            print(f"{'':<20}   local copy: DATA_DIR/{benchmark.local_dirnames[0]}/{benchmark.local_layout}")
    print("\nsuites (--dataset suite:NAME; --skip_missing leaves out a benchmark without data):")
    for name, suite in SUITES:
        print(f"{PREFIX + name:<20} {', '.join(suite.benchmarks)}: {suite.description}")
    return 0


def _add_leaderboard(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard", formatter_class=_HelpFormatter,
        help="every evaluated version of registered models: score and interval per benchmark, and their aliases",
        description="One row per evaluated version of the registered models matching NAME, built from the registry and the versions' "
                    "LoggedModel metrics. A benchmark evaluated on different data gets one column per data digest.",
    )
    parser.add_argument("name", metavar="NAME|PATTERN", help="a registered model name, or a pattern with * or % (e.g. 'rm-*')")
    _flag(parser, "format", default="table", choices=("table", "markdown", "csv", "json"), help="output format (default: table)")
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI)")
    parser.set_defaults(handler=_run_leaderboard)


def _run_leaderboard(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from rm_mlflow.tracking.leaderboard import build_leaderboard, format_leaderboard

    board = build_leaderboard(args.name, MlflowClient(tracking_uri=args.tracking_uri))
    if not board.rows:
        print(f"no evaluated version of {args.name!r} yet (evaluations of registered versions fill this table)", file=sys.stderr)
    print(format_leaderboard(board, args.format))
    return 0


def _add_card(subparsers: argparse._SubParsersAction) -> None:
    card = subparsers.add_parser("card", help="model-card metadata (the Hub's .eval_results/ files and README.md's model-index)")
    actions = card.add_subparsers(dest="card_command", required=True, parser_class=_Parser)
    parser = actions.add_parser(
        "sync",
        help="merge evaluation results into a model card: a local folder, the run's artifacts, or the Hub",
        description="The card is README.md's model-index and one .eval_results/<benchmark>.yaml per benchmark (--card_format). "
        "Existing results from other sources are kept byte for byte; our earlier results are replaced. "
        "The Hub token comes only from HF_TOKEN or `hf auth login` and is never printed.",
        formatter_class=_HelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    _flag(source, "run_id", help="an rm-mlflow evaluation run (reads rm_eval/results.json)")
    _flag(source, "results", help="a results.json written by `rm-mlflow evaluate`")
    _flag(parser, "tracking_uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    _flag(parser, "model_dir", default=None, help="write the card into this model folder (README.md, .eval_results/; created if missing)")
    _flag(parser, "repo_id", default=None, help="the model's Hub repo")
    _flag(parser, "push", action="store_true", help="push to --repo_id: a pull request unless --direct_commit")
    _flag(parser, "direct_commit", action="store_true", help="commit to the main branch instead of opening a pull request")
    _flag(parser, "model_name", default=None, help="model-index name (default: the folder name or repo id)")
    _flag(parser, "include_subsets", action="store_true", help="one metric per subset as well as score and sections")
    _flag(parser, "public_url", default=None, help="public MLflow address for each result's source link (also RM_MLFLOW_PUBLIC_URL)")
    _flag(parser, "dry_run", action="store_true", help="print the YAML diff and write nothing")
    _add_card_format_flag(parser)
    parser.set_defaults(handler=_run_card_sync)


def _add_publish(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="push a results folder's per-example tables to a Hub dataset (one config per benchmark)",
        description="Upload the per-example tables of one evaluation as a Hub dataset, so others can re-aggregate and audit them: "
        "one parquet config per benchmark and a dataset card naming the model, its version, the settings and the MLflow run. "
        "The repository is private unless --public. The token comes only from HF_TOKEN or `hf auth login` and is never printed.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("results_dir", help="a complete results folder written by `rm-mlflow evaluate` (results.json, *_scores.parquet)")
    _flag(parser, "repo", required=True, help="the Hub dataset, OWNER/NAME (created when missing)")
    _flag(parser, "public", action="store_true", help="make a new dataset public (default: private)")
    _flag(parser, "run_id", default=None, help="the MLflow run the results were logged to, named in the dataset card")
    parser.set_defaults(handler=_run_publish)


def _run_publish(args: argparse.Namespace) -> int:
    from rm_mlflow.card.results_dataset import ResultsDatasetTarget, publish_results

    published = publish_results(args.results_dir, ResultsDatasetTarget(args.repo, public=args.public), run_id=args.run_id)
    counts = ", ".join(f"{name} ({rows} rows)" for name, rows in published.rows.items())
    print(f"Pushed {counts} to {published.url}")
    return 0


def _add_results_dataset_flags(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "push_results_to_hub", metavar="REPO", default=None,
          help="also push the per-example tables to this Hub dataset (OWNER/NAME; one config per benchmark; token from HF_TOKEN)")
    _flag(parser, "public", action="store_true", help="with --push_results_to_hub: make a new results dataset public (default: private)")


def results_dataset_target(args: argparse.Namespace):
    """The Hub dataset ``--push_results_to_hub`` names, or None."""
    from rm_mlflow.card.results_dataset import ResultsDatasetTarget

    repo = getattr(args, "push_results_to_hub", None)
    return ResultsDatasetTarget(repo, public=args.public) if repo else None


def _add_card_format_flag(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "card_format", choices=CARD_FORMATS, default="both",
          help="which card files: the Hub's .eval_results/<benchmark>.yaml, README.md's model-index (the legacy format), or both")


def _run_card_sync(args: argparse.Namespace) -> int:
    from rm_mlflow.card import CardSyncError, CardTarget, load_results
    from rm_mlflow.card.sync import card_syncs

    if not (args.model_dir or args.repo_id or args.run_id):
        raise CardSyncError("nothing to write: give --model_dir, --repo_id (with --push or --dry_run) or --run_id")
    if args.repo_id and not (args.push or args.dry_run):
        raise CardSyncError("--repo_id needs --push (or --dry_run to see the change)")
    if args.tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(args.tracking_uri)
    results = load_results(run_id=args.run_id, results_path=args.results)
    target = CardTarget(mode="hub" if args.repo_id else "local", model_dir=args.model_dir, repo_id=args.repo_id, create_pr=not args.direct_commit,
                        include_subsets=args.include_subsets, public_url=args.public_url, model_name=args.model_name,
                        card_format=args.card_format)
    for _, sync in card_syncs(target, results, run_id=args.run_id, dry_run=args.dry_run):
        outcome = sync()
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
    _flag(parser, "workers", type=int, default=None, help="evaluations at a time (default: one per GPU or GPU group, one on CPU)")
    _flag(parser, "gpus_per_worker", type=_gpu_count, default=1,
          help="GPUs each worker places one model over (accelerate device_map auto), for models bigger than one GPU; "
               "'all': one worker that uses the whole node")
    _flag(parser, "max_attempts", type=int, default=5, help="attempts for transient failures (tracking server, network)")
    _flag(parser, "retry_delay", type=float, default=30.0, help="seconds before the first retry; doubles each time")
    _flag(parser, "backfill", action="store_true", help="when polling for the first time, also queue versions registered earlier")
    _flag(parser, "sync_model_card", choices=SYNC_MODES, default="off", help="write each run's results into the model card")
    _add_card_format_flag(parser)
    _add_results_dataset_flags(parser)
    _flag(parser, "quiet", action="store_true", help="no progress bars (weight loading, downloads); the service's jobs never draw their own")
    _add_evaluation_flags(parser)
    _add_gate_flags(parser)


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="receive MLflow model-registry webhooks and evaluate each new version of a reward model",
        description="Each delivery is verified (HMAC-SHA256 signature, 5-minute timestamp window, new delivery id) "
        "and queued durably before it is answered; a worker evaluates each model version exactly once and writes "
        "rm_eval.status, rm_eval.run_id, rm_eval.score and rm_eval.error tags on the version. "
        "Register the webhook with `rm-mlflow webhook create`.",
        formatter_class=_HelpFormatter,
    )
    _flag(parser, "host", default="127.0.0.1", help="address to listen on")
    _flag(parser, "port", type=int, default=8765, help="port to listen on")
    _flag(parser, "secret_env", default=DEFAULT_SECRET_ENV, help="environment variable holding the webhook secret")
    _flag(parser, "secret_file", default=None, help="file holding the webhook secret (instead of --secret_env)")
    _flag(parser, "tolerance", type=int, default=DEFAULT_TOLERANCE_SECONDS, help="seconds a delivery's timestamp may be off")
    _flag(parser, "poll_interval", type=float, default=None, help="also poll the registry every N seconds (catches missed deliveries)")
    _flag(parser, "status_token_env", default="RM_MLFLOW_STATUS_TOKEN",
          help="environment variable holding the bearer token for /jobs and /status (unset: those answer 403)")
    _add_service_flags(parser)
    parser.set_defaults(handler=_run_serve)


def _add_watch(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="poll the registry for new versions of reward models and evaluate them (for stores without webhooks)",
        description="The polling fallback of `rm-mlflow serve`: same queue, same exactly-once evaluation, same version tags.",
        formatter_class=_HelpFormatter,
    )
    _flag(parser, "interval", type=float, default=30.0, help="seconds between polls")
    _flag(parser, "once", action="store_true", help="poll once, evaluate what is due, then exit (for cron)")
    _add_service_flags(parser)
    parser.set_defaults(handler=_run_watch)


def _service(args: argparse.Namespace, *, poll_interval: float | None):
    from rm_mlflow.card.sync import CardTarget
    from rm_mlflow.service import JobTemplate, ModelSelector, RegistrationService, RetryPolicy, ServiceConfig

    plan = JobTemplate(
        request=evaluation_request(args, progress=False, card=CardTarget.from_options(args.sync_model_card, {"card_format": args.card_format})),
        experiment=args.experiment,
    )
    config = ServiceConfig(
        state_dir=Path(args.state_dir), plan=plan, selector=ModelSelector.from_options(args.select_tag, args.name_pattern),
        retry=RetryPolicy(max_attempts=args.max_attempts, first_delay=args.retry_delay), tracking_uri=args.tracking_uri,
        workers=args.workers, gpus_per_worker=args.gpus_per_worker, poll_interval=poll_interval, backfill=args.backfill,
    )
    return RegistrationService(config)


def _run_serve(args: argparse.Namespace) -> int:
    import os

    from rm_mlflow.service import WebhookVerifier, load_secret, serve
    from rm_mlflow.service.queue import QueueFileLost

    verifier = WebhookVerifier(load_secret(env=args.secret_env, file=args.secret_file), tolerance_seconds=args.tolerance)
    token = os.environ.get(args.status_token_env, "").strip() or None
    try:
        serve(_service(args, poll_interval=args.poll_interval), verifier, host=args.host, port=args.port, status_token=token)
    except QueueFileLost as error:
        line, status = user_error(error)
        print(line, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(status)  # a worker may be mid-evaluation inside torch: interpreter teardown would abort on its thread
    return 0


def _run_watch(args: argparse.Namespace) -> int:
    from rm_mlflow.service import watch

    service = _service(args, poll_interval=args.interval)
    added = watch(service, once=args.once)
    if args.once:
        worker = "" if service.workers else "; another rm-mlflow process is the worker for this state folder and evaluates them"
        print(f"queued {added} new version(s){worker}")
        if not added and service.poller.passed_over:
            print(f"{service.poller.passed_over} selected version(s) registered before the first poll were left alone: "
                  "pass --backfill to evaluate them too")
    return 0


def _add_webhook(subparsers: argparse._SubParsersAction) -> None:
    webhook = subparsers.add_parser("webhook", help="MLflow model-registry webhooks for `rm-mlflow serve`: create, list, delete")
    actions = webhook.add_subparsers(dest="webhook_command", required=True, parser_class=_Parser)
    parser = actions.add_parser(
        "create",
        help="register `rm-mlflow serve` as a webhook receiver with the MLflow server",
        description="Calls MlflowClient.create_webhook; a webhook that already delivers to the URL is refused (or replaced with "
        "--replace). The MLflow server only accepts an http:// or private-address URL when it runs with "
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true, and keeps secrets across restarts "
        "only with a fixed MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY (docs/service.md).",
        formatter_class=_HelpFormatter,
    )
    _flag(parser, "url", required=True, help="the receiver's address, e.g. https://rm-eval.internal:8765/webhook")
    _flag(parser, "secret_env", default=DEFAULT_SECRET_ENV, help="environment variable holding the shared secret")
    _flag(parser, "secret_file", default=None, help="file holding the shared secret (instead of --secret_env)")
    _flag(parser, "name", default="rm-mlflow", help="webhook name")
    _flag(parser, "events", default=None, help="comma-separated events (default: model_version.created,model_version_alias.created)")
    _flag(parser, "tracking_uri", default=None, help="MLflow server (default: MLFLOW_TRACKING_URI)")
    _flag(parser, "replace", action="store_true", help="replace a webhook that already delivers to --url (or has --name)")
    _flag(parser, "test", action="store_true", help="then have MLflow send a test delivery (acknowledged by the service, no job) and report it")
    parser.set_defaults(handler=_run_webhook_create)
    listing = actions.add_parser("list", help="the MLflow server's webhooks: id, name, status, URL, events", formatter_class=_HelpFormatter)
    _flag(listing, "tracking_uri", default=None, help="MLflow server (default: MLFLOW_TRACKING_URI)")
    listing.set_defaults(handler=_run_webhook_list)
    deleting = actions.add_parser("delete", help="delete webhooks by id or name", formatter_class=_HelpFormatter)
    deleting.add_argument("webhooks", nargs="+", help="webhook ids or names (see `rm-mlflow webhook list`)")
    _flag(deleting, "tracking_uri", default=None, help="MLflow server (default: MLFLOW_TRACKING_URI)")
    deleting.set_defaults(handler=_run_webhook_delete)


def _run_webhook_create(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from rm_mlflow.service import load_secret
    from rm_mlflow.service.app import VERSION_EVENTS
    from rm_mlflow.service.webhooks import register_webhook

    client = MlflowClient(tracking_uri=args.tracking_uri)
    secret = load_secret(env=args.secret_env, file=args.secret_file)
    events = [event.strip() for event in args.events.split(",") if event.strip()] if args.events else list(VERSION_EVENTS)
    webhook = register_webhook(client, name=args.name, url=args.url, events=events, secret=secret, replace=args.replace,
                               description="rm-mlflow: evaluate new reward-model versions")
    print(f"created webhook {webhook.webhook_id} ({args.name}) -> {args.url} for {', '.join(events)}")
    if args.test:
        result = client.test_webhook(webhook.webhook_id)
        print(f"test delivery: {'ok' if result.success else 'FAILED'} (HTTP {result.response_status}) {result.error_message or ''}".rstrip())
        return 0 if result.success else 1
    return 0


def _run_webhook_list(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from rm_mlflow.service.webhooks import all_webhooks, describe_webhook

    hooks = all_webhooks(MlflowClient(tracking_uri=args.tracking_uri))
    for hook in hooks:
        print(describe_webhook(hook))
    if not hooks:
        print("no webhooks (create one with `rm-mlflow webhook create --url ...`)")
    return 0


def _run_webhook_delete(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from rm_mlflow.service.webhooks import delete_webhooks, describe_webhook

    for hook in delete_webhooks(MlflowClient(tracking_uri=args.tracking_uri), args.webhooks):
        print(f"deleted {describe_webhook(hook)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``rm-mlflow`` argument parser with every sub-command."""
    parser = _Parser(prog="rm-mlflow", description="Reward-model evaluation for MLflow.", formatter_class=_HelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_evaluate(subparsers)
    _add_log(subparsers)
    _add_compare(subparsers)
    _add_gate(subparsers)
    _add_benchmarks(subparsers)
    _add_leaderboard(subparsers)
    _add_doctor(subparsers)
    _add_demo(subparsers)
    _add_card(subparsers)
    _add_publish(subparsers)
    _add_serve(subparsers)
    _add_watch(subparsers)
    _add_webhook(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``rm-mlflow`` command; a user error is one ``rm-mlflow: error: ...`` line and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from rm_mlflow.scoring.distributed import launched_rank

    if launched_rank():  # the other processes of a data-parallel run: errors only, the first one reports
        logging.getLogger().setLevel(logging.ERROR)
    # one INFO line per HTTP request, one WARNING per urllib3 retry of a tracking server that is down, otherwise
    for noisy, level in (("httpx", logging.WARNING), ("httpx2", logging.WARNING), ("urllib3.connectionpool", logging.ERROR)):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else level)
    if getattr(args, "quiet", False) or not sys.stderr.isatty():  # bars only on a terminal: in a log each is one endless line
        from rm_mlflow.progress import disable_library_progress_bars

        disable_library_progress_bars()
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("rm-mlflow: interrupted; scores computed so far are kept in the output folder's cache, a rerun resumes", file=sys.stderr)
        return 130
    except Exception as error:
        reported = user_error(error)
        if reported is None:
            raise  # a bug: the traceback is what a report needs
        print(reported[0], file=sys.stderr)
        return reported[1]


if __name__ == "__main__":
    sys.exit(main())
