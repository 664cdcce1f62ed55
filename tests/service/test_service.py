"""``rm-mlflow serve`` end to end: a real MLflow server delivers registry webhooks to the real service process."""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from rm_mlflow.service.signature import sign
from tests.helpers import (
    JUDGE_KEY_ENV,
    SAMPLE_DATA,
    SECRET,
    SHARED_DATA,
    ServiceProcess,
    sample_args,
    sample_metrics,
    version_tags,
    wait_for,
    wait_for_outcome,
)

EXPERIMENT = "rm-eval"


@pytest.fixture(scope="module")
def logged_model(webhook_server, tiny_llama) -> str:
    """The tiny Llama reward model logged once (not registered); versions are registered from it per test."""
    import mlflow

    import rm_mlflow

    mlflow.set_experiment("service-models")
    with mlflow.start_run():
        info = rm_mlflow.log_model(str(tiny_llama), "rm")
    mlflow.end_run()
    return info.model_uri


@pytest.fixture(scope="module")
def service(webhook_server, tmp_path_factory) -> ServiceProcess:
    process = ServiceProcess(tmp_path_factory.mktemp("service"), webhook_server, sample_args()).start()
    yield process
    process.stop()


def register(name: str, model_uri: str) -> str:
    import mlflow

    return mlflow.register_model(model_uri, name).version


def _client(url: str):
    from mlflow import MlflowClient

    return MlflowClient(url)


def _runs_for(client, name: str) -> list:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`rm_mlflow.model_name` = '{name}'")


