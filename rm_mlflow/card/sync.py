"""Model-card sync targets: a local model folder, the MLflow run's artifacts, and the Hub.

A card is README.md's ``model-index`` block and the Hub's ``.eval_results/<benchmark>.yaml`` files
(``card_format``: both by default).

The Hub token comes only from huggingface_hub's own lookup (``HF_TOKEN`` or ``hf auth login``); it is
never passed around, printed or logged. A push opens a pull request unless a direct commit is asked for.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rm_mlflow.card.eval_results import EVAL_RESULTS_DIR, build_eval_result_entries, merge_eval_results_file
from rm_mlflow.card.merge import merge_model_card
from rm_mlflow.card.model_index import build_eval_results
from rm_mlflow.errors import OptionError, RmMlflowError, first_line
from rm_mlflow.results import ResultsDocument, read_results, write_atomic

logger = logging.getLogger(__name__)
CARD_FILE = "README.md"
CARD_ARTIFACT_DIR = "model_card"
SYNC_MODES = ("off", "local", "hub")
CARD_FORMATS = ("both", "eval_results", "model_index")  # the Hub's .eval_results/ files, README.md's model-index, or both


class CardSyncError(RmMlflowError):
    """A card could not be read or written; the evaluation it came from is unaffected."""


@dataclass(frozen=True)
class CardFile:
    """One file of a model repository a sync writes: its path in the repository, its text before and after."""

    path: str  # README.md or .eval_results/<benchmark>.yaml
    old: str | None
    new: str

    @property
    def changed(self) -> bool:
        """Whether the sync changes the file (a new file is a change)."""
        return self.new != self.old

    def diff(self) -> str:
        """A unified diff from the old text to the new, for ``--dry_run``."""
        return card_diff(self.old, self.new, self.path)


@dataclass(frozen=True)
class CardSyncResult:
    """One sync target's outcome: the files that changed, the change as a unified diff, and the Hub URL of a push."""

    target: str  # a path, "mlflow run <id>" or "hf://<repo>"
    changed: bool
    diff: str
    url: str | None = None  # the pull request or commit on the Hub
    files: tuple[str, ...] = ()  # repository paths written (or, in a dry run, that would be)

    @classmethod
    def of(cls, target: str, files: list[CardFile], url: str | None = None) -> CardSyncResult:
        """The outcome of writing ``files`` to ``target``."""
        changed = [file for file in files if file.changed]
        return cls(target=target, changed=bool(changed), diff="".join(file.diff() for file in changed), url=url,
                   files=tuple(file.path for file in changed))


def render_card(
    existing: str | None,
    results: ResultsDocument | Mapping[str, Any],
    *,
    model_name: str,
    source_url: str | None = None,
    include_subsets: bool = False,
) -> str:
    """The card text with our ``model-index`` results merged into ``existing`` (a new card when None)."""
    eval_results = build_eval_results(as_results(results), source_url=source_url, include_subsets=include_subsets)
    try:
        return merge_model_card(existing, eval_results, model_name=model_name)
    except (ValueError, yaml.YAMLError) as error:
        raise CardSyncError(f"cannot merge results into the model card: {error}") from error


def render_card_files(
    read: Callable[[str], str | None],
    results: ResultsDocument | Mapping[str, Any],
    *,
    model_name: str,
    card_format: str = "both",
    source_url: str | None = None,
    include_subsets: bool = False,
) -> list[CardFile]:
    """Every file ``card_format`` asks for, merged into its current text (``read(path)``, None when missing)."""
    results = as_results(results)
    files = []
    if card_format in ("both", "model_index"):
        old = read(CARD_FILE)
        files.append(CardFile(CARD_FILE, old, render_card(old, results, model_name=model_name, source_url=source_url,
                                                          include_subsets=include_subsets)))
    if card_format in ("both", "eval_results"):
        for path, entries in build_eval_result_entries(results, source_url=source_url, include_subsets=include_subsets).items():
            old = read(path)
            try:
                files.append(CardFile(path, old, merge_eval_results_file(old, entries)))
            except (ValueError, yaml.YAMLError) as error:
                raise CardSyncError(f"cannot merge results into {path}: {first_line(error)}") from error
    return files


def as_results(results: ResultsDocument | Mapping[str, Any]) -> ResultsDocument:
    """A results document as given, or read from the JSON object of one (``json.load`` of a ``results.json``)."""
    return results if isinstance(results, ResultsDocument) else ResultsDocument.from_dict(results)


