"""The durable job queue behind ``rm-mlflow serve`` and ``rm-mlflow watch``: one sqlite file.

A job is one registered model version, and ``UNIQUE(model_name, version)`` makes "evaluate
exactly once" a property of the table: a second delivery, a poll that sees the same version or a
restart can never add a second job. Accepted webhook delivery ids are stored in the same
transaction as the job, so a replayed delivery is refused atomically. Everything is committed
before the HTTP reply, so a killed service loses nothing; on restart, jobs left ``running`` by the
dead worker go back to ``queued`` and resume (their MLflow run id and score cache are kept).

The file itself is watched: every transaction first checks that the path still names the file this
queue opened (same device and inode). A queue file deleted or replaced under a running service raises
:class:`QueueFileLost` instead of writing jobs into an unlinked file that no restart would read.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rm_mlflow.errors import RmMlflowError

QUEUED, RUNNING, SUCCEEDED, FAILED, SKIPPED = "queued", "running", "succeeded", "failed", "skipped"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, SKIPPED)
_DELIVERY_RETENTION_SECONDS = 7 * 24 * 3600  # far beyond the timestamp window, after which a replay is refused anyway

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    version TEXT NOT NULL,
    origin TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    run_id TEXT,
    score REAL,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    UNIQUE (model_name, version)
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, not_before);
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    event TEXT NOT NULL,
    job_id INTEGER
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class QueueFileLost(RmMlflowError):
    """The queue file was deleted or replaced while this process had it open."""

    exit_status = 1


@dataclass(frozen=True)
class Job:
    """One registered model version to evaluate, and where its evaluation stands."""

    id: int
    model_name: str
    version: str
    origin: str
    status: str
    attempts: int
    not_before: float
    run_id: str | None
    score: float | None
    error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @property
    def model_uri(self) -> str:
        """``models:/NAME/VERSION``."""
        return f"models:/{self.model_name}/{self.version}"

    def as_dict(self) -> dict[str, Any]:
        """The job as plain values, for ``/jobs``."""
        return asdict(self) | {"model_uri": self.model_uri}


@dataclass(frozen=True)
class Admission:
    """What the queue made of one verified delivery."""

    replayed: bool
    job: Job | None = None
    created: bool = False


class JobQueue:
    """Thread-safe access to the queue file; every method is one short transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.wakeup = threading.Event()  # set when a job is added, so an in-process worker starts at once
        self._identity: tuple[int, int] | None = None
        self._connection().executescript(_SCHEMA)  # executescript manages its own transaction
        self._identity = _identity_of(self.path)

    def check_file(self) -> None:
        """Raise :class:`QueueFileLost` unless the queue's path still names the file this queue opened."""
        if self._identity is None:
            return
        try:
            now = _identity_of(self.path)
        except FileNotFoundError:
            now = None
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise QueueFileLost(
                f"{self.path}: the queue file was {what} while the service ran; stopped rather than write jobs into a file no restart "
                "would read. Restart the service: it re-queues every version the registry shows as queued or running, and "
                "`rm-mlflow watch --once --backfill` queues versions registered meanwhile"
            )

    def _connection(self) -> sqlite3.Connection:
        self.check_file()
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")  # a 2xx reply promises the job is on disk
            self._local.connection = connection
        return connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def accept_delivery(self, delivery_id: str, event: str, target: tuple[str, str] | None) -> Admission:
        """Record a verified delivery and, when it names a model version, its job. A known delivery id is a replay."""
        now = time.time()
        with self._transaction() as db:
            try:
                db.execute("INSERT INTO deliveries (delivery_id, received_at, event) VALUES (?, ?, ?)", (delivery_id, now, event))
            except sqlite3.IntegrityError:
                return Admission(replayed=True)
            if target is None:
                return Admission(replayed=False)
            job, created = self._enqueue(db, *target, origin=f"webhook:{event}", now=now)
            db.execute("UPDATE deliveries SET job_id = ? WHERE delivery_id = ?", (job.id, delivery_id))
        if created:
            self.wakeup.set()
        return Admission(replayed=False, job=job, created=created)

    def enqueue(self, model_name: str, version: str, *, origin: str) -> tuple[Job, bool]:
        """Add the job for ``model_name`` version ``version`` unless it exists; returns it and whether it is new."""
        with self._transaction() as db:
            job, created = self._enqueue(db, model_name, str(version), origin=origin, now=time.time())
        if created:
            self.wakeup.set()
        return job, created

    def _enqueue(self, db: sqlite3.Connection, model_name: str, version: str, *, origin: str, now: float) -> tuple[Job, bool]:
        cursor = db.execute(
            "INSERT OR IGNORE INTO jobs (model_name, version, origin, status, not_before, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (model_name, version, origin, QUEUED, now, now, now),
        )
        row = db.execute("SELECT * FROM jobs WHERE model_name = ? AND version = ?", (model_name, version)).fetchone()
        return Job(**row), cursor.rowcount == 1

    def claim(self) -> Job | None:
        """Take the oldest due job and mark it running (one more attempt)."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = ? AND not_before <= ? ORDER BY not_before, id LIMIT 1", (QUEUED, now)
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?", (RUNNING, now, row["id"]))
            return Job(**db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone())

    def set_run_id(self, job_id: int, run_id: str) -> None:
        """Remember the MLflow run of a job (so a retry logs to the same run)."""
        self._update(job_id, run_id=run_id)

    def succeed(self, job_id: int, *, run_id: str, score: float | None) -> Job:
        """Mark a job succeeded with its run and headline score."""
        return self._update(job_id, status=SUCCEEDED, run_id=run_id, score=score, error=None, finished_at=time.time())

    def fail(self, job_id: int, error: str) -> Job:
        """Mark a job failed for good with a one-line reason."""
        return self._update(job_id, status=FAILED, error=error, finished_at=time.time())

    def skip(self, job_id: int, reason: str) -> Job:
        """Mark a job skipped (its model is not selected, or the version is gone)."""
        return self._update(job_id, status=SKIPPED, error=reason, finished_at=time.time())

    def retry_later(self, job_id: int, error: str, *, delay: float) -> Job:
        """Put a job back in the queue, due after ``delay`` seconds."""
        return self._update(job_id, status=QUEUED, error=error, not_before=time.time() + delay)

    def _update(self, job_id: int, **values: Any) -> Job:
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self._transaction() as db:
            db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values.values(), job_id))
            return Job(**db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def requeue_orphans(self, *, max_attempts: int) -> tuple[list[Job], list[Job]]:
        """Put jobs a dead worker left ``running`` back in the queue; call only while holding the worker lock.

        A job that was running during ``max_attempts`` deaths (say, the machine runs out of memory on it) fails
        instead of taking the service down forever. Returns (requeued, failed).
        """
        now = time.time()
        requeued, failed = [], []
        with self._transaction() as db:
            for row in db.execute("SELECT * FROM jobs WHERE status = ?", (RUNNING,)).fetchall():
                job = Job(**row)
                if job.attempts >= max_attempts:
                    error = f"the service stopped during each of {job.attempts} attempts; not retried again"
                    db.execute("UPDATE jobs SET status = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?",
                               (FAILED, error, now, now, job.id))
                    failed.append(replace(job, status=FAILED, error=error, updated_at=now, finished_at=now))
                else:
                    db.execute("UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?", (QUEUED, now, job.id))
                    requeued.append(replace(job, status=QUEUED, updated_at=now))
            db.execute("DELETE FROM deliveries WHERE received_at < ?", (now - _DELIVERY_RETENTION_SECONDS,))
        return requeued, failed

    def get(self, model_name: str, version: str) -> Job | None:
        """The job of one model version, if any."""
        row = self._connection().execute("SELECT * FROM jobs WHERE model_name = ? AND version = ?", (model_name, str(version))).fetchone()
        return Job(**row) if row else None

    def jobs(self, *, status: str | None = None, limit: int = 100) -> list[Job]:
        """The newest jobs first, optionally only those with ``status``."""
        query, args = "SELECT * FROM jobs", ()
        if status:
            query, args = query + " WHERE status = ?", (status,)
        rows = self._connection().execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [Job(**row) for row in rows]

    def counts(self) -> dict[str, int]:
        """The number of jobs in each status."""
        rows = self._connection().execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        return {status: 0 for status in STATUSES} | {row["status"]: row["n"] for row in rows}

    def next_due_in(self) -> float | None:
        """Seconds until the earliest queued job is due (0 when one is due now); None when nothing is queued."""
        row = self._connection().execute("SELECT MIN(not_before) FROM jobs WHERE status = ?", (QUEUED,)).fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    def get_state(self, key: str) -> str | None:
        """A value the service keeps in the queue file (the poller's high-water mark)."""
        row = self._connection().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        """Store a value in the queue file."""
        with self._transaction() as db:
            db.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def _identity_of(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino


class WorkerLock:
    """At most one worker process per queue file (an exclusive ``flock``, released by the kernel when the process dies).

    Holding it proves that no other worker is alive, so jobs marked ``running`` are orphans.
    """

    def __init__(self, queue_path: Path | str) -> None:
        self.path = Path(f"{queue_path}.worker.lock")
        self._handle = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        """Give the lock back."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