def _post(service: ServiceProcess, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(f"{service.url}/webhook", data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _delivery(name: str, version: str, *, secret: str = SECRET, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """A model_version.created delivery exactly as mlflow/webhooks/delivery.py builds and signs it."""
    body = json.dumps({"entity": "model_version", "action": "created", "timestamp": "2026-11-22T00:00:00+00:00",
                       "data": {"name": name, "version": version, "source": "models:/m-1", "run_id": None, "tags": {}, "description": None}})
    delivery_id, stamp = str(uuid.uuid4()), str(int(time.time()) if timestamp is None else timestamp)
    headers = {"X-MLflow-Delivery-Id": delivery_id, "X-MLflow-Timestamp": stamp,
               "X-MLflow-Signature": sign(secret, delivery_id, stamp, body.encode())}
    return body.encode(), headers


def test_registering_a_version_produces_a_finished_run_linked_from_its_tags(webhook_server, service, webhook_for, logged_model, tiny_llama):
    client = _client(webhook_server)
    webhook_for(service)
    client.create_registered_model("rm-auto", tags={"rm_eval": "true"})
    client.create_registered_model("plain-classifier")  # not tagged: not a reward model for the service

    registered_at = time.monotonic()
    register("rm-auto", logged_model)
    tags = wait_for_outcome(client, "rm-auto", "1", timeout=180, service=service)
    run = client.get_run(tags["rm_eval.run_id"])
    while run.info.end_time is None:
        run = client.get_run(run.info.run_id)
    elapsed = time.monotonic() - registered_at
    print(f"\nregistration -> finished evaluation run: {elapsed:.1f}s")

    assert tags["rm_eval.status"] == "succeeded", service.log()
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.tags["rm_mlflow.model_name"] == "rm-auto" and run.data.tags["rm_mlflow.model_version"] == "1"
    expected = sample_metrics(tiny_llama)
    assert {key: run.data.metrics[key] for key in expected} == pytest.approx(expected, abs=1e-9)
    assert float(tags["rm_eval.score"]) == pytest.approx(run.data.metrics["rewardbench/score"], abs=1e-6)
    assert "rm_eval.error" not in tags
    assert service.job("rm-auto", "1")["origin"] == "webhook:model_version.created"
    wait_for(lambda: "rm_eval/leaderboard.md" in {a.path for a in client.list_artifacts(run.info.run_id, "rm_eval")},
             timeout=60, what="the leaderboard artifact", on_timeout=service.log)
    board = open(client.download_artifacts(run.info.run_id, "rm_eval/leaderboard.md", tempfile.mkdtemp())).read()
    assert f"| rm-auto | 1 |  | {run.data.metrics['rewardbench/score']:.4f}" in board  # the version's row, built from the registry

    register("plain-classifier", logged_model)
    job = wait_for(lambda: (found := service.job("plain-classifier", "1")) and found["status"] == "skipped" and found,
                   timeout=60, what="the untagged model's job to be skipped", on_timeout=service.log)
    assert "not selected as a reward model" in job["error"]
    assert not any(key.startswith("rm_eval.") for key in version_tags(client, "plain-classifier", "1"))
    assert _runs_for(client, "plain-classifier") == []


def test_forged_stale_and_replayed_deliveries_are_refused_and_create_no_job(service):
    def job_ids() -> list:
        return sorted(job["id"] for job in service.get("/jobs")["jobs"])  # ids only: earlier tests' jobs may still change state

    jobs_before = job_ids()
    forged = _delivery("rm-sec", "1", secret="not-the-secret")
    stale = _delivery("rm-sec", "1", timestamp=int(time.time()) - 301)
    from_the_future = _delivery("rm-sec", "1", timestamp=int(time.time()) + 301)
    body, headers = _delivery("rm-sec", "1")
    tampered = (body.replace(b"rm-sec", b"rm-evil"), headers)
    unsigned = (body, {key: value for key, value in headers.items() if key != "X-MLflow-Signature"})
    for case, (payload, sent_headers) in {"forged": forged, "stale": stale, "future": from_the_future, "tampered": tampered,
                                           "unsigned": unsigned}.items():
        status, answer = _post(service, payload, sent_headers)
        assert status == 401, (case, answer)
    assert job_ids() == jobs_before

    status, answer = _post(service, body, headers)
    assert (status, answer["status"]) == (202, "queued")
    status, answer = _post(service, body, headers)  # the very same delivery again
    assert status == 409 and "already received" in answer["error"]
    # the worker may already have skipped it (no such model): skipped jobs are listed apart, and it may move from one
    # list to the other between the two reads, so jobs are counted by id
    listed = {job["id"]: job for job in service.get("/jobs")["jobs"] + service.get("/jobs?status=skipped")["jobs"]}
    assert [job["model_uri"] for job in listed.values()].count("models:/rm-sec/1") == 1

    health = json.dumps(service.get("/healthz")) + json.dumps(service.get("/jobs"))
    assert SECRET not in health and SECRET not in service.log()


def test_duplicate_deliveries_and_five_concurrent_versions_are_each_evaluated_once(webhook_server, service, webhook_for, logged_model):
    client = _client(webhook_server)
    webhook_for(service, events=("model_version.created", "model_version_alias.created"))
    client.create_registered_model("rm-many", tags={"rm_eval": "true"})
    threads = [threading.Thread(target=register, args=("rm-many", logged_model)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = sorted(int(mv.version) for mv in client.search_model_versions("name='rm-many'"))
    assert versions == [1, 2, 3, 4, 5]
    # More deliveries for versions already queued: an alias event (MLflow sends it as a new delivery) and our own re-send.
    client.set_registered_model_alias("rm-many", "champion", "1")
    body, headers = _delivery("rm-many", "2")
    assert _post(service, body, headers)[1]["status"] in ("queued", "duplicate")

    outcomes = {version: wait_for_outcome(client, "rm-many", str(version), timeout=300, service=service) for version in versions}
    assert {tags["rm_eval.status"] for tags in outcomes.values()} == {"succeeded"}, service.log()
    runs = _runs_for(client, "rm-many")
    assert sorted(run.data.tags["rm_mlflow.model_version"] for run in runs) == ["1", "2", "3", "4", "5"]
    assert {run.info.run_id for run in runs} == {tags["rm_eval.run_id"] for tags in outcomes.values()}
    jobs = [service.job("rm-many", str(version)) for version in versions]
    assert [job["attempts"] for job in jobs] == [1] * 5
    wait_for(lambda: "(model_version_alias.created): duplicate job" in service.log(), timeout=30,
             what="the alias delivery to be answered as a duplicate", on_timeout=service.log)


def test_a_version_with_bad_model_files_fails_once_with_a_clear_message(webhook_server, service, webhook_for, tmp_path):
    import mlflow

    client = _client(webhook_server)
    webhook_for(service)
    mlflow.set_experiment("service-models")
    with mlflow.start_run() as run:
        (tmp_path / "weights.txt").write_text("these are not model weights")
        mlflow.log_artifact(str(tmp_path / "weights.txt"), "broken")
    client.create_registered_model("rm-broken", tags={"rm_eval": "true"})
    client.create_model_version("rm-broken", f"runs:/{run.info.run_id}/broken", run_id=run.info.run_id)

    tags = wait_for_outcome(client, "rm-broken", "1", timeout=120, service=service)
    assert tags["rm_eval.status"] == "failed"
    error = tags["rm_eval.error"]
    assert error.startswith("models:/rm-broken/1: cannot load the MLflow model") and "MLmodel" in error, error
    assert "\n" not in error
    job = service.job("rm-broken", "1")
    assert job["status"] == "failed" and job["attempts"] == 1
    assert client.get_run(tags["rm_eval.run_id"]).info.status == "FAILED"


def test_a_killed_service_resumes_the_job_and_finishes_it_once(webhook_server, webhook_for, logged_model, tmp_path):
    """SIGKILL while scoring, restart on the same state folder: the same run finishes, reusing the scores cached before the kill."""
    client = _client(webhook_server)
    slow = ServiceProcess(tmp_path / "state", webhook_server,
                          ["--dataset", "rmb", "--data_dir", str(SHARED_DATA), "--limit", "10", "--skip_invalid",
                           "--batch_size", "4", "--max_length", "1024", "--truncation", "left"]).start()
    try:
        webhook_for(slow)
        client.create_registered_model("rm-kill", tags={"rm_eval": "true"})
        register("rm-kill", logged_model)
        job = wait_for(lambda: slow.job("rm-kill", "1"), timeout=30, what="the job", on_timeout=slow.log)
        cache = slow.state_dir / "jobs" / f"job-{job['id']}" / "score_cache.jsonl"
        wait_for(lambda: cache.exists() and cache.read_text().count("\n") >= 200, timeout=180, interval=0.1,
                 what="scoring to be under way", on_timeout=slow.log)
        slow.kill()
        cached_before_kill = cache.read_text().count("\n")
        tags = version_tags(client, "rm-kill", "1")
        assert tags["rm_eval.status"] == "running"
        run_id = tags["rm_eval.run_id"]
        assert client.get_run(run_id).info.status == "RUNNING"

        slow.start()  # a new process, same queue
        tags = wait_for_outcome(client, "rm-kill", "1", timeout=240, service=slow)
        job = slow.job("rm-kill", "1")
    finally:
        slow.stop()
    assert tags["rm_eval.status"] == "succeeded", slow.log()
    assert tags["rm_eval.run_id"] == run_id
    runs = _runs_for(client, "rm-kill")
    assert [run.info.run_id for run in runs] == [run_id]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["throughput/cached_conversations"] >= cached_before_kill > 0
    assert math.isnan(run.data.metrics["throughput/examples_per_second"])  # there, as in a fresh run; it does not apply to a resumed one
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert "resuming 1 job(s)" in slow.log()


def test_a_deleted_queue_stops_the_service_and_a_restart_gives_one_finished_run_per_version(webhook_server, webhook_for, logged_model, tmp_path):
    """The queue file deleted mid-evaluation: the service notices, says so and exits; restart + backfill leave exactly one FINISHED run each."""
    client = _client(webhook_server)
    slow = ServiceProcess(tmp_path / "state", webhook_server,
                          ["--dataset", "rmb", "--data_dir", str(SHARED_DATA), "--limit", "6", "--skip_invalid",
                           "--batch_size", "4", "--max_length", "1024", "--truncation", "left"]).start()
    queue_file = slow.state_dir / "queue.sqlite"
    try:
        webhook_for(slow)
        client.create_registered_model("rm-lost", tags={"rm_eval": "true"})
        register("rm-lost", logged_model)  # v1: evaluated before the loss
        wait_for_outcome(client, "rm-lost", "1", timeout=240, service=slow)
        register("rm-lost", logged_model)  # v2: running when the queue file goes
        job = wait_for(lambda: slow.job("rm-lost", "2"), timeout=30, what="v2's job", on_timeout=slow.log)
        cache = slow.state_dir / "jobs" / f"job-{job['id']}" / "score_cache.jsonl"
        wait_for(lambda: cache.exists(), timeout=180, interval=0.1, what="v2's scoring to be under way", on_timeout=slow.log)
        queue_file.unlink()
        assert slow.process.wait(timeout=30) == 1, slow.log()  # it notices within a second or so, and exits
        assert "the queue file was deleted while the service ran" in slow.log()
        assert version_tags(client, "rm-lost", "2")["rm_eval.status"] == "running"
        register("rm-lost", logged_model)  # v3: registered while the service is down; its delivery finds no one

        slow.start()  # a new, empty queue: the registry says v2 is running, so it is re-queued and resumed on its run
        assert "re-queued 1 version(s)" in slow.log()
        from rm_mlflow.cli import main

        assert main(["watch", "--once", "--backfill", "--state_dir", str(slow.state_dir), "--tracking_uri", webhook_server,
                     "--dataset", "rmb", "--data_dir", str(SHARED_DATA)]) == 0  # beside serve: queues v1, v3 for it
        outcomes = {version: wait_for_outcome(client, "rm-lost", version, timeout=300, service=slow) for version in ("1", "2", "3")}
    finally:
        slow.stop()
    runs = _runs_for(client, "rm-lost")
    by_version = {}
    for run in runs:
        by_version.setdefault(run.data.tags["rm_mlflow.model_version"], []).append(run)
    assert sorted(by_version) == ["1", "2", "3"], slow.log()
    for version, version_runs in by_version.items():
        assert [run.info.status for run in version_runs] == ["FINISHED"], (version, slow.log())
        assert outcomes[version]["rm_eval.status"] == "succeeded" and outcomes[version]["rm_eval.run_id"] == version_runs[0].info.run_id


def _peak_rss_mb(pid: int) -> float:
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024


def _chunked_post(service: ServiceProcess, total_bytes: int) -> bytes:
    """An unsigned ``Transfer-Encoding: chunked`` POST with no Content-Length: sent until the service stops reading; its answer."""
    import socket

    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(total_bytes // len(chunk)):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the service answered and closed: it did not read the rest
        answer = b""
        try:
            while not answer.endswith(b"}") and (part := sock.recv(65536)):
                answer += part
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def test_the_receiver_stops_reading_at_the_limit_and_checks_every_field(service):
    peak_before = _peak_rss_mb(service.process.pid)
    answer = _chunked_post(service, 100 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert _peak_rss_mb(service.process.pid) - peak_before < 20  # before: the whole body was held in memory

    def signed(payload: dict) -> tuple[int, dict]:
        body = json.dumps(payload).encode()
        delivery_id, stamp = str(uuid.uuid4()), str(int(time.time()))
        return _post(service, body, {"X-MLflow-Delivery-Id": delivery_id, "X-MLflow-Timestamp": stamp,
                                     "X-MLflow-Signature": sign(SECRET, delivery_id, stamp, body)})

    status, answer = signed({"entity": "model_version", "action": "created", "data": {"name": "rm-int", "version": 1}})
    assert status == 400 and "data.version must be a version number as a string" in answer["detail"]
    status, answer = signed({"entity": "x" * 5000, "action": "created", "data": {}})
    assert status == 400 and "short lower-case names" in answer["detail"]
    assert service.job("rm-int", "1") is None


def test_webhook_commands_refuse_a_duplicate_list_replace_delete_and_the_test_delivery_makes_no_job(webhook_server, service, webhook_for,
                                                                                                    capsys):
    from rm_mlflow.cli import main

    hook = webhook_for(service)  # with --test: MLflow's example delivery is acknowledged
    assert service.job("example_model", "1") is None
    url, server = f"{service.url}/webhook", ["--tracking_uri", webhook_server]
    assert main(["webhook", "create", "--url", url, "--name", "another", *server]) == 2
    assert f"webhook {hook.webhook_id} ({hook.name}) already delivers to {url}: pass --replace" in capsys.readouterr().err
    assert main(["webhook", "list", *server]) == 0
    listed = capsys.readouterr().out
    assert listed.count(url) == 1 and hook.webhook_id in listed and SECRET not in listed
    assert main(["webhook", "create", "--url", url, "--name", hook.name, "--replace", *server]) == 0
    replacement = capsys.readouterr().out.split()[2]
    assert [found.webhook_id for found in _client(webhook_server).list_webhooks() if found.url == url] == [replacement] != [hook.webhook_id]
    assert main(["webhook", "delete", replacement, *server]) == 0 and url in capsys.readouterr().out
    assert main(["webhook", "delete", replacement, *server]) == 2
    assert f"no webhook has id or name {replacement!r}" in capsys.readouterr().err


def test_an_http_receiver_refused_by_a_default_mlflow_server_names_the_server_settings(mlflow_server, monkeypatch, capsys):
    from rm_mlflow.cli import main

    monkeypatch.setenv("RM_MLFLOW_WEBHOOK_SECRET", SECRET)  # the session's plain server: MLflow's default webhook settings
    assert main(["webhook", "create", "--url", "http://127.0.0.1:9/webhook", "--tracking_uri", mlflow_server]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "Invalid webhook URL scheme: 'http'" in error
    assert "MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https" in error and "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY" in error


def test_job_views_need_the_status_token_and_health_names_no_model(service):
    for token in (None, "wrong-token"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            service.get("/jobs", token=token)
        assert refused.value.code == 401
    health = service.get("/healthz", token=None)
    assert set(health) == {"status", "jobs", "worker"}
    assert "selection" in service.get("/status")


def test_a_registered_dpo_version_is_evaluated_by_the_service_with_its_logged_kind(webhook_server, service, webhook_for, tiny_causal_lms):
    import mlflow

    import rm_mlflow
    from rm_mlflow import DataOptions, ScoringSettings
    from rm_mlflow.benchmarking import score_reward_model

    client = _client(webhook_server)
    webhook_for(service)
    mlflow.set_experiment("service-models")
    with mlflow.start_run():
        reference = rm_mlflow.log_model(str(tiny_causal_lms["reference"]), "ref", registered_model_name="rm-dpo-ref")
    reference_uri = f"models:/rm-dpo-ref/{reference.registered_model_version}"
    client.create_registered_model("rm-dpo", tags={"rm_eval": "true"})
    with mlflow.start_run():
        rm_mlflow.log_model(str(tiny_causal_lms["policy"]), "rm", registered_model_name="rm-dpo",
                            settings={"model_kind": "dpo", "ref_model": reference_uri})
    tags = wait_for_outcome(client, "rm-dpo", "1", timeout=180, service=service)
    assert tags["rm_eval.status"] == "succeeded", service.log()
    run = client.get_run(tags["rm_eval.run_id"])
    assert run.data.tags["rm_mlflow.model_kind"] == "dpo" and run.data.params["scoring.ref_model"] == reference_uri
    direct = score_reward_model(str(tiny_causal_lms["policy"]), ["rewardbench"], data=DataOptions(data_dir=str(SAMPLE_DATA)),
                                   settings=ScoringSettings.from_mapping(dict(ref_model=str(tiny_causal_lms["reference"]))), progress=False)
    expected = {key: value for key, value in direct.metrics().items() if not key.startswith("throughput/")}
    # Accuracies are exact; score statistics are float32 log-prob sums whose last bits follow the batch layout.
    scores = {key for key in expected if key.rsplit("/", 1)[-1].startswith(("chosen_score", "rejected_score", "margin_"))}
    assert {key: run.data.metrics[key] for key in expected if key not in scores} == pytest.approx(
        {key: expected[key] for key in expected if key not in scores}, abs=1e-9)
    assert {key: run.data.metrics[key] for key in scores} == pytest.approx({key: expected[key] for key in scores}, rel=1e-5, abs=1e-6)


def test_a_registered_endpoint_judge_is_evaluated_by_the_service_without_its_key(webhook_server, service, webhook_for, judge_server):
    import mlflow

    import rm_mlflow

    client = _client(webhook_server)
    webhook_for(service)
    mlflow.set_experiment("service-models")
    client.create_registered_model("rm-judge", tags={"rm_eval": "true"})
    settings = {"model_kind": "generative", "judge_endpoint": judge_server.url, "judge_api_key_env": JUDGE_KEY_ENV, "max_new_tokens": 24}
    with mlflow.start_run():
        rm_mlflow.log_model(str(judge_server.model_dir), "judge", registered_model_name="rm-judge", settings=settings)  # a name, no weights
    served = judge_server.completions_served()
    tags = wait_for_outcome(client, "rm-judge", "1", timeout=180, service=service)
    assert tags["rm_eval.status"] == "succeeded", service.log()
    run = client.get_run(tags["rm_eval.run_id"])
    assert run.data.tags["rm_mlflow.model_kind"] == "generative" and run.data.params["model.backend"] == "endpoint"
    assert judge_server.completions_served() - served == run.data.metrics["rewardbench/judge/judgments"] == 25
    assert os.environ[JUDGE_KEY_ENV] not in service.log()
