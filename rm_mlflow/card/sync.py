"""Model-card sync targets: a local model folder's README.md, the MLflow run's artifacts, and the Hub.

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

from rm_mlflow.card.merge import merge_model_card
from rm_mlflow.card.model_index import build_eval_results
from rm_mlflow.errors import OptionError, RmMlflowError
from rm_mlflow.results import ResultsDocument, read_results

logger = logging.getLogger(__name__)
CARD_FILE = "README.md"
CARD_ARTIFACT_DIR = "model_card"
SYNC_MODES = ("off", "local", "hub")


class CardSyncError(RmMlflowError):
    """A card could not be read or written; the evaluation it came from is unaffected."""


@dataclass(frozen=True)
class CardSyncResult:
    """One sync target's outcome: what changed (as a unified diff) and the Hub URL of a push."""

    target: str  # a path, "mlflow run <id>" or "hf://<repo>"
    changed: bool
    diff: str
    url: str | None = None  # the pull request or commit on the Hub


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


def as_results(results: ResultsDocument | Mapping[str, Any]) -> ResultsDocument:
    """A results document as given, or read from the JSON object of one (``json.load`` of a ``results.json``)."""
    return results if isinstance(results, ResultsDocument) else ResultsDocument.from_dict(results)


def card_diff(old: str | None, new: str, name: str) -> str:
    """A unified diff from ``old`` to ``new``, for ``--dry_run``."""
    return "".join(difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"))


def sync_local(model_dir: Path | str, results: ResultsDocument | Mapping[str, Any], *, dry_run: bool = False, **render: Any) -> CardSyncResult:
    """Merge into ``model_dir/README.md`` (created, with a YAML header, when missing)."""
    path = Path(model_dir) / CARD_FILE
    if not Path(model_dir).is_dir():
        raise CardSyncError(f"{model_dir}: not a folder")
    old = path.read_text(encoding="utf-8") if path.exists() else None
    new = render_card(old, results, model_name=render.pop("model_name", None) or Path(model_dir).resolve().name, **render)
    if not dry_run and new != old:
        path.write_text(new, encoding="utf-8")
    return CardSyncResult(target=str(path), changed=new != old, diff=card_diff(old, new, CARD_FILE))


def sync_hub(
    repo_id: str,
    results: ResultsDocument | Mapping[str, Any],
    *,
    create_pr: bool = True,
    revision: str | None = None,
    dry_run: bool = False,
    **render: Any,
) -> CardSyncResult:
    """Merge into the Hub repo's README.md and push it as a pull request (or a direct commit with ``create_pr=False``)."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    try:
        old = Path(hf_hub_download(repo_id, CARD_FILE, revision=revision)).read_text(encoding="utf-8")
    except EntryNotFoundError:
        old = None
    except Exception as error:  # noqa: BLE001 - offline, missing repo, no access: one message, no token in it
        raise CardSyncError(f"cannot read the model card of {repo_id} from the Hub: {type(error).__name__}: {error}") from error
    new = render_card(old, results, model_name=render.pop("model_name", None) or repo_id, **render)
    result = CardSyncResult(target=f"hf://{repo_id}", changed=new != old, diff=card_diff(old, new, CARD_FILE))
    if dry_run or new == old:
        return result
    try:
        commit = HfApi().upload_file(
            path_or_fileobj=new.encode("utf-8"),
            path_in_repo=CARD_FILE,
            repo_id=repo_id,
            revision=revision,
            commit_message="Update reward-model evaluation results (rm-mlflow)",
            create_pr=create_pr,
        )
    except (HfHubHTTPError, OSError, ValueError) as error:  # ValueError: the Hub rejected the card's metadata
        raise CardSyncError(f"cannot push the model card to {repo_id}: {error}") from error
    url = getattr(commit, "pr_url", None) or getattr(commit, "commit_url", None)
    return CardSyncResult(target=result.target, changed=True, diff=result.diff, url=url)


def sync_run_artifact(run_id: str, results: ResultsDocument | Mapping[str, Any], *, client: Any = None, **render: Any) -> CardSyncResult:
    """Log the merged card (starting from the run's earlier one, if any) as ``model_card/README.md`` in the run."""
    import tempfile

    from mlflow import MlflowClient

    client = client or MlflowClient()
    with tempfile.TemporaryDirectory() as tmp:
        old = None
        if any(a.path == f"{CARD_ARTIFACT_DIR}/{CARD_FILE}" for a in client.list_artifacts(run_id, CARD_ARTIFACT_DIR)):
            old = Path(client.download_artifacts(run_id, f"{CARD_ARTIFACT_DIR}/{CARD_FILE}", tmp)).read_text(encoding="utf-8")
        new = render_card(old, results, model_name=render.pop("model_name", None) or str(as_results(results).model.get("name")), **render)
        path = Path(tmp) / "card" / CARD_FILE
        path.parent.mkdir()
        path.write_text(new, encoding="utf-8")
        if new != old:
            client.log_artifact(run_id, str(path), CARD_ARTIFACT_DIR)
    return CardSyncResult(target=f"mlflow run {run_id}", changed=new != old, diff=card_diff(old, new, CARD_FILE))


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

    ``local``: ``model_dir``'s README.md (when known) and the run's ``model_card/README.md``; ``hub``:
    those plus a pull request (a direct commit with ``create_pr=False``) to ``repo_id``.
    """

    mode: str = "local"
    model_dir: str | None = None
    repo_id: str | None = None
    create_pr: bool = True
    include_subsets: bool = False
    public_url: str | None = None  # the tracking server's public address, for each result's source link
    model_name: str | None = None

    @classmethod
    def from_options(cls, mode: str, options: Mapping[str, Any] | None = None) -> CardTarget | None:
        """The target for ``sync_model_card=mode`` and ``model_card=options``; None when ``mode`` is ``off``."""
        if mode not in SYNC_MODES:
            raise OptionError(f"sync_model_card must be one of {', '.join(SYNC_MODES)}, got {mode!r}")
        if mode == "off":
            return None
        known = {name for name in cls.__dataclass_fields__ if name != "mode"}
        unknown = sorted(set(options or {}) - known)
        if unknown:
            raise OptionError(f"model_card: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(mode=mode, **dict(options or {}))


def card_syncs(
    target: CardTarget, results: ResultsDocument, *, run_id: str | None = None, client: Any = None, dry_run: bool = False
) -> list[tuple[str, Callable[[], CardSyncResult]]]:
    """Every sync ``target`` asks for, named, in order: the run's card artifact (with a run, not in a dry run), the model folder, the Hub.

    The one list of targets: ``rm-mlflow sync-card`` runs it as given, the pipeline runs it after an evaluation.
    """
    render = {"include_subsets": target.include_subsets, "model_name": target.model_name,
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
            outcomes.append({"target": result.target, "status": "succeeded", "changed": result.changed, "url": result.url})
        except Exception as error:  # noqa: BLE001 - a card problem must never lose the evaluation
            logger.error("model card sync to %s failed: %s", name, error)
            outcomes.append({"target": name, "status": "failed", "error": str(error)})
    return outcomes


def _fail(message: str) -> CardSyncResult:
    raise CardSyncError(message)
