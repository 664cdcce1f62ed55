"""The embedded default job: the whole product on a local sqlite MLflow store, offline, in about a minute on a CPU.

1. builds two small random-init reward models (not trained, and said so), logs both with
   ``rm_mlflow.log_model`` as versions 1 and 2 of one registered model, and sets ``champion`` on v1;
2. evaluates each version through ``mlflow.models.evaluate(model="models:/...", model_type="reward_model",
   evaluators="reward_model")`` on the shipped RewardBench-schema sample (plus real rows when a data
   folder with RMB, LLMBar or a RewardBench copy is given), and records the outcome on each version;
3. checks v2 against ``champion`` with the promotion gate;
4. writes the better version's results into its model card (``model-index``);
5. prints the two versions side by side and how to open MLflow's compare view of the two runs.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rm_mlflow.data.sample import SAMPLE_DATA_DIR, sample_corpus
from rm_mlflow.data.sources import find_local_copy
from rm_mlflow.results import RESULTS_FILE, read_results
from rm_mlflow.tiny_models import build_tiny_reward_model

MODEL_NAME = "rm-demo"
EXPERIMENT = "rm-mlflow-demo"
# Two random-init Llama classifiers of different sizes and seeds: version 1 and version 2 of one registered model.
VERSIONS = ({"hidden_size": 64, "num_layers": 2, "seed": 0}, {"hidden_size": 96, "num_layers": 2, "seed": 1})
GATE = {
    "baseline_alias": "champion",
    "thresholds": {"rewardbench/score": {"threshold": 0.5, "min_absolute_change": 0.01}},
    "confidence": {"metric": "rewardbench/score", "min_probability": 0.95},  # paired bootstrap over the shared examples
}
REAL_DATA = (("rmb", ("rmb/RMB_dataset", "RMB_dataset", "rmb")), ("llmbar", ("llmbar", "LLMBar/Dataset/LLMBar")))
REAL_ROWS_PER_SUBSET = 3  # a slice of the real data: every subset, a few rows each (the sample has at most 2 per subset)


@dataclass
class DemoVersion:
    """One registered version and its evaluation."""

    version: str
    model_dir: Path
    run_id: str
    metrics: dict[str, float]
    gate: dict[str, Any] | None = None


@dataclass
class DemoResult:
    """What the demo made: the store, the registered versions and their runs, the card, the compare view."""

    workdir: Path
    tracking_uri: str
    experiment_id: str
    datasets: list[str]
    versions: list[DemoVersion] = field(default_factory=list)
    better: DemoVersion | None = None
    leaderboard: Any = None  # the rm_mlflow.tracking.leaderboard.Leaderboard after the last evaluation
    card_yaml: str = ""

    @property
    def ui_command(self) -> str:
        """The command that serves this store's UI."""
        return f"mlflow ui --backend-store-uri {self.tracking_uri} --port 5000"

    @property
    def compare_url(self) -> str:
        """MLflow's compare view of the two evaluation runs, once ``ui_command`` runs."""
        runs = urllib.parse.quote(json.dumps([v.run_id for v in self.versions]))
        experiments = urllib.parse.quote(json.dumps([self.experiment_id]))
        return f"http://127.0.0.1:5000/#/compare-runs?runs={runs}&experiments={experiments}"


