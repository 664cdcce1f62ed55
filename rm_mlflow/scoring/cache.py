"""An append-only on-disk cache of scores, so an interrupted evaluation resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


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
        others = [p for p in sorted([folder / cls.FILE_NAME, *folder.glob(cls.SHARD_PATTERN)]) if p != path and p.exists()]
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
        for source in (*also_read, self.path):  # other processes' files are read, never written
            if source.exists():
                self._load(source)

    def _load(self, source: Path) -> None:
        with source.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill; everything before it is intact
                if record.get("salt") != self._salt:
                    continue
                if "record" in record:
                    self._records[record["key"]] = record["record"]
                else:
                    self._scores[record["key"]] = record["score"]

    def _key(self, input_ids: Iterable[int]) -> str:
        return hashlib.sha256(",".join(map(str, input_ids)).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._scores) + len(self._records)

    def get(self, input_ids: Iterable[int]) -> float | None:
        """The cached score of this exact token sequence, or None."""
        return self._scores.get(self._key(input_ids))

    def put_many(self, items: Iterable[tuple[Iterable[int], float]]) -> None:
        """Append ``(token ids, score)`` pairs and flush them to disk before returning."""
        lines = []
        for input_ids, score in items:
            key = self._key(input_ids)
            self._scores[key] = score
            lines.append(json.dumps({"salt": self._salt, "key": key, "score": score}))
        self._append(lines)

    def _append(self, lines: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            if handle.tell() and not self._tail_checked and not self._ends_with_newline():
                handle.write("\n")  # close a line a kill cut short, so it cannot swallow the next record
            self._tail_checked = True
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def get_record(self, key: str) -> dict[str, Any] | None:
        """A kind's own cached record (a judge's answer) under ``key``, or None."""
        return self._records.get(key)

    def put_record(self, key: str, record: Mapping[str, Any]) -> None:
        """Append one record and flush it to disk before returning."""
        self._records[key] = dict(record)
        self._append([json.dumps({"salt": self._salt, "key": key, "record": dict(record)})])
