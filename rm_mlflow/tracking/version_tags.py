"""The model-version tags that record a version's evaluation in the registry (``rm_eval.*``), written by the service and the demo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

STATUS_TAG = "rm_eval.status"  # queued, running, succeeded, failed (written last, so a final status comes with the rest)
RUN_ID_TAG = "rm_eval.run_id"
SCORE_TAG = "rm_eval.score"  # the first benchmark's score; rm_eval.score.<benchmark> for each when there are several
ERROR_TAG = "rm_eval.error"
PARTIAL_TAG = "rm_eval.partial"  # set when the scores come from part of a benchmark (--limit, --subsets, missing sections)


def succeeded_tags(
    metrics: Mapping[str, float], run_id: str, benchmarks: Sequence[str], *, partial: str | None = None
) -> tuple[dict[str, str], float | None]:
    """The tags of a finished evaluation, and its headline score (the first benchmark's), from the run's metrics.

    ``partial`` (the run's ``rm_mlflow.partial`` tag) is written as ``rm_eval.partial``: those scores are not the benchmarks'.
    """
    scores = {name: metrics[f"{name}/score"] for name in benchmarks if f"{name}/score" in metrics}
    headline = next(iter(scores.values()), None)
    tags = {STATUS_TAG: "succeeded", RUN_ID_TAG: run_id}
    if partial:
        tags[PARTIAL_TAG] = partial
    if headline is not None:
        tags[SCORE_TAG] = f"{headline:.6f}"
    if len(scores) > 1:
        tags |= {f"{SCORE_TAG}.{name}": f"{value:.6f}" for name, value in scores.items()}
    return tags, headline


def write_version_tags(client: object, name: str, version: str, tags: Mapping[str, str]) -> None:
    """Set the tags on ``models:/name/version``, the status tag last."""
    for key, value in sorted(tags.items(), key=lambda item: item[0] == STATUS_TAG):
        client.set_model_version_tag(name, version, key, value)
