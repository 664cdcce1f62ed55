"""Generative judges: rewardbench's prompts and verdicts, seeded orders, local and endpoint backends, resuming, and the key kept secret."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from rm_mlflow import DataOptions, ScoringSettings
from rm_mlflow.benchmarking import score_reward_model
from rm_mlflow.judges.backends import JudgeEndpointError
from rm_mlflow.judges.backends.endpoint import EndpointBackend
from tests.helpers import JUDGE_KEY_ENV, REPO_ROOT, SAMPLE, SAMPLE_DATA, write_jsonl

FIXTURE = REPO_ROOT / "tests" / "data" / "judge_parity.json"
SHORT = {"max_new_tokens": 24}  # the tiny judge's answers are 11 tokens; a random one's are cut here


def _parity_module():
    spec = importlib.util.spec_from_file_location("judge_prompt_parity", REPO_ROOT / "benchmarks" / "judge_prompt_parity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _judge(model, datasets=("rewardbench",), data=SAMPLE, **settings):
    return score_reward_model(str(model), list(datasets), data=data, model_kind="generative",
                                 settings=ScoringSettings.from_mapping(SHORT | settings), progress=False)


def test_prompts_and_verdicts_are_rewardbenchs_own_on_real_rows(shared_data):
    """The fixture holds what rewardbench 0.1.4's generative.py / generative_v2.py built and parsed (benchmarks/judge_prompt_parity.py)."""
    parity = _parity_module()
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    cases = parity.build_cases(shared_data)
    assert [(c["kind"], c["source"], c["outputs"]) for c in cases] == [(c["kind"], c["source"], c["outputs"]) for c in recorded["cases"]]
    assert {c["kind"] for c in cases} == {"pair", "four", "rating", "ties"} and any(len(c["prompt"]) == 3 for c in cases)  # two-turn pairs too
    for case, theirs in zip(cases, recorded["rewardbench"], strict=True):
        ours = parity.ours(case)
        assert parity.messages_digest(ours["messages"]) == theirs["messages_sha256"], case["source"]
        assert ours["verdicts"] == theirs["verdicts"], case["source"]
    malformed = sum(v in ("error", -1) for theirs in recorded["rewardbench"] for v in theirs["verdicts"])
    assert malformed >= 40  # the outputs include many without a verdict


def test_seeded_order_repeats_exactly_and_credit_follows_the_verdict(tiny_judge):
    first, again, other_seed = (_judge(tiny_judge, judge_seed=seed) for seed in (0, 0, 7))
    table = first.benchmarks["rewardbench"].examples
    pd.testing.assert_frame_equal(table[["judge_orders", "judge_verdicts", "judge_outputs"]],
                                  again.benchmarks["rewardbench"].examples[["judge_orders", "judge_verdicts", "judge_outputs"]])
    assert list(table["judge_orders"]) != list(other_seed.benchmarks["rewardbench"].examples["judge_orders"])
    orders = {order[0] for order in table["judge_orders"]}
    assert orders == {"chosen,rejected", "rejected,chosen"}  # both orders drawn over 25 rows
    for row in table.itertuples():
        verdict, order = row.judge_verdicts[0], row.judge_orders[0]
        expected = 0.5 if verdict == "error" else float((verdict == "A") == order.startswith("chosen"))
        assert row.correct == expected, row.id
    metrics = first.metrics()
    unparsed = sum(v[0] == "error" for v in table["judge_verdicts"])
    assert metrics["rewardbench/judge/unparsed"] == unparsed and metrics["rewardbench/judge/judgments"] == 25
    assert first.throughput["scored_conversations"] == 25  # one judgment per pair


def test_both_orders_expose_the_judges_position_bias(tiny_judge):
    report = _judge(tiny_judge, judge_orders="both")
    table = report.benchmarks["rewardbench"].examples
    assert (table["judge_judgments"] == 2).all()
    assert {tuple(orders) for orders in table["judge_orders"]} == {("chosen,rejected", "rejected,chosen")}
    both_parsed = table[[("error" not in verdicts) for verdicts in table["judge_verdicts"]]]
    assert len(both_parsed) >= 15 and (both_parsed["correct"] == 0.5).all()  # A wins once for each side: a pure position bias
    metrics = report.metrics()
    assert metrics["rewardbench/position_consistency"] == 0.0
    assert metrics["rewardbench/judge/position_consistency/alpacaeval-easy"] == 0.0
    assert "position consistency 0.0000" in report.benchmarks["rewardbench"].notes[0]


