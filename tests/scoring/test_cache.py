"""The score cache never trusts a damaged line: each of eleven corruptions of one line is dropped, counted and re-scored."""

from __future__ import annotations

import json
import logging
import time

import pytest

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.scoring.cache import ScoreCache
from rm_mlflow.scoring.loaders import load_reward_model
from tests.helpers import SAMPLE


def _set(field, value):
    def damage(line: bytes) -> bytes:
        entry = json.loads(line)
        entry[field] = value
        return json.dumps(entry).encode()
    return damage


def _drop(field):
    def damage(line: bytes) -> bytes:
        entry = json.loads(line)
        del entry[field]
        return json.dumps(entry).encode()
    return damage


def _shift_score(line: bytes) -> bytes:
    entry = json.loads(line)
    entry["score"] = entry["score"] + 0.5  # well-formed: only the line's own digest can tell
    return json.dumps(entry).encode()


# kind -> (how the middle line is damaged, lines read back that are not trusted)
CORRUPTIONS = {
    "garbage": (lambda line: b"#%&!garbage, not a cache line at all", 1),
    "nul-bytes": (lambda line: b"\x00" * len(line), 1),
    "half-a-line": (lambda line: line[: len(line) // 2], 1),
    "invalid-utf8": (lambda line: line.replace(b'"key": "', b'"key": "\xff\xfe'), 1),
    "json-array": (lambda line: b"[1, 2, 3]", 1),
    "score-null": (_set("score", None), 1),
    "score-missing": (_drop("score"), 1),
    "score-string": (_set("score", "abc"), 1),
    "score-nan": (_set("score", float("nan")), 1),
    "changed-value": (_shift_score, 1),
}


@pytest.fixture(scope="module")
def model(tiny_llama):
    return load_reward_model(str(tiny_llama))


def _evaluate(model, out):
    return run_evaluation(EvaluationRequest(model=model, datasets=["rewardbench"], data=SAMPLE, output_dir=out, progress=False,
                                            intervals=IntervalOptions(resamples=0)))


@pytest.fixture(scope="module")
def clean(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean-cache")
    outcome = _evaluate(model, out)
    return outcome, (out / ScoreCache.FILE_NAME).read_bytes()


def _scores_of(outcome):
    return {key: value for key, value in outcome.metrics.items() if not key.startswith("throughput/")}


@pytest.mark.parametrize("kind", [*CORRUPTIONS, "two-lines-joined"])
def test_a_damaged_cache_line_is_dropped_counted_and_scored_again(kind, model, clean, tmp_path, caplog):
    outcome, content = clean
    lines = content.rstrip(b"\n").split(b"\n")
    middle = len(lines) // 2
    if kind == "two-lines-joined":
        lines[middle : middle + 2] = [lines[middle] + lines[middle + 1]]
        lost = 2
    else:
        damage, _ = CORRUPTIONS[kind]
        lines[middle] = damage(lines[middle])
        lost = 1
    out = tmp_path / "out"
    out.mkdir()
    (out / ScoreCache.FILE_NAME).write_bytes(b"\n".join(lines) + b"\n")

    with caplog.at_level(logging.WARNING, logger="rm_mlflow.scoring.cache"):
        resumed = _evaluate(model, out)

    # accuracies exactly; score statistics to float32 noise (the re-scored conversation sits in a batch of another shape)
    assert _scores_of(resumed) == pytest.approx(_scores_of(outcome), rel=1e-5, abs=1e-6)  # the changed value does not leak
    throughput = resumed.report.throughput
    assert throughput["cached_conversations"] == 50 - lost and throughput["scored_conversations"] == lost
    warnings = [record.getMessage() for record in caplog.records if "score cache" in record.getMessage()]
    assert warnings == [f"score cache {out / ScoreCache.FILE_NAME}: dropped 1 damaged line(s); their conversations are scored again"]


def test_lines_of_other_settings_are_foreign_not_damaged(tmp_path, caplog):
    path = tmp_path / ScoreCache.FILE_NAME
    ScoreCache(path, {"model": "a"}).put_many([((1, 2, 3), 0.25)])
    with caplog.at_level(logging.INFO, logger="rm_mlflow.scoring.cache"):
        other = ScoreCache(path, {"model": "b"})
    assert other.get((1, 2, 3)) is None and other.dropped == {}
    assert [record.levelname for record in caplog.records] == ["INFO"] and "1 line(s) of another model" in caplog.text
    assert ScoreCache(path, {"model": "a"}).get((1, 2, 3)) == 0.25


def test_validating_a_thousand_line_cache_is_quick(tmp_path):
    path = tmp_path / ScoreCache.FILE_NAME
    cache = ScoreCache(path, {"model": "x"})
    cache.put_many([((i, i + 1, i + 2), i / 7) for i in range(1000)])
    started = time.perf_counter()
    again = ScoreCache(path, {"model": "x"})
    elapsed = time.perf_counter() - started
    assert len(again) == 1000 and not again.dropped
    print(f"validated 1,000 cache lines in {1000 * elapsed:.1f} ms")