def run_demo(
    workdir: Path | str = "rm-mlflow-demo", *, data_dir: Path | str | None = None, progress: bool = True, say: Callable[[str], None] = print
) -> DemoResult:
    """Run the demo in ``workdir`` (its store and results start fresh each time; the built models are reused)."""
    import mlflow

    from rm_mlflow.tracking.leaderboard import format_leaderboard, log_leaderboard

    workdir = Path(workdir).resolve()
    for stale in ("mlflow.db", "artifacts", "results", "data"):
        path = workdir / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        client = mlflow.MlflowClient()
        experiment_id = client.create_experiment(EXPERIMENT, artifact_location=(workdir / "artifacts").as_uri())
        datasets, data = _data_folder(workdir / "data", data_dir)
        result = DemoResult(workdir=workdir, tracking_uri=tracking_uri, experiment_id=experiment_id, datasets=datasets)

        say(f"1. Registering two random-init reward models (not trained: their scores carry no preference signal) as {MODEL_NAME} v1, v2")
        model_dirs = [_build(workdir / "models" / f"v{i + 1}", shape) for i, shape in enumerate(VERSIONS)]
        for model_dir, shape in zip(model_dirs, VERSIONS, strict=True):
            _register(client, experiment_id, model_dir, shape)
        client.set_registered_model_tag(MODEL_NAME, "rm_eval", "true")
        client.set_registered_model_alias(MODEL_NAME, "champion", "1")
        say(f"   {MODEL_NAME}@champion -> v1")

        call = f"mlflow.models.evaluate(model='models:/{MODEL_NAME}/N', evaluators='reward_model')"
        say(f"2. Evaluating each version with {call} on {', '.join(datasets)}")
        for index, model_dir in enumerate(model_dirs, start=1):
            version = _evaluate(client, experiment_id, str(index), model_dir, datasets, data, workdir, progress, gate=index > 1)
            result.versions.append(version)
            result.leaderboard = log_leaderboard(MODEL_NAME, version.run_id, client)
            say(f"   v{index}: run {version.run_id}, rewardbench/score {version.metrics['rewardbench/score']:.4f}")

        gate = result.versions[1].gate
        say(f"3. Promotion gate for v2 against {MODEL_NAME}@champion ({_describe(GATE)}): {'PASSED' if gate['passed'] else 'FAILED'}")
        say(f"   {gate['message']}")
        say("   (the shipped sample has 1-2 examples per subset, so its intervals are far too narrow to trust; "
            "pass --data-dir with real data for meaningful ones)")

        result.better = max(result.versions, key=lambda v: v.metrics["rewardbench/score"])
        result.card_yaml, card_files = _write_card(client, result.better)
        say(f"4. Model card of v{result.better.version}, the better version, written into {result.better.model_dir}: "
            f"{', '.join(card_files)}. README.md's model-index:")
        say(result.card_yaml.rstrip())
        say("5. Side by side")
        say(side_by_side(result))
        say(f"6. Leaderboard of every evaluated version (rm-mlflow leaderboard {MODEL_NAME} --format markdown; logged to each run as "
            "rm_eval/leaderboard.md):")
        say(format_leaderboard(result.leaderboard, "markdown"))
        say(f"\nOpen the compare view of the two runs:\n   {result.ui_command}\n   {result.compare_url}")
        return result
    finally:
        mlflow.set_tracking_uri(previous_uri)


def _data_folder(folder: Path, data_dir: Path | str | None) -> tuple[list[str], dict[str, Any]]:
    """One data folder for the evaluator: the shipped sample (or a RewardBench copy under ``data_dir``) and any real benchmark there."""
    folder.mkdir(parents=True)
    given = Path(data_dir).expanduser().resolve() if data_dir else None
    core = find_local_copy(given, ("reward-bench", "rewardbench")) if given else None
    (folder / "reward-bench").symlink_to(core or SAMPLE_DATA_DIR / "reward-bench")
    datasets, options = ["rewardbench"], {"data_dir": str(folder)}
    for name, dirnames in REAL_DATA:
        found = find_local_copy(given, dirnames) if given else None
        if found is not None:
            (folder / name).symlink_to(found)
            datasets.append(name)
    if len(datasets) > 1 or core is not None:
        options |= {"limit": REAL_ROWS_PER_SUBSET, "skip_invalid": True}
    return datasets, options


def _build(model_dir: Path, shape: dict[str, int]) -> Path:
    if not (model_dir / "config.json").exists():
        build_tiny_reward_model(model_dir, corpus=sample_corpus(), **shape)
    return model_dir