def test_rewardbench2_four_answers_and_ties_rated_with_their_own_prompt(tiny_judge, tmp_path):
    sample = [json.loads(line) for line in (SAMPLE_DATA / "reward-bench" / "filtered.jsonl").read_text().splitlines()][:4]
    others = [s["rejected"] for s in sample[:2]]
    rows = [{"id": str(i), "prompt": row["prompt"], "chosen": [row["chosen"]], "rejected": [row["rejected"], *others], "subset": "Focus"}
            for i, row in enumerate(sample[1:4])]
    first = sample[0]
    rows += [{"id": "ref:9", "prompt": first["prompt"], "chosen": [first["chosen"]], "rejected": [first["rejected"]], "subset": "Ties"},
             {"id": "tied:9", "prompt": first["prompt"], "chosen": [first["chosen"], sample[1]["chosen"]], "rejected": [first["rejected"]],
              "subset": "Ties"}]
    write_jsonl(tmp_path / "reward-bench-2" / "test.jsonl", rows)
    report = _judge(tiny_judge, ["rewardbench2"], data=DataOptions(data_dir=tmp_path))
    table = report.benchmarks["rewardbench2"].examples.set_index("id")
    for example_id in ("0", "1", "2"):
        order, verdict = table.loc[example_id, "judge_orders"][0].split(","), table.loc[example_id, "judge_verdicts"][0]
        assert len(order) == 4 and sorted(order) == ["chosen", "rejected 1", "rejected 2", "rejected 3"]
        expected = 0.25 if verdict == "error" else float(order["ABCD".index(verdict)] == "chosen")
        assert table.loc[example_id, "correct"] == expected
    ties = table.loc["tied:9"]
    assert ties["judge_judgments"] == 3 and ties["judge_verdicts"] == ["8", "8", "8"]  # every answer rated
    assert list(ties["chosen_scores"]) == [8.0, 8.0] and list(ties["rejected_scores"]) == [8.0]
    assert "Ties" in report.benchmarks["rewardbench2"].scores.subsets


def test_ratings_mode_counts_an_equal_rating_as_a_tie(tiny_judge):
    report = _judge(tiny_judge, judge_mode="ratings")
    table = report.benchmarks["rewardbench"].examples
    rated = [verdicts == ["8", "8"] for verdicts in table["judge_verdicts"]]
    assert sum(rated) >= 10 and (table["correct"] == 0.5).all()  # an equal rating and a missing one are both worth 0.5
    assert list(table["judge_ties"]) == [int(both) for both in rated]
    assert report.metrics()["rewardbench/judge/ties"] == sum(rated)


def test_endpoint_judge_answers_as_the_local_one_and_its_key_reaches_no_record(tracking, tiny_judge, judge_server, tmp_path,
                                                                               tmp_path_factory, capfd):
    from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
    from rm_mlflow.tracking.run import TrackingTarget

    local = _judge(tiny_judge).benchmarks["rewardbench"].examples
    settings = SHORT | {"judge_endpoint": judge_server.url, "judge_api_key_env": JUDGE_KEY_ENV}
    request = EvaluationRequest(model=str(tiny_judge), datasets=["rewardbench"], data=SAMPLE, settings=settings, model_kind="generative",
                                output_dir=tmp_path / "out", progress=False, log_traces=3)
    outcome = run_evaluation(request, TrackingTarget(experiment="judges"))
    remote = outcome.report.benchmarks["rewardbench"].examples
    assert list(remote["judge_outputs"]) == list(local["judge_outputs"]) and list(remote["correct"]) == list(local["correct"])
    assert list(remote["judge_prompt_tokens"]) == list(local["judge_prompt_tokens"])  # the server applied the same chat template
    assert outcome.report.model["backend"] == "endpoint" and outcome.report.model["endpoint"] == judge_server.url + "/chat/completions"

    import mlflow

    run = mlflow.MlflowClient().get_run(outcome.run_id)
    assert run.data.tags["rm_mlflow.model_kind"] == "generative" and run.data.params["scoring.judge_api_key_env"] == JUDGE_KEY_ENV
    key = os.environ[JUDGE_KEY_ENV].encode()
    printed = capfd.readouterr()
    assert key not in (printed.out + printed.err).encode()
    leaks = [path for path in tmp_path_factory.getbasetemp().rglob("*")
             if path.is_file() and judge_server.root not in path.parents and key in path.read_bytes()]
    assert leaks == []  # the MLflow store (sqlite and artifacts), results folders, logs


