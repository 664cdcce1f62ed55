"""The leaderboard of a registered model's versions, read from the registry and LoggedModel metrics on a real MLflow server."""

from __future__ import annotations

import csv
import io
import json

from mlflow import MlflowClient

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.cli import main
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.tracking.leaderboard import build_leaderboard
from rm_mlflow.tracking.run import TrackingTarget
from tests.helpers import write_jsonl

ROWS = [{"prompt": f"What is {i} + {i}?", "chosen": f"It is {2 * i}.", "rejected": f"It is {2 * i + 1}."} for i in range(10)]


def _evaluate(mlflow_server, uri, folder, rows):
    data = folder / "data" / "prefs.jsonl"
    data.parent.mkdir(parents=True)
    write_jsonl(data, rows)
    outcome = run_evaluation(EvaluationRequest(model=uri, datasets=[str(data)], output_dir=folder / "out", progress=False,
                                               intervals=IntervalOptions(resamples=50)),
                             TrackingTarget(tracking_uri=mlflow_server, experiment="leaderboard"))
    return outcome


def test_versions_by_benchmark_and_data_digest_with_their_aliases(mlflow_server, tiny_llama, tiny_gpt2, tmp_path, capsys):
    import mlflow

    import rm_mlflow

    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_experiment("leaderboard-models")
    for folder in (tiny_llama, tiny_gpt2, tiny_llama):  # v3 is registered and never evaluated
        with mlflow.start_run():
            rm_mlflow.log_model(str(folder), "rm", registered_model_name="board-rm", settings={"truncation": "left", "max_length": 256})
    client = MlflowClient(mlflow_server)
    client.set_registered_model_alias("board-rm", "champion", "1")
    changed = [dict(row) for row in ROWS]
    changed[3]["rejected"] = "It is seven."
    first = _evaluate(mlflow_server, "models:/board-rm/1", tmp_path / "v1", ROWS)
    second = _evaluate(mlflow_server, "models:/board-rm@champion", tmp_path / "v1-again", ROWS)  # v1 again, later: this one shows
    other = _evaluate(mlflow_server, "models:/board-rm/2", tmp_path / "v2", ROWS)
    other_data = _evaluate(mlflow_server, "models:/board-rm/2", tmp_path / "v2-changed", changed)

    board = build_leaderboard("board-*", client)
    digests = [outcome.report.benchmarks["prefs"].digest for outcome in (first, other_data)]
    assert [(column.benchmark, column.digest) for column in board.columns] == [("prefs", digests[0]), ("prefs", digests[1])]
    labels = board.labels()
    assert list(labels.values()) == [f"prefs@{digests[0][:8]}", f"prefs@{digests[1][:8]}"]  # never one column for two data digests
    assert [(row.version, row.aliases) for row in board.rows] == [("1", ("champion",)), ("2", ())]  # v3 was never evaluated
    v1, v2 = board.rows
    assert v1.cells[board.columns[0]].run_id == second.run_id and board.columns[1] not in v1.cells
    assert v2.cells[board.columns[0]].score == other.metrics["prefs/score"] and v2.cells[board.columns[1]].score == other_data.metrics["prefs/score"]
    cell = v2.cells[board.columns[1]]
    assert (cell.low, cell.high) == (other_data.metrics["prefs/score_ci_low"], other_data.metrics["prefs/score_ci_high"])

    capsys.readouterr()  # MLflow's "View run ..." lines of the runs above
    assert main(["leaderboard", "board-rm", "--format", "json", "--tracking_uri", mlflow_server]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["aliases"], r[labels[board.columns[0]]]) for r in records] == [
        ("1", "champion", second.metrics["prefs/score"]), ("2", "", other.metrics["prefs/score"])]
    assert main(["leaderboard", "board-rm", "--format", "csv", "--tracking_uri", mlflow_server]) == 0
    assert [row["version"] for row in csv.DictReader(io.StringIO(capsys.readouterr().out))] == ["1", "2"]
    assert main(["leaderboard", "board-rm", "--format", "markdown", "--tracking_uri", mlflow_server]) == 0
    markdown = capsys.readouterr().out.splitlines()
    assert markdown[0] == f"| model | version | aliases | {labels[board.columns[0]]} | {labels[board.columns[1]]} |"
    assert markdown[2].startswith(f"| board-rm | 1 | champion | {second.metrics['prefs/score']:.4f} [") and markdown[2].endswith(" | - |")
    assert main(["leaderboard", "no-such-rm", "--tracking_uri", mlflow_server]) == 2
    assert "no registered model named 'no-such-rm'" in capsys.readouterr().err
