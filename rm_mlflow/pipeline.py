"""One evaluation, from a model reference to logged results, in named steps: resolve, load, score, gate, write, log.

Every entry point runs this pipeline: ``rm-mlflow evaluate`` (with or without ``--mlflow``), the
``reward_model`` evaluator for ``mlflow.models.evaluate``, ``mlflow run``, the demo and the
registration service. The order is the contract:

1. **resolve**: options, every data row and the model reference are checked before any weights load
   or any MLflow run exists, so bad input costs seconds and leaves no failed run behind;
2. **load** the weights, then **score** (cached in the results folder, so a killed run resumes);
3. **gate** (optional): MLflow's metric validation against the champion's latest evaluation;
4. **write** ``results.json`` (with the gate's outcome), per-example tables and the summary to the results folder, once;
5. **log** the folder to the MLflow run, then sync the model card (optional) and end the run.

Without a :class:`~rm_mlflow.tracking.run.TrackingTarget` the pipeline stops after *write*.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rm_mlflow.benchmarking import EvaluationReport, IntervalOptions, benchmark_max_lengths, score_benchmarks
from rm_mlflow.card.results_dataset import ResultsDatasetTarget
from rm_mlflow.card.sync import CardTarget
from rm_mlflow.data.benchmark import Benchmark, LoadedBenchmark, all_examples
from rm_mlflow.data.loading import load_benchmarks
from rm_mlflow.data.options import DataOptions
from rm_mlflow.doctor import Finding
from rm_mlflow.errors import OptionError, TrackingError, first_line
from rm_mlflow.fingerprint import evaluation_fingerprint
from rm_mlflow.progress import disable_library_progress_bars
from rm_mlflow.results import prepare_output_folder, write_results
from rm_mlflow.scoring.base import Scorer
from rm_mlflow.scoring.cache import ScoreCache
from rm_mlflow.scoring.distributed import SINGLE_PROCESS, current_process_group
from rm_mlflow.scoring.hf import check_quantization
from rm_mlflow.scoring.loaders import check_model_kind
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.tracking.gate import GateConfig, GateOutcome
from rm_mlflow.tracking.recording import gate_metrics
from rm_mlflow.tracking.references import ModelReference, resolve_model_reference, stored_model_digest
from rm_mlflow.tracking.run import TrackedRun, TrackingTarget

if TYPE_CHECKING:
    from rm_mlflow.tracking.adapters import ModelPlan

logger = logging.getLogger(__name__)

# What to evaluate: a reference (URI, path, Hub id), an already-loaded model, or a function that loads one
# (the evaluator plugin's pyfunc model, loaded only after the data is validated).
ModelSpec = str | ModelReference | Scorer | Callable[[], Scorer]


@dataclass(frozen=True)
class EvaluationRequest:
    """Everything one evaluation needs, as every entry point builds it.

    Attributes:
        model: a model reference (``models:/...``, ``runs:/...``, a local folder, a Hub id), a loaded
            reward model or judge (a :class:`~rm_mlflow.scoring.base.Scorer`), or a function that loads one.
        datasets: benchmark names, files, Hub ids or :class:`Benchmark` objects.
        data: how the benchmarks are loaded.
        settings: explicit scoring settings (``ScoringSettings`` fields); a model logged with
            ``rm_mlflow.log_model`` supplies its own for the rest.
        model_kind: the model loader (``auto``: from the model's config).
        reference: names a model given loaded (its registry name and version go into params and tags).
        output_dir: the results folder (a temporary one when None); its score cache makes a rerun resume.
        resume: reuse scores cached in ``output_dir`` by an earlier, interrupted run.
        progress: show progress bars.
        gate: the promotion gate (needs a tracking target).
        card: where to sync the model card once the results are logged (needs a tracking target).
        results_dataset: the Hub dataset the per-example tables are pushed to once written.
        intervals: bootstrap intervals for every figure (``IntervalOptions(resamples=0)`` for none).
        log_traces: log up to this many wrongly ranked examples, and as many others (seeded), as MLflow traces.
    """

    model: ModelSpec
    datasets: Sequence[str | Benchmark]
    data: DataOptions = field(default_factory=DataOptions)
    settings: Mapping[str, Any] = field(default_factory=dict)
    model_kind: str = "auto"
    reference: ModelReference | None = None
    output_dir: Path | str | None = None
    resume: bool = True
    progress: bool = True
    gate: GateConfig | None = None
    card: CardTarget | None = None
    results_dataset: ResultsDatasetTarget | None = None
    intervals: IntervalOptions = field(default_factory=IntervalOptions)
    log_traces: int = 0


@dataclass
class EvaluationOutcome:
    """What the pipeline produced: the report, the results folder and, when logged, the run and what went into it."""

    report: EvaluationReport
    results_dir: Path
    metrics: dict[str, float]
    run_id: str | None = None
    run_page: str | None = None  # where to see the run: its page on the server, or the `mlflow ui` command for a local store
    artifacts: dict[str, str] = field(default_factory=dict)
    reference: ModelReference | None = None
    gate: GateOutcome | None = None
    card_sync: list[dict[str, Any]] = field(default_factory=list)
    results_dataset: dict[str, Any] | None = None  # status and url (or error) of the push to the Hub


@dataclass(frozen=True)
class _Resolved:
    benchmarks: list[LoadedBenchmark]
    reference: ModelReference | None
    plan: ModelPlan | None = None  # a referenced model's validated settings and kind; None for a model given loaded
    findings: list[Finding] = field(default_factory=list)  # the doctor's every-run checks (template, BOS, padding)


class EvaluationPipeline:
    """Runs one :class:`EvaluationRequest`, optionally logging to a :class:`TrackingTarget`; see the module docstring."""

    def __init__(self, request: EvaluationRequest, tracking: TrackingTarget | None = None) -> None:
        self.request = request
        self.tracking = tracking
        self.output = Path(request.output_dir) if request.output_dir is not None else Path(tempfile.mkdtemp(prefix="rm-mlflow-"))
        self.group = SINGLE_PROCESS

    def run(self) -> EvaluationOutcome:
        """All steps in order. A failure before *log* ends the run FAILED; results written by then stay in the folder.

        In a data-parallel launch every process resolves, loads and scores its share; only the main process
        opens the MLflow run, writes the results folder, gates and logs. The others return the report.
        """
        resolved = self.resolve()
        if not self.group.is_main:
            model, load_seconds = self.load_timed(resolved)
            report = self.score(resolved, model, load_seconds)
            return EvaluationOutcome(report=report, results_dir=self.output, metrics=report.metrics(), reference=resolved.reference)
        run = TrackedRun.open(self.tracking, default_name=_run_name(resolved.reference)) if self.tracking else None
        try:
            model, load_seconds = self.load_timed(resolved)
            report = self.score(resolved, model, load_seconds)
            try:
                gate = self.gate(report, resolved, run)
            except BaseException:
                self.write(report, resolved, None)  # the scores are kept even when the gate could not be checked
                raise
            self.write(report, resolved, gate)
        except BaseException:
            if run is not None:
                run.end("FAILED")
            raise
        metrics = report.metrics() | gate_metrics(gate.as_dict() if gate else None)
        outcome = EvaluationOutcome(report=report, results_dir=self.output, metrics=metrics, reference=resolved.reference, gate=gate)
        if run is not None:
            outcome.run_id = run.run_id
            outcome.artifacts = self.log(run)
            outcome.run_page = _run_page(run)
            self.trace(report, resolved, run)
            outcome.card_sync = self.sync_card(run, resolved)
        outcome.results_dataset = self.publish(run, outcome.run_page)
        if run is not None:
            run.end("FINISHED")
        return outcome

    def resolve(self) -> _Resolved:
        """Check options, load and validate every row, resolve the model reference and settle its settings; no weights, no run yet.

        The caller's settings are validated here, once, into the :class:`ScoringSettings` the loader receives
        (with a logged model's own settings under them), and the device is resolved here, once.
        """
        request = self.request
        if not request.progress:
            disable_library_progress_bars()  # weight loading, downloads and artifact uploads too, not only our bars
        explicit = ScoringSettings.from_mapping(request.settings, source="scoring settings")
        device = explicit.resolved_device  # a GPU that is not there fails now, not after the data is read
        self.group = current_process_group(device)
        if self.group.distributed and request.output_dir is None:
            raise OptionError("a data-parallel run needs an --output folder that every process shares (its score caches meet there)")
        check_model_kind(request.model_kind, explicit)
        check_quantization(explicit, device)
        if self.tracking is None and (request.gate is not None or request.card is not None or request.log_traces):
            raise OptionError("the promotion gate, model-card sync and example traces record their outcome in an MLflow run: add --mlflow")
        if request.results_dataset is not None and _hub_offline():
            raise OptionError(f"--push_results_to_hub {request.results_dataset.repo_id} needs the Hub, but HF_HUB_OFFLINE is set; "
                              "evaluate without it and push later with `rm-mlflow publish RESULTS_DIR --repo REPO`")
        if request.output_dir is not None:
            prepare_output_folder(self.output)
        if self.tracking is not None:
            self.tracking.apply()  # before a models:/ reference is looked up in the registry
        benchmarks = load_benchmarks(request.datasets, request.data)
        reference = request.reference
        if isinstance(request.model, str):
            reference = resolve_model_reference(request.model)
        elif isinstance(request.model, ModelReference):
            reference = request.model
        if not isinstance(request.model, (str, ModelReference)):
            return _Resolved(benchmarks=benchmarks, reference=reference)
        assert reference is not None
        from rm_mlflow.tracking.adapters import plan_model  # imports the MLflow side only for a model reference

        plan = plan_model(reference, request.settings, kind=request.model_kind)
        plan = replace(plan, settings=replace(plan.settings, device=self.group.device(device)))
        if plan.kind != request.model_kind:
            check_model_kind(plan.kind, plan.settings)  # the kind a logged model records
        findings = self._check_model_without_weights(benchmarks, plan)
        return _Resolved(benchmarks=benchmarks, reference=reference, plan=plan, findings=findings)

    def _check_model_without_weights(self, benchmarks: list[LoadedBenchmark], plan: ModelPlan) -> list[Finding]:
        """Everything about the model its config and tokenizer can tell, before any weights load or run exists.

        The kind's own checks (remote code, head, tokenizer, a DPO reference's vocabulary) run on a weightless copy
        of the model, and under ``truncation none`` every conversation is tokenized with it, so one over the limit
        fails now, naming its row. The doctor's every-run checks (template, BOS, padding) read the same copy; what
        they flag is one warning line, and each verdict becomes a run tag.
        """
        from rm_mlflow.doctor import EVERY_RUN, Patient, examine, sample_of
        from rm_mlflow.scoring.engine import check_lengths, check_rewardbench_batching
        from rm_mlflow.scoring.loaders import check_examples, check_sees_images, detect_kind
        from rm_mlflow.tracking.adapters import model_folder, preview_model

        folder = model_folder(plan)
        if plan.kind == "auto" and folder is not None:  # detected once, from the config, for every check below
            plan = replace(plan, kind=detect_kind(folder, plan.settings))
        for item in benchmarks:
            if any(example.images for example in item.examples):
                check_sees_images(plan.kind, plan.reference.uri, folder, plan.settings, item.benchmark.name)
        check_examples(plan.kind, all_examples(benchmarks)[0])
        preview = preview_model(plan)
        if preview is None:
            return []
        check_rewardbench_batching(preview, *all_examples(benchmarks))
        if preview.settings.truncation == "none":  # each benchmark under the max_length it will be scored with
            lengths = benchmark_max_lengths(preview, benchmarks, max_length_given="max_length" in plan.chosen)
            for item, length in zip(benchmarks, lengths, strict=True):
                with preview.with_max_length(length):
                    check_lengths(preview, *all_examples([item]))
        patient = Patient(model=plan.reference.uri, settings=preview.settings, weightless=preview, sample=sample_of(benchmarks))
        findings = examine(patient, only=EVERY_RUN)
        flagged = [finding for finding in findings if finding.verdict in ("warning", "defect")]
        if flagged:
            logger.warning("doctor: %s (rm-mlflow doctor --model MODEL checks more)",
                           "; ".join(f"{finding.check} {finding.verdict.upper()}: {finding.detail}" for finding in flagged))
        return findings

    def load(self, resolved: _Resolved) -> Scorer:
        """The model's weights, with the settings and on the device :meth:`resolve` settled."""
        from rm_mlflow.tracking.adapters import load_planned

        model = self.request.model
        if resolved.plan is not None:
            loaded = load_planned(resolved.plan)
        elif isinstance(model, Scorer):
            loaded = model
        else:
            loaded = model()
        if resolved.reference is not None:
            loaded.name = resolved.reference.display_name
        return loaded

    def load_timed(self, resolved: _Resolved) -> tuple[Scorer, float]:
        """:meth:`load`, and the seconds it took: the model is loaded once, however many benchmarks (a suite) it scores."""
        started = time.perf_counter()
        model = self.load(resolved)
        seconds = time.perf_counter() - started
        logger.info("loaded %s in %.1f s, once for %d benchmark(s)", model.name, seconds, len(resolved.benchmarks))
        return model, seconds

    def score(self, resolved: _Resolved, model: Scorer, load_seconds: float) -> EvaluationReport:
        """Score every benchmark, reusing (when resuming) and extending the results folder's score cache."""
        cache = ScoreCache.for_model(self.output, model, resume=self.request.resume, rank=self.group.rank)
        report = score_benchmarks(
            model, resolved.benchmarks, data=self.request.data, cache=cache, progress=self.request.progress and self.group.is_main,
            intervals=self.request.intervals, group=self.group,
            max_length_given=resolved.plan is None or "max_length" in resolved.plan.chosen,  # a model given loaded carries its own
        )
        report.throughput["model_load_seconds"] = load_seconds
        report.checks = [{"check": f.check, "verdict": f.verdict, "detail": f.detail} for f in resolved.findings]
        report.fingerprint = evaluation_fingerprint(
            model=report.model, settings=report.settings, digests={name: r.digest for name, r in report.benchmarks.items()},
            environment=report.environment, model_folder=self._model_folder(resolved),
            stored_weights=stored_model_digest(resolved.reference) if resolved.reference else None,
            reference=resolved.reference.as_dict() if resolved.reference else None,
        )
        return report

    def _model_folder(self, resolved: _Resolved) -> Path | None:
        """The local folder the weights came from, when the model was named by one."""
        reference = resolved.reference
        if reference is not None and reference.source == "huggingface" and Path(reference.uri).expanduser().is_dir():
            return Path(reference.uri).expanduser()
        return None

    def write(self, report: EvaluationReport, resolved: _Resolved, gate: GateOutcome | None) -> None:
        """``results.json`` (with the model reference and the gate's outcome), ``summary.md``, per-example tables and, with MLflow, the plots."""
        reference = resolved.reference.as_dict() if resolved.reference else None
        plots = None
        if self.tracking is not None:
            from rm_mlflow.tracking.plots import write_plots

            def plots(folder: Path) -> list[Path]:
                return write_plots(report, folder)

        write_results(report, self.output, reference=reference, gate=gate.as_dict() if gate else None, also_write=plots)

    def gate(self, report: EvaluationReport, resolved: _Resolved, run: TrackedRun | None) -> GateOutcome | None:
        """Check the promotion gate (when configured) on the report, before it is written."""
        if self.request.gate is None or run is None:
            return None
        from rm_mlflow.results import Results
        from rm_mlflow.tracking.gate import check_gate

        outcome = check_gate(report.metrics(), self.request.gate, reference=resolved.reference, experiment_id=run.experiment_id, client=run.client,
                             candidate=Results.of_report(report))
        logger.info("promotion gate %s: %s", "passed" if outcome.passed else "FAILED", outcome.message)
        return outcome

    def log(self, run: TrackedRun) -> dict[str, str]:
        """Log the results folder; when the tracking server fails for good, end the run FAILED and say how to log it later."""
        try:
            return run.log(self.output)
        except Exception as error:
            run.end("FAILED")  # when possible: the server that refused the results may refuse this too
            raise TrackingError(
                f"logging to MLflow run {run.run_id} failed ({first_line(error)}); the results are kept in {self.output}: "
                f"log them once the server is back with `rm-mlflow log {self.output} --run_id {run.run_id}`"
            ) from error

    def trace(self, report: EvaluationReport, resolved: _Resolved, run: TrackedRun) -> None:
        """Log wrongly ranked examples and a seeded sample of the rest as traces of the run (``log_traces``); best effort."""
        if not self.request.log_traces:
            return
        from rm_mlflow.tracking.traces import log_example_traces

        try:
            count = log_example_traces(report, resolved.benchmarks, run_id=run.run_id, experiment_id=run.experiment_id,
                                       limit=self.request.log_traces, seed=self.request.intervals.seed)
        except Exception as error:  # noqa: BLE001 - traces are a view of results already logged
            logger.error("could not log example traces to run %s: %s", run.run_id, first_line(error))
            run.set_tag("rm_mlflow.traces", f"failed: {first_line(error)}")
            return
        run.set_tag("rm_mlflow.traces", str(count))
        logger.info("logged %d example traces to run %s", count, run.run_id)

    def sync_card(self, run: TrackedRun, resolved: _Resolved) -> list[dict[str, Any]]:
        """Write the results into the model card (when configured); a failed sync is a run tag, never a lost evaluation."""
        card = self.request.card
        if card is None:
            return []
        from rm_mlflow.card import sync_after_evaluation

        outcomes = sync_after_evaluation(_card_for(card, resolved.reference), self.output / "results.json", run_id=run.run_id, client=run.client)
        failed = [item for item in outcomes if item["status"] == "failed"]
        run.set_tag("rm_mlflow.card_sync", "failed" if failed else "succeeded")
        if failed:
            run.set_tag("rm_mlflow.card_sync.error", failed[0]["error"][:5000])
        return outcomes


    def publish(self, run: TrackedRun | None, run_page: str | None) -> dict[str, Any] | None:
        """Push the per-example tables to the Hub (when asked); a failed push is a run tag and a log line, never a lost evaluation."""
        target = self.request.results_dataset
        if target is None:
            return None
        from rm_mlflow.card.results_dataset import publish_results

        try:
            published = publish_results(self.output, target, run_id=run.run_id if run else None, run_page=run_page)
        except Exception as error:  # noqa: BLE001 - the results are written and logged already
            logger.error("could not push the results to %s: %s", target.repo_id, first_line(error))
            if run is not None:
                run.set_tag("rm_mlflow.results_dataset", f"failed: {first_line(error)}")
            return {"status": "failed", "repo_id": target.repo_id, "error": first_line(error)}
        if run is not None:
            run.set_tag("rm_mlflow.results_dataset", published.url)
        return {"status": "succeeded"} | published.as_dict()


def run_evaluation(request: EvaluationRequest, tracking: TrackingTarget | None = None) -> EvaluationOutcome:
    """Run the pipeline for ``request``; logged to MLflow when ``tracking`` is given."""
    return EvaluationPipeline(request, tracking).run()


def _run_page(run: TrackedRun) -> str | None:
    """Where to see the run; None when the server cannot say (the results are logged already: only the link is lost)."""
    import mlflow

    from rm_mlflow.tracking.run import where_to_view

    try:
        return where_to_view(run.run_id, run.experiment_id, mlflow.get_tracking_uri())
    except Exception as error:  # noqa: BLE001
        logger.warning("could not read run %s back for its link: %s", run.run_id, first_line(error))
        return None


def _card_for(card: CardTarget, reference: ModelReference | None) -> CardTarget:
    """Fill the card target from the evaluated model: its local folder, or its Hub repo, and its name."""
    if reference is None:
        return card
    values: dict[str, Any] = {}
    if reference.source == "huggingface" and Path(reference.uri).is_dir():
        values = {"model_dir": card.model_dir or reference.uri, "model_name": card.model_name or Path(reference.uri).name}
    elif reference.source == "huggingface":
        values = {"repo_id": card.repo_id or reference.uri}
    repo_id = values.get("repo_id") or card.repo_id
    values["model_name"] = values.get("model_name") or card.model_name or reference.registered_name or repo_id or reference.uri
    return replace(card, **values)


def _hub_offline() -> bool:
    """huggingface_hub's own reading of HF_HUB_OFFLINE (a push goes through huggingface_hub)."""
    from huggingface_hub.constants import is_offline_mode

    return is_offline_mode()


def _run_name(reference: ModelReference | None) -> str | None:
    if reference is None:
        return None
    if reference.registered_name:
        return f"{reference.registered_name}-v{reference.version}"
    return Path(reference.uri).name or reference.uri