def test_a_killed_evaluation_does_not_ask_the_judge_again(judge_server, tiny_judge, shared_data, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", str(tiny_judge), "--model_kind", "generative",
               "--judge_endpoint", judge_server.url, "--judge_concurrency", "1", "--max_new_tokens", "24", "--dataset", "rmb",
               "--data_dir", str(shared_data), "--limit", "2", "--skip_invalid", "--output", str(out), "--quiet", "--bootstrap", "0"]
    served_before = judge_server.completions_served()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cache = out / "score_cache.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and (not cache.exists() or cache.read_text().count("\n") < 30):
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    kept = sum(1 for line in cache.read_text().splitlines() if line.endswith("}"))
    asked_first = judge_server.completions_served() - served_before
    assert 30 <= kept <= asked_first

    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    throughput = json.loads((out / "results.json").read_text())["throughput"]
    asked_again = judge_server.completions_served() - served_before - asked_first
    assert throughput["cached_conversations"] == kept
    assert asked_again == throughput["scored_conversations"] == throughput["distinct_conversations"] - kept
    print(f"\nkilled after {kept} judgments kept ({asked_first} asked); the rerun asked {asked_again} of "
          f"{throughput['distinct_conversations']:.0f} distinct judgments")


def _flaky_endpoint(calls: list[dict]) -> type[http.server.BaseHTTPRequestHandler]:
    """A handler that records each request in ``calls`` (this server's own list) and answers 429, then 503, then a real-shaped completion;
    401 for the wrong key."""

    class FlakyEndpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append({"auth": self.headers.get("Authorization"), "body": body})
            if self.headers.get("Authorization") != "Bearer right-key":
                return self._send(401, {"error": {"message": "invalid api key"}})
            if len(calls) == 1:
                return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
            if len(calls) == 2:
                return self._send(503, {"error": "overloaded"})
            answer = {"choices": [{"message": {"role": "assistant", "content": "[[B]]"}}], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
            return self._send(200, answer)

        def _send(self, status, document, headers=None):
            data = json.dumps(document).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return FlakyEndpoint


def test_endpoint_retries_429_and_5xx_and_refuses_a_bad_key_in_one_line(monkeypatch):
    calls: list[dict] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _flaky_endpoint(calls))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.setenv("FLAKY_KEY", "right-key")
        backend = EndpointBackend("judge", ScoringSettings.from_mapping(dict(judge_endpoint=url, judge_api_key_env="FLAKY_KEY")), first_delay=0.01)
        answers = {}
        backend.generate([({"role": "user", "content": "A or B?"},)], lambda i, g: answers.setdefault(i, g))
        assert answers[0].text == "[[B]]" and answers[0].prompt_tokens == 7 and len(calls) == 3
        assert calls[-1]["body"] == {"model": "judge", "messages": [{"role": "user", "content": "A or B?"}], "max_tokens": 2048,
                                                   "temperature": 0}
        monkeypatch.setenv("FLAKY_KEY", "wrong-key")
        backend = EndpointBackend("judge", ScoringSettings.from_mapping(dict(judge_endpoint=url, judge_api_key_env="FLAKY_KEY")), first_delay=0.01)
        with pytest.raises(JudgeEndpointError) as refused:
            backend.generate([({"role": "user", "content": "A or B?"},)], lambda i, g: None)
        message = str(refused.value)
        assert "HTTP 401" in message and "invalid api key" in message and "wrong-key" not in message and "\n" not in message
    finally:
        server.shutdown()


def test_judge_options_are_refused_before_anything_loads(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    cases = [
        (["--judge_endpoint", "http://user:secret@127.0.0.1:9/v1"], "must not carry credentials"),
        (["--judge_endpoint", "http://127.0.0.1:9/v1", "--judge_api_key_env", "NOT_SET_KEY"], "NOT_SET_KEY (--judge_api_key_env) is not set"),
        (["--judge_endpoint", "http://127.0.0.1:9/v1", "--judge_api_key_env", "sk-live-1234"], "NAME of an environment variable"),
        (["--model_kind", "generative", "--judge_backend", "endpoint"], "needs --judge_endpoint"),
    ]
    for extra, expected in cases:
        result = subprocess.run([sys.executable, "-m", "rm_mlflow.cli", "evaluate", "--model", "some-judge", "--data_dir", str(SAMPLE_DATA),
                                 "--output", str(tmp_path / "out"), *extra], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "sk-live-1234" not in result.stderr and "secret" not in result.stderr
    assert not (tmp_path / "out").exists()
