"""Per-example results as a Hub dataset (``--push_results_to_hub``, ``rm-mlflow publish``), so others can re-aggregate and audit them.

One config per benchmark, one parquet file each (written by ``datasets``), and a dataset card naming
the model, its version, the settings that change numbers and the MLflow run. The repository is
private unless asked otherwise; the token comes only from huggingface_hub's own lookup (``HF_TOKEN``
or ``hf auth login``) and is never passed around, printed or written.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_mlflow.errors import OptionError, RmMlflowError, first_line
from rm_mlflow.results import Results, ResultsDocument

logger = logging.getLogger(__name__)
SPLIT = "train"  # what `datasets` calls a single-split dataset, as rewardbench's pushed results are
# What the card's settings table shows: the options that change numbers (the rest is in results.json's settings).
CARD_SETTINGS = ("chat_template", "max_length", "truncation", "batching", "dtype", "score_index", "ref_model", "ref_free_type",
                 "judge_mode", "judge_orders", "limit", "split", "revision")


class PublishError(RmMlflowError):
    """The results could not be pushed to the Hub; the evaluation they came from is unaffected."""


@dataclass(frozen=True)
class ResultsDatasetTarget:
    """The Hub dataset repository an evaluation's per-example tables go to."""

    repo_id: str
    public: bool = False

    def __post_init__(self) -> None:
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            validate_repo_id(self.repo_id)
        except HFValidationError as error:
            raise OptionError(f"results dataset {self.repo_id!r}: {first_line(error)}") from None
        if "/" not in self.repo_id:
            raise OptionError(f"results dataset {self.repo_id!r}: give the Hub dataset as OWNER/NAME")


@dataclass(frozen=True)
class PublishedResults:
    """Where the results went: the dataset's address, its configs and their row counts."""

    repo_id: str
    url: str
    rows: dict[str, int]  # config (benchmark) -> rows

    def as_dict(self) -> dict[str, Any]:
        """The fields, for the evaluation outcome."""
        return {"repo_id": self.repo_id, "url": self.url, "rows": self.rows}


def data_path(benchmark: str) -> str:
    """The repository path of one benchmark's parquet file."""
    return f"{benchmark}/{SPLIT}-00000-of-00001.parquet"


def publish_results(results_dir: Path | str, target: ResultsDatasetTarget, *, run_id: str | None = None,
                    run_page: str | None = None) -> PublishedResults:
    """Push a complete results folder's per-example tables to ``target`` in one commit; the repository is created when missing."""
    from huggingface_hub import CommitOperationAdd, HfApi

    results = Results.read(results_dir)  # an incomplete folder is refused here, before anything is sent
    tables = {name: results.table(name) for name in results.document.benchmarks}
    operations = [CommitOperationAdd(path_in_repo=data_path(name), path_or_fileobj=_parquet(table)) for name, table in tables.items()]
    card = dataset_card(results.document, {name: len(table) for name, table in tables.items()}, run_id=run_id, run_page=run_page)
    operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8")))
    api = HfApi()
    try:
        api.create_repo(target.repo_id, repo_type="dataset", private=not target.public, exist_ok=True)
        commit = api.create_commit(repo_id=target.repo_id, repo_type="dataset", operations=operations,
                                   commit_message=f"Per-example reward-model evaluation results of {_model_name(results.document)} (rm-mlflow)")
    except Exception as error:  # noqa: BLE001 - offline, no access, a rejected card: one line, no token in it
        raise PublishError(f"cannot push the results to the Hub dataset {target.repo_id}: {type(error).__name__}: {first_line(error)}") from error
    url = getattr(commit, "repo_url", None) or f"datasets/{target.repo_id}"
    logger.info("pushed %d per-example tables to %s", len(tables), url)
    return PublishedResults(repo_id=target.repo_id, url=str(url), rows={name: len(table) for name, table in tables.items()})


def dataset_card(document: ResultsDocument, rows: dict[str, int], *, run_id: str | None = None, run_page: str | None = None) -> str:
    """The dataset card: one config per benchmark in its metadata; the model, version, settings and run in its text."""
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(
        pretty_name=f"rm-mlflow results: {_model_name(document)}",
        tags=["rm-mlflow", "reward-model-evaluation"],
        configs=[{"config_name": name, "data_files": [{"split": SPLIT, "path": data_path(name)}]} for name in rows],
    )
    reference = document.reference or {}
    lines = [
        f"# Per-example reward-model evaluation results: {_model_name(document)}",
        "",
        "Written by rm-mlflow from one evaluation. One config per benchmark; each row is one example, "
        "with the scores the model gave each response, whether it ranked the chosen one first (`correct`) and the margin.",
        "",
        f"- **Model**: `{document.model.get('name')}` ({document.model.get('kind')}, {document.model.get('architecture', 'unknown architecture')})",
    ]
    if reference.get("registered_name"):
        lines.append(f"- **Registered version**: `{reference['registered_name']}` version {reference.get('version')}")
    if run_id:
        lines.append(f"- **MLflow run**: `{run_id}`" + (f" ({run_page})" if run_page and run_page.startswith("http") else ""))
    if document.evaluated_at:
        lines.append(f"- **Evaluated**: {document.evaluated_at}")
    if document.fingerprint:
        lines.append(f"- **Fingerprint**: `{document.fingerprint.get('id')}` (what the figures depend on, as digests)")
    lines += ["", "| Benchmark (config) | Rows | Score | Data digest |", "|---|---:|---:|---|"]
    for name, count in rows.items():
        benchmark = document.benchmarks[name]
        score = f"{benchmark.score:.4f}" if benchmark.score is not None else "n/a"
        lines.append(f"| `{name}` ({benchmark.title}){' (part: ' + benchmark.partial + ')' if benchmark.partial else ''} | {count} "
                     f"| {score} | `{benchmark.digest or 'n/a'}` |")
    settings = {key: document.settings[key] for key in CARD_SETTINGS if document.settings.get(key) not in (None, [], "")}
    lines += ["", "## Settings", "", "```json", json.dumps(settings, indent=1, sort_keys=True), "```", "",
              "Load one benchmark's rows with `datasets.load_dataset(REPO, CONFIG, split=\"train\")`.", ""]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)


def _model_name(document: ResultsDocument) -> str:
    reference = document.reference or {}
    if reference.get("registered_name"):
        return f"{reference['registered_name']} v{reference.get('version')}"
    return str(document.model.get("name") or "a reward model")


def _parquet(table: Any) -> bytes:
    """The table as parquet, through ``datasets`` so the file carries its features."""
    from datasets import Dataset

    buffer = io.BytesIO()
    Dataset.from_pandas(table, preserve_index=False).to_parquet(buffer)
    return buffer.getvalue()
