"""An append-only on-disk cache of scores, so an interrupted evaluation resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class ScoreCache:
    """Scores keyed by (model fingerprint, token ids). Each batch is appended and flushed as it finishes.

    The fingerprint covers everything that changes a score (model, revision, dtype, template, head
    index), so a cache is never reused across different settings.
    """

    def __init__(self, path: Path | str, fingerprint: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self._salt = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self._scores: dict[str, float] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill; everything before it is intact
                if record.get("salt") == self._salt:
                    self._scores[record["key"]] = record["score"]

    def _key(self, input_ids: Iterable[int]) -> str:
        return hashlib.sha256(",".join(map(str, input_ids)).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._scores)

    def get(self, input_ids: Iterable[int]) -> float | None:
        return self._scores.get(self._key(input_ids))

    def put_many(self, items: Iterable[tuple[Iterable[int], float]]) -> None:
        lines = []
        for input_ids, score in items:
            key = self._key(input_ids)
            self._scores[key] = score
            lines.append(json.dumps({"salt": self._salt, "key": key, "score": score}))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