def card_diff(old: str | None, new: str, name: str) -> str:
    """A unified diff from ``old`` to ``new``, for ``--dry_run``."""
    return "".join(difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"))


def sync_local(model_dir: Path | str, results: ResultsDocument | Mapping[str, Any], *, dry_run: bool = False, **render: Any) -> CardSyncResult:
    """Merge into ``model_dir``'s README.md and ``.eval_results/`` files (created when missing)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise CardSyncError(f"{model_dir}: not a folder")

    def read(path: str) -> str | None:
        return (folder / path).read_text(encoding="utf-8") if (folder / path).exists() else None

    files = render_card_files(read, results, model_name=render.pop("model_name", None) or folder.resolve().name, **render)
    for file in files:
        if file.changed and not dry_run:
            (folder / file.path).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / file.path, file.new.encode("utf-8"))  # a killed sync never leaves half a card
    return CardSyncResult.of(str(folder), files)


def sync_hub(
    repo_id: str,
    results: ResultsDocument | Mapping[str, Any],
    *,
    create_pr: bool = True,
    revision: str | None = None,
    dry_run: bool = False,
    **render: Any,
) -> CardSyncResult:
    """Merge into the Hub repo's card files and push the changed ones in one pull request (a direct commit with ``create_pr=False``)."""
    from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    def read(path: str) -> str | None:
        try:
            return Path(hf_hub_download(repo_id, path, revision=revision)).read_text(encoding="utf-8")
        except EntryNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001 - offline, missing repo, no access: one message, no token in it
            raise CardSyncError(f"cannot read {path} of {repo_id} from the Hub: {type(error).__name__}: {first_line(error)}") from error

    files = render_card_files(read, results, model_name=render.pop("model_name", None) or repo_id, **render)
    changed = [file for file in files if file.changed]
    if dry_run or not changed:
        return CardSyncResult.of(f"hf://{repo_id}", files)
    try:
        commit = HfApi().create_commit(
            repo_id=repo_id,
            operations=[CommitOperationAdd(path_in_repo=file.path, path_or_fileobj=file.new.encode("utf-8")) for file in changed],
            revision=revision,
            commit_message="Update reward-model evaluation results (rm-mlflow)",
            create_pr=create_pr,
        )
    except (HfHubHTTPError, OSError, ValueError) as error:  # ValueError: the Hub rejected the card's metadata
        raise CardSyncError(f"cannot push the model card to {repo_id}: {first_line(error)}") from error
    url = getattr(commit, "pr_url", None) or getattr(commit, "commit_url", None)
    return CardSyncResult.of(f"hf://{repo_id}", files, url=url)


def sync_run_artifact(run_id: str, results: ResultsDocument | Mapping[str, Any], *, client: Any = None, **render: Any) -> CardSyncResult:
    """Log the merged card files (starting from the run's earlier ones, if any) under ``model_card/`` in the run."""
    import tempfile

    from mlflow import MlflowClient

    client = client or MlflowClient()
    with tempfile.TemporaryDirectory() as tmp:
        logged = {a.path for folder in (CARD_ARTIFACT_DIR, f"{CARD_ARTIFACT_DIR}/{EVAL_RESULTS_DIR}")
                  for a in client.list_artifacts(run_id, folder) if not a.is_dir}

        def read(path: str) -> str | None:
            artifact = f"{CARD_ARTIFACT_DIR}/{path}"
            return Path(client.download_artifacts(run_id, artifact, tmp)).read_text(encoding="utf-8") if artifact in logged else None

        model_name = render.pop("model_name", None) or str(as_results(results).model.get("name"))
        files = render_card_files(read, results, model_name=model_name, **render)
        for file in files:
            if file.changed:
                path = Path(tmp) / "card" / file.path
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(file.new, encoding="utf-8")
                client.log_artifact(run_id, str(path), str(Path(CARD_ARTIFACT_DIR, file.path).parent))
    return CardSyncResult.of(f"mlflow run {run_id}", files)


def load_results(*, run_id: str | None = None, results_path: Path | str | None = None, client: Any = None) -> ResultsDocument:
    """The results document of an evaluation: a ``results.json`` file, or the one logged with run ``run_id``."""
    if results_path is not None:
        return read_results(results_path)  # the one reader: a folder that did not finish writing is refused
    if run_id is None:
        raise CardSyncError("give a run id or a results.json file")
    import tempfile

    from mlflow import MlflowClient

    client = client or MlflowClient()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "rm_eval/results.json", tmp)
        except Exception as error:  # noqa: BLE001
            raise CardSyncError(f"run {run_id}: no rm_eval/results.json artifact ({error}); is it an rm-mlflow evaluation run?") from error
        try:
            document = json.loads(Path(path).read_bytes())
        except ValueError as error:
            raise CardSyncError(f"run {run_id}: rm_eval/results.json is not JSON ({error})") from None
        return ResultsDocument.from_dict(document, source=f"run {run_id} rm_eval/results.json")


