"""The sqlite job queue: exactly one job per model version, replays refused, orphans resumed, one worker per file."""

from __future__ import annotations

import threading

from rm_mlflow.service.queue import FAILED, QUEUED, RUNNING, SUCCEEDED, JobQueue, WorkerLock


def test_one_job_per_version_however_many_deliveries_and_threads(tmp_path):
    queue = JobQueue(tmp_path / "queue.sqlite")
    results = []

    def deliver(index: int) -> None:
        results.append(queue.accept_delivery(f"delivery-{index}", "model_version.created", ("rm", "3")))

    threads = [threading.Thread(target=deliver, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admission.created for admission in results) == 1
    assert {admission.job.id for admission in results} == {results[0].job.id}
    assert queue.enqueue("rm", "3", origin="watch") == (queue.get("rm", "3"), False)
    assert len(queue.jobs()) == 1


def test_a_known_delivery_id_is_a_replay_even_after_a_restart(tmp_path):
    JobQueue(tmp_path / "q.sqlite").accept_delivery("d-1", "model_version.created", ("rm", "1"))
    reopened = JobQueue(tmp_path / "q.sqlite")
    assert reopened.accept_delivery("d-1", "model_version.created", ("rm", "1")).replayed
    ignored = reopened.accept_delivery("d-2", "registered_model.created", None)
    assert not ignored.replayed and ignored.job is None
    assert len(reopened.jobs()) == 1


def test_claim_order_retry_backoff_and_orphans(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite")
    first, _ = queue.enqueue("rm", "1", origin="watch")
    second, _ = queue.enqueue("rm", "2", origin="watch")
    claimed = queue.claim()
    assert (claimed.id, claimed.status, claimed.attempts) == (first.id, RUNNING, 1)
    queue.retry_later(claimed.id, "connection refused", delay=60)
    assert queue.claim().id == second.id  # the first is not due for a minute
    assert queue.claim() is None
    assert 59 < queue.next_due_in() <= 60

    # the process dies with job 2 running: the next worker puts it back and it runs again
    requeued, failed = JobQueue(tmp_path / "q.sqlite").requeue_orphans(max_attempts=3)
    assert ([job.id for job in requeued], failed) == ([second.id], [])
    again = queue.claim()
    assert (again.id, again.attempts) == (second.id, 2)
    done = queue.succeed(again.id, run_id="run-1", score=0.5)
    assert (done.status, done.run_id, done.score) == (SUCCEEDED, "run-1", 0.5)
    assert queue.counts()[QUEUED] == 1 and queue.counts()[SUCCEEDED] == 1


def test_only_one_worker_per_queue_file(tmp_path):
    first, second = WorkerLock(tmp_path / "q.sqlite"), WorkerLock(tmp_path / "q.sqlite")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_wakeup_is_signalled_for_new_jobs_only(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite")
    queue.enqueue("rm", "1", origin="watch")
    assert queue.wakeup.is_set()
    queue.wakeup.clear()
    queue.enqueue("rm", "1", origin="watch")
    assert not queue.wakeup.is_set()


def test_a_job_that_keeps_killing_the_service_fails_instead_of_looping(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite")
    job, _ = queue.enqueue("rm", "1", origin="watch")
    for _ in range(2):
        assert queue.claim().id == job.id
        requeued, failed = queue.requeue_orphans(max_attempts=2)
    assert requeued == [] and [(job.status, job.attempts) for job in failed] == [(FAILED, 2)]
    assert "stopped during each of 2 attempts" in failed[0].error


def test_a_second_service_on_the_same_state_folder_only_receives(tmp_path):
    import mlflow

    from rm_mlflow.service import RegistrationService, ServiceConfig

    previous = mlflow.get_tracking_uri()
    config = ServiceConfig(state_dir=tmp_path, workers=1, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    first, second = RegistrationService(config), RegistrationService(config)
    first.start(background=False)  # the worker role, without threads that would pick the job up
    second.start()
    try:
        assert len(first.workers) == 1 and first.health()["worker"] == "active"
        assert second.workers == [] and second.health()["worker"].startswith("standby")
        job, created = second.queue.enqueue("rm", "1", origin="watch")  # queued by the standby, visible to the worker
        assert created and first.queue.get("rm", "1") == job
    finally:
        second.stop()
        first.stop()
        mlflow.set_tracking_uri(previous)


def test_job_views_are_off_without_a_status_token(tmp_path):
    from fastapi.testclient import TestClient

    from rm_mlflow.service.app import create_app
    from rm_mlflow.service.signature import WebhookVerifier

    queue = JobQueue(tmp_path / "q.sqlite")
    queue.enqueue("rm", "1", origin="watch")
    client = TestClient(create_app(queue, WebhookVerifier("s3cret")))
    assert client.get("/jobs").status_code == 403 and client.get("/jobs/rm/1").status_code == 403 and client.get("/status").status_code == 403
    assert client.get("/healthz").json()["jobs"]["queued"] == 1
    protected = TestClient(create_app(queue, WebhookVerifier("s3cret"), status_token="t0ken"))
    assert protected.get("/jobs", headers={"Authorization": "Bearer t0ken"}).json()["jobs"][0]["model_uri"] == "models:/rm/1"
