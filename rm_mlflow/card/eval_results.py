"""The Hub's ``.eval_results/<benchmark>.yaml`` files, built with huggingface_hub's ``EvalResultEntry`` and its serializer.

One file per benchmark with a Hub dataset id; one entry per score (the headline ``score``, each
``section/<slug>`` and, when asked, each ``subset/<slug>``, the same names as the ``model-index``
metric types). An entry is ours when its source is named ``rm-mlflow`` or its ``notes`` start with
``rm-mlflow``: a sync replaces exactly those and keeps every other entry and file byte for byte.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import yaml

from rm_mlflow.card.merge import dump_yaml, replace_owned_items
from rm_mlflow.card.model_index import SOURCE_NAME, hub_dataset_id, published_figures
from rm_mlflow.results import BenchmarkResults, ResultsDocument

logger = logging.getLogger(__name__)
EVAL_RESULTS_DIR = ".eval_results"
NOTES_PREFIX = "rm-mlflow"  # marks our entries when no source URL is given (a source needs one)


def eval_results_path(benchmark: str) -> str:
    """The repository path of one benchmark's file."""
    return f"{EVAL_RESULTS_DIR}/{benchmark}.yaml"


def build_eval_result_entries(
    results: ResultsDocument, *, source_url: str | None = None, include_subsets: bool = False
) -> dict[str, list[Any]]:
    """The entries of each file, by repository path; benchmarks without a Hub dataset id, or scored in part, have none."""
    from huggingface_hub import EvalResultEntry

    files: dict[str, list[Any]] = {}
    for name, benchmark in results.benchmarks.items():
        dataset_id = hub_dataset_id(name, benchmark)
        if benchmark.partial or dataset_id is None:
            logger.info("no %s for %s: %s", eval_results_path(name), name,
                        f"scored in part ({benchmark.partial})" if benchmark.partial else "its data has no Hub dataset id")
            continue
        common = {
            "dataset_id": dataset_id,
            "dataset_revision": benchmark.revision,
            "date": results.evaluated_at,
            "source_url": source_url,
            "source_name": SOURCE_NAME if source_url else None,
            "notes": evaluation_notes(results, benchmark),
        }
        entries = [EvalResultEntry(task_id=task, value=value, **common)
                   for task, _, value in published_figures(benchmark, include_subsets=include_subsets)]
        if entries:
            files[eval_results_path(name)] = entries
    return files


def evaluation_notes(results: ResultsDocument, benchmark: BenchmarkResults) -> str:
    """The setup that changes the numbers, in one line: model kind, chat template, truncation, batching, fingerprints."""
    model, settings = results.model, results.settings
    parts = [f"kind {model.get('kind', 'unknown')}"]
    if str(model.get("leaderboard_type") or "").startswith("DPO"):
        parts.append(f"{model['leaderboard_type']} (reference {model.get('ref_model') or model.get('ref_free_type')})")
    if model.get("chat_template"):
        template = str(model["chat_template"])
        parts.append(f"chat template {template}" + (f" ({model['chat_template_digest']})" if model.get("chat_template_digest") else ""))
    if settings.get("truncation") == "none":
        parts.append("no truncation")
    elif settings.get("truncation"):
        parts.append(f"{settings['truncation']} truncation to {settings.get('max_length')} tokens")
    batching = model.get("batching", settings.get("batching"))
    if batching not in (None, "independent"):
        parts.append(f"batching {batching}")
    if results.fingerprint:
        parts.append(f"fingerprint {results.fingerprint['id']}")
    if benchmark.digest:
        parts.append(f"data {benchmark.digest}")
    return f"{NOTES_PREFIX}: " + "; ".join(parts)


def is_our_entry(entry: Mapping[str, Any]) -> bool:
    """An ``.eval_results`` entry this tool wrote."""
    source = entry.get("source") or {}
    return (isinstance(source, Mapping) and source.get("name") == SOURCE_NAME) or str(entry.get("notes") or "").startswith(NOTES_PREFIX)


def merge_eval_results_file(existing: str | None, entries: list[Any]) -> str:
    """The file text with our entries replaced by ``entries``; every other entry keeps its bytes."""
    from huggingface_hub import eval_result_entries_to_yaml

    ours = eval_result_entries_to_yaml(entries)
    root = yaml.compose(existing) if existing and existing.strip() else None
    if root is None or (isinstance(root, yaml.SequenceNode) and not root.value):
        return dump_yaml(ours)
    if not isinstance(root, yaml.SequenceNode):
        raise ValueError("not a list of evaluation results")
    loaded = yaml.safe_load(existing)
    return replace_owned_items(existing, root, [isinstance(item, Mapping) and is_our_entry(item) for item in loaded], ours)