def source_url_for_run(run_id: str, public_url: str | None = None, *, client: Any = None) -> str | None:
    """The MLflow UI address of a run, for the ``source`` of our results.

    None without a public tracking URL (``public_url`` or ``RM_MLFLOW_PUBLIC_URL``).
    """
    public_url = public_url or os.environ.get("RM_MLFLOW_PUBLIC_URL")
    if not public_url:
        return None
    from mlflow import MlflowClient

    experiment_id = (client or MlflowClient()).get_run(run_id).info.experiment_id
    return f"{public_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"



@dataclass(frozen=True)
class CardTarget:
    """Where an evaluation's card goes.

    ``local``: ``model_dir`` (when known) and the run's ``model_card/`` artifacts; ``hub``: those plus a
    pull request (a direct commit with ``create_pr=False``) to ``repo_id``. ``card_format`` picks the files.
    """

    mode: str = "local"
    model_dir: str | None = None
    repo_id: str | None = None
    create_pr: bool = True
    include_subsets: bool = False
    public_url: str | None = None  # the tracking server's public address, for each result's source link
    model_name: str | None = None
    card_format: str = "both"

    def __post_init__(self) -> None:
        if self.card_format not in CARD_FORMATS:
            raise OptionError(f"card_format must be one of {', '.join(CARD_FORMATS)}, got {self.card_format!r}")

    @classmethod
    def from_options(cls, mode: str, options: Mapping[str, Any] | None = None) -> CardTarget | None:
        """The target for ``sync_model_card=mode`` and ``model_card=options``; None when ``mode`` is ``off``."""
        if mode not in SYNC_MODES:
            raise OptionError(f"sync_model_card must be one of {', '.join(SYNC_MODES)}, got {mode!r}")
        known = {name for name in cls.__dataclass_fields__ if name != "mode"}
        unknown = sorted(set(options or {}) - known)
        if unknown:
            raise OptionError(f"model_card: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        target = cls(mode=mode, **dict(options or {}))  # checked even when off: a bad value is never silently ignored
        return None if mode == "off" else target


def card_syncs(
    target: CardTarget, results: ResultsDocument, *, run_id: str | None = None, client: Any = None, dry_run: bool = False
) -> list[tuple[str, Callable[[], CardSyncResult]]]:
    """Every sync ``target`` asks for, named, in order: the run's card artifact (with a run, not in a dry run), the model folder, the Hub.

    The one list of targets: ``rm-mlflow sync-card`` runs it as given, the pipeline runs it after an evaluation.
    """
    render = {"include_subsets": target.include_subsets, "model_name": target.model_name, "card_format": target.card_format,
              "source_url": source_url_for_run(run_id, target.public_url, client=client) if run_id else None}
    steps: list[tuple[str, Callable[[], CardSyncResult]]] = []
    if run_id and not dry_run:
        steps.append((f"mlflow run {run_id}", lambda: sync_run_artifact(run_id, results, client=client, **render)))
    if target.model_dir:
        steps.append((str(target.model_dir), lambda: sync_local(target.model_dir, results, dry_run=dry_run, **render)))
    if target.mode == "hub":
        if not target.repo_id:
            steps.append(("hub", lambda: _fail("sync_model_card='hub' needs model_card={'repo_id': ...} (or a Hub model id as the model)")))
        else:
            steps.append((f"hf://{target.repo_id}",
                          lambda: sync_hub(target.repo_id, results, create_pr=target.create_pr, dry_run=dry_run, **render)))
    return steps


def sync_after_evaluation(target: CardTarget, results_path: Path | str, *, run_id: str, client: Any = None) -> list[dict[str, Any]]:
    """Sync every target of ``target``; each outcome (or error message) is returned, none raises."""
    from mlflow import MlflowClient

    client = client or MlflowClient()
    results = load_results(results_path=results_path)
    outcomes = []
    for name, step in card_syncs(target, results, run_id=run_id, client=client):
        try:
            result = step()
            outcomes.append({"target": result.target, "status": "succeeded", "changed": result.changed, "url": result.url,
                             "files": list(result.files)})
        except Exception as error:  # noqa: BLE001 - a card problem must never lose the evaluation
            logger.error("model card sync to %s failed: %s", name, error)
            outcomes.append({"target": name, "status": "failed", "error": str(error)})
    return outcomes


def _fail(message: str) -> CardSyncResult:
    raise CardSyncError(message)
