"""An append-only on-disk cache of scores, so an interrupted evaluation resumes where it stopped.

Every line checks itself: it carries the salt of the model and settings that produced it (see
:meth:`ScoreCache.salt_of`) and a digest of its own content. A line that does not parse, is not UTF-8,
has the wrong shape, holds a non-finite score or fails its digest (a value edited by hand, a bit flipped
on disk) is dropped and its conversation scored again; one warning names the file and how many lines were
dropped. Lines of another model or other settings (an earlier evaluation in the same folder) are left
unused, with an info line, not a warning. Reading never raises on content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rm_mlflow.errors import OutputError

logger = logging.getLogger(__name__)
_KEY_LENGTH = 64  # sha256 hex digest of the token ids
_DIGEST_LENGTH = 16


class ScoreCache:
    """Scores keyed by (model fingerprint, token ids), and kinds' own records (a judge's answers); appended and flushed as they finish.

    The fingerprint covers everything that changes a score (model, revision, dtype, template, head
    index), so a cache is never reused across different settings. In a results folder the cache is
    :data:`FILE_NAME`; :meth:`in_folder` applies the resume rule.
    """

    FILE_NAME = "score_cache.jsonl"
    SHARD_PATTERN = "score_cache.rank*.jsonl"

    @classmethod
    def in_folder(cls, folder: Path | str, fingerprint: Mapping[str, Any], *, resume: bool = True, rank: int = 0) -> ScoreCache:
        """The cache of a results folder: scores an earlier run left there are reused when ``resume``, discarded otherwise.

        Process ``rank`` of a data-parallel run appends to a file of its own and, when resuming, reads every
        process's file (whatever the number of processes was), so each shard resumes from what it had scored.
        """
        folder = Path(folder)
        path = folder / (cls.FILE_NAME if rank == 0 else cls.SHARD_PATTERN.replace("*", str(rank)))
        if not resume:
            path.unlink(missing_ok=True)
            return cls(path, fingerprint)
        others = [p for p in sorted([folder / cls.FILE_NAME, *folder.glob(cls.SHARD_PATTERN)]) if p != path and p.is_file()]
        return cls(path, fingerprint, also_read=others)

    @staticmethod
    def salt_of(fingerprint: Mapping[str, Any]) -> str:
        """A short hash of a fingerprint: the tag of this cache's lines (and a file name for shared caches)."""
        return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @staticmethod
    def fingerprint_of(model: Any) -> dict[str, Any]:
        """What identifies a model's scores: its description (name, kind, dtype, template, ...) and its settings."""
        return model.cache_fingerprint()

    @classmethod
    def for_model(cls, folder: Path | str, model: Any, *, resume: bool = True, rank: int = 0) -> ScoreCache:
        """:meth:`in_folder` with the fingerprint of ``model``."""
        return cls.in_folder(folder, cls.fingerprint_of(model), resume=resume, rank=rank)

    def __init__(self, path: Path | str, fingerprint: Mapping[str, Any], *, also_read: Iterable[Path] = ()) -> None:
        self.path = Path(path)
        self._salt = self.salt_of(fingerprint)
        self._scores: dict[str, float] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._tail_checked = False
        self.dropped: dict[Path, int] = {}  # lines read and not trusted, per file
        for source in (*also_read, self.path):  # other processes' files are read, never written
            if source.is_file():
                self._load(source)

    def _load(self, source: Path) -> None:
        try:
            content = source.read_bytes()
        except OSError as error:
            logger.warning("score cache %s: cannot be read (%s); every score in it is computed again", source, error.strerror or error)
            return
        dropped = other = 0
        for line in content.split(b"\n"):
            if not line.strip():
                continue
            entry = self._parse(line)
            if entry is None:
                dropped += 1
            elif entry[0] == "other":
                other += 1
            elif entry[0] == "record":
                self._records[entry[1]] = entry[2]
            else:
                self._scores[entry[1]] = entry[2]
        if other:  # an earlier evaluation of another model or other settings in the same folder: expected, not damage
            logger.info("score cache %s: %d line(s) of another model or other settings are not used by this evaluation", source, other)
        if dropped:
            self.dropped[source] = dropped
            logger.warning("score cache %s: dropped %d damaged line(s); their conversations are scored again", source, dropped)

    def _parse(self, line: bytes) -> tuple[str, str, Any] | None:
        """``("score"|"record", key, value)`` for a line this cache wrote and can trust, else None."""
        try:
            entry = json.loads(line)
        except ValueError:  # not UTF-8, not JSON (a line a kill cut short, garbage, NUL bytes)
            return None
        if not isinstance(entry, dict):
            return None
        if entry.get("salt") != self._salt:
            return ("other", "", None) if isinstance(entry.get("salt"), str) else None
        key, check = entry.get("key"), entry.get("check")
        if not isinstance(key, str) or len(key) > 4 * _KEY_LENGTH or not isinstance(check, str):
            return None
        if "record" in entry:
            record = entry["record"]
            if isinstance(record, dict) and check == self._digest(key, _canonical(record)):
                return "record", key, record
            return None
        score = entry.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            return None
        if check != self._digest(key, repr(float(score))):
            return None
        return "score", key, float(score)

    def _digest(self, key: str, value: str) -> str:
        return hashlib.sha256(f"{self._salt}\x1f{key}\x1f{value}".encode()).hexdigest()[:_DIGEST_LENGTH]

    def _key(self, input_ids: Iterable[int]) -> str:
        return hashlib.sha256(",".join(map(str, input_ids)).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._scores) + len(self._records)

    def get(self, input_ids: Iterable[int]) -> float | None:
        """The cached score of this exact token sequence, or None."""
        return self._scores.get(self._key(input_ids))

    def put_many(self, items: Iterable[tuple[Iterable[int], float]]) -> None:
        """Append ``(token ids, score)`` pairs and flush them to disk before returning; a non-finite score is kept in memory only."""
        lines = []
        for input_ids, score in items:
            key = self._key(input_ids)
            score = float(score)
            self._scores[key] = score
            if math.isfinite(score):
                lines.append(json.dumps({"salt": self._salt, "key": key, "score": score, "check": self._digest(key, repr(score))}))
        if lines:
            self._append(lines)

    def _append(self, lines: list[str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                if handle.tell() and not self._tail_checked and not self._ends_with_newline():
                    handle.write(b"\n")  # close a line a kill cut short, so it cannot swallow the next record
                self._tail_checked = True
                handle.write(("\n".join(lines) + "\n").encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            kept = "the scores written before are kept (a line cut short is dropped on resume); free the space and rerun to resume"
            raise OutputError.from_os_error(error, self.path, "append to the score cache", kept) from None

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def get_record(self, key: str) -> dict[str, Any] | None:
        """A kind's own cached record (a judge's answer) under ``key``, or None."""
        return self._records.get(key)

    def put_record(self, key: str, record: Mapping[str, Any]) -> None:
        """Append one record and flush it to disk before returning."""
        record = dict(record)
        self._records[key] = record
        canonical = _canonical(record)
        self._append([json.dumps({"salt": self._salt, "key": key, "record": record, "check": self._digest(key, canonical)})])


def _canonical(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
