"""Every row of ``docs/bad-inputs.md`` run as written: one ``rm-mlflow: error:`` line, the exit status it states, no traceback.

The document is the table users read; this test is what keeps it true.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex

import pytest

from tests.helpers import REPO_ROOT, SAMPLE_DATA, free_port, vl_row, write_jsonl, write_vl_parquet

TABLE = REPO_ROOT / "docs" / "bad-inputs.md"
ROW = re.compile(
    r"^\| (?P<input>[^|]+) \| `(?P<command>[^`]+)` \| (?P<exit>\d+) \| (?P<found>before weights|first forward pass) \| `(?P<message>.+)` \|$"
)


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders, leaving other braces (``{role, content}``) alone."""
    return re.sub(r"\{(\w+)\}", lambda match: values.get(match.group(1), match.group(0)), text)


def table_rows() -> list[dict[str, str]]:
    rows = [match.groupdict() for line in TABLE.read_text().splitlines() if (match := ROW.match(line))]
    table = [line for line in TABLE.read_text().splitlines() if line.startswith("| ") and not line.startswith(("| bad input", "|---"))]
    assert len(rows) == len(table) >= 20, "docs/bad-inputs.md has rows this test cannot read"
    return rows


@pytest.fixture(scope="module")
def placeholders(tmp_path_factory, tiny_llama, shared_data, tiny_causal_lms, tiny_custom_head) -> dict[str, str]:
    import shutil

    from rm_mlflow.tiny_models import build_tiny_reward_model, draw_tiny_image

    root = tmp_path_factory.mktemp("bad-inputs")
    shutil.copytree(tiny_causal_lms["policy"], root / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (root / "no-tokenizer" / name).unlink(missing_ok=True)
    build_tiny_reward_model(root / "foreign-ref", corpus=["completely other words " * 50], head="causal-lm")
    (root / "binary.jsonl").write_bytes(bytes(range(256)) * 64)
    (root / "latin1.jsonl").write_bytes(b'{"prompt": "Q", "chosen": "A", "rejected": "B"}\n{"prompt": "Caf\xe9?", "chosen": "A", "rejected": "B"}\n')
    (root / "garbage.parquet").write_bytes(b"PAR1 this is not parquet")
    write_jsonl(root / "prefs.jsonl", [{"prompt": "Q", "chosen": "A", "rejected": "B"}, {"prompt": "Q", "chosen": ["x"], "rejected": "B"}])
    write_jsonl(root / "huge.jsonl", [{"prompt": "Summarize.", "chosen": "word " * 4_000_000, "rejected": "No."}])
    write_jsonl(root / "long.jsonl", [{"prompt": "Summarize.", "chosen": "word " * 40_000, "rejected": "No."}])
    write_jsonl(root / "medium.jsonl", [{"prompt": "Summarize.", "chosen": "word " * 3_000, "rejected": "No."}])
    write_jsonl(root / "surrogate.jsonl", [{"prompt": "Check \ud800 this.", "chosen": "Yes.", "rejected": "No."}])
    (root / "a-file").write_text("not a folder")
    (root / "judgebench-tie" / "judgebench").mkdir(parents=True)
    write_jsonl(root / "judgebench-tie" / "judgebench" / "dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl",
                [{"pair_id": "p1", "source": "livecodebench", "question": "Q", "response_A": "A", "response_B": "B", "label": "A=B"}])
    (root / "rm-bench-short" / "rm-bench").mkdir(parents=True)
    (root / "rm-bench-short" / "rm-bench" / "chat_filtered.json").write_text(
        '[{"id": 1, "prompt": "Q", "subset": "alpacaeval", "chosen": ["a", "b"], "rejected": ["c", "d", "e"]}]')
    write_vl_parquet([vl_row("RLAIF-V_1", {"bytes": None, "path": "gone.png"})], root / "vl-missing" / "vl-rewardbench" / "test.parquet")
    write_vl_parquet([vl_row("RLAIF-V_1", {"bytes": b"\x89PNG\r\n\x1a\n" + bytes(64), "path": "x.png"})],
                     root / "vl-broken" / "vl-rewardbench" / "test.parquet")
    write_vl_parquet([vl_row("RLAIF-V_1", {"bytes": None, "path": "huge.png"})], root / "vl-huge" / "vl-rewardbench" / "test.parquet")
    write_vl_parquet([vl_row("RLAIF-V_1", {"bytes": draw_tiny_image(None, hue="red", seed=1), "path": "a.png"})],
                     root / "vl-good" / "vl-rewardbench" / "test.parquet")
    with (root / "vl-huge" / "vl-rewardbench" / "huge.png").open("wb") as huge:  # sparse: refused by its size, never read
        huge.truncate(40 * 2**20)
    os.mkfifo(root / "pipe.jsonl")
    (root / "loop.jsonl").symlink_to(root / "loop.jsonl")
    return {
        "model": str(tiny_llama), "sample": str(SAMPLE_DATA), "shared": str(shared_data), "tmp": str(root),
        "down": f"http://127.0.0.1:{free_port()}", "policy": str(tiny_causal_lms["policy"]), "custom": str(tiny_custom_head),
    }


class WeightsLoaded(BaseException):
    """Raised where weights would load, for a row documented as found before that."""


class RunOpened(BaseException):
    """Raised where an MLflow run would be created: no bad input may get that far."""


@pytest.mark.parametrize("row", table_rows(), ids=lambda row: row["input"].strip())
def test_bad_input_gets_one_line(row, placeholders, monkeypatch, tmp_path):
    import mlflow
    from transformers import PreTrainedModel

    from rm_mlflow.cli import main
    from rm_mlflow.tracking.run import TrackedRun

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the tracking-server rows fail at once
    argv = shlex.split(fill(row["command"], placeholders))
    assert argv[0] == "rm-mlflow"
    if argv[1] == "evaluate" and "--output" not in argv:
        argv += ["--output", str(tmp_path / "out")]
    # Each row proves where it is caught: no weights for "before weights" rows, and never an MLflow run.
    if row["found"] == "before weights":
        monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(lambda cls, *a, **k: (_ for _ in ()).throw(WeightsLoaded(cls))))
    if "--mlflow" in argv and "{down}" not in row["command"]:
        monkeypatch.setattr(TrackedRun, "open", classmethod(lambda cls, *a, **k: (_ for _ in ()).throw(RunOpened())))
    stderr = io.StringIO()
    previous_uri = mlflow.get_tracking_uri()
    with contextlib.redirect_stderr(stderr):
        try:
            code = main(argv[1:])
        except SystemExit as exit_:  # argparse
            code = exit_.code
        finally:
            mlflow.set_tracking_uri(previous_uri)
    text = stderr.getvalue()
    assert "Traceback" not in text, text
    last = text.strip().splitlines()[-1]
    expected = re.escape(fill(row["message"], placeholders)).replace(re.escape("…"), ".*")
    assert re.fullmatch(expected, last), f"\n{last}\n!~\n{row['message']}"
    assert code == int(row["exit"])