def _register(client: Any, experiment_id: str, model_dir: Path, shape: dict[str, int]) -> None:
    import mlflow

    import rm_mlflow

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"log-{model_dir.name}"):
        mlflow.log_params({f"init.{key}": value for key, value in shape.items()})
        # run_rm.py's settings: conversations over 2048 tokens (in real data) are cut from the left and counted
        settings = {"max_length": 2048, "truncation": "left"}
        info = rm_mlflow.log_model(str(model_dir), "reward_model", registered_model_name=MODEL_NAME, settings=settings)
    version = str(info.registered_model_version)
    client.set_model_version_tag(MODEL_NAME, version, "demo.init", "random (seed {seed}, hidden {hidden_size}, {num_layers} layers)".format(**shape))


def _evaluate(
    client: Any, experiment_id: str, version: str, model_dir: Path, datasets: list[str], data: dict[str, Any], workdir: Path,
    progress: bool, *, gate: bool,
) -> DemoVersion:
    import mlflow

    from rm_mlflow.tracking.version_tags import succeeded_tags, write_version_tags

    uri = f"models:/{MODEL_NAME}/{version}"
    config = data | {"progress": progress, "output_dir": str(workdir / "results" / f"v{version}"), "model_uri": uri}
    if gate:
        config["gate"] = GATE
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{MODEL_NAME}-v{version}") as run:
        evaluation = mlflow.models.evaluate(model=uri, data=datasets, model_type="reward_model", evaluators="reward_model", evaluator_config=config)
    tags, _ = succeeded_tags(evaluation.metrics, run.info.run_id, datasets)
    write_version_tags(client, MODEL_NAME, version, tags)
    results = read_results(workdir / "results" / f"v{version}" / RESULTS_FILE)
    return DemoVersion(version=version, model_dir=model_dir, run_id=run.info.run_id, metrics=dict(evaluation.metrics), gate=results.gate)


def _write_card(client: Any, better: DemoVersion) -> tuple[str, tuple[str, ...]]:
    """The card's model-index YAML, and the files written (README.md and the Hub's .eval_results/ files)."""
    from rm_mlflow.card import load_results, sync_local

    outcome = sync_local(better.model_dir, load_results(run_id=better.run_id, client=client), model_name=f"{MODEL_NAME} v{better.version}")
    card = (better.model_dir / "README.md").read_text()
    return (card.split("---")[1].strip() + "\n" if card.startswith("---") else card), outcome.files


def side_by_side(result: DemoResult) -> str:
    """Score, sections and per-benchmark scores of the versions, one column each."""
    first = result.versions[0].metrics
    rows = [key for key in first if key.endswith("/score")]
    rows += sorted(key for key in first if "/section/" in key and not key.endswith(("_ci_low", "_ci_high")))
    width = max(len(row) for row in rows)
    cell = 26
    lines = [f"   {'metric (95% interval)':<{width}}  " + "  ".join(f"{'v' + v.version:>{cell}}" for v in result.versions)]
    for row in rows:
        cells = []
        for v in result.versions:
            low, high = v.metrics.get(f"{row}_ci_low"), v.metrics.get(f"{row}_ci_high")
            interval = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
            cells.append(f"{v.metrics.get(row, float('nan')):.4f}{interval}".rjust(cell))
        lines.append(f"   {row:<{width}}  " + "  ".join(cells))
    lines.append(f"   {'run':<{width}}  " + "  ".join(f"{v.run_id[:8]:>{cell}}" for v in result.versions))
    return "\n".join(lines)


def _describe(gate: dict[str, Any]) -> str:
    rules = [f"{metric} >= {spec['threshold']} and at least {spec['min_absolute_change']} above the champion"
             for metric, spec in gate["thresholds"].items()]
    confidence = gate["confidence"]
    rules.append(f"better than the champion with probability >= {confidence['min_probability']} (paired bootstrap)")
    return "; ".join(rules)
