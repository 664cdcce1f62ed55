"""Local preference and instruction files in every accepted format, and malformed input errors."""

import json
from pathlib import Path

import pandas as pd
import pytest

from rm_mlflow.data import DataOptions, load_benchmark
from rm_mlflow.errors import DataValidationError
from tests.helpers import write_jsonl

PAIR = {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_every_file_format_loads(tmp_path: Path, suffix: str):
    rows = [dict(PAIR, id=i) for i in range(3)]
    path = tmp_path / f"prefs{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, rows)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        frame = pd.DataFrame(rows)
        frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    loaded = load_benchmark(str(path))
    assert loaded.benchmark.name == "prefs" and len(loaded.examples) == 3
    assert loaded.examples[2].id == "2" and loaded.examples[0].chosen == ("4",)


def test_conversation_form_like_hf_preference_datasets(tmp_path: Path):
    user = {"role": "user", "content": "Hi"}
    rows = [{"chosen": [user, {"role": "assistant", "content": "Hello!"}], "rejected": [user, {"role": "assistant", "content": "Go away"}]}]
    loaded = load_benchmark(str(write_jsonl(tmp_path / "conv.jsonl", rows)))
    example = loaded.examples[0]
    assert example.prompt == (user,) and example.chosen == ("Hello!",) and example.rejected == ("Go away",)


def test_question_column_and_instruction_rows(tmp_path: Path):
    rows = [
        {"question": "Capital of Peru?", "chosen": "Lima", "rejected": "Quito", "subset": "geo"},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
    ]
    loaded = load_benchmark(str(write_jsonl(tmp_path / "mixed.jsonl", rows)))
    assert [e.kind for e in loaded.examples] == ["pairwise", "instruction"]
    assert loaded.examples[0].subset == "geo" and loaded.examples[1].subset == "mixed"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"prompt": "Q", "chosen": "A"}, r"bad\.jsonl, row 2, field 'rejected': missing"),
        ({"prompt": "Q", "chosen": "", "rejected": "B"}, r"row 2, field 'chosen': empty string"),
        ({"prompt": "Q", "chosen": 42, "rejected": "B"}, r"row 2, field 'chosen': expected a string, got int"),
        ({"prompt": 7, "chosen": "A", "rejected": "B"}, r"row 2, field 'prompt': expected a non-empty list"),
        ({"prompt": [{"role": "robot", "content": "x"}], "chosen": "A", "rejected": "B"}, r"field 'prompt\[0\]\.role': unknown role 'robot'"),
        ({"text": "nothing usable"}, r"row 2: expected 'chosen' and 'rejected'"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path: Path, row: dict, expected: str):
    path = write_jsonl(tmp_path / "bad.jsonl", [PAIR, row])
    with pytest.raises(DataValidationError, match=expected):
        load_benchmark(str(path))
    loaded = load_benchmark(str(path), DataOptions(skip_invalid=True))
    assert len(loaded.examples) == 1 and loaded.skipped == 1


def test_invalid_json_line_and_unknown_rewardbench_subset(tmp_path: Path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(PAIR) + "\n{not json\n")
    with pytest.raises(DataValidationError, match=r"broken\.jsonl, row 2: invalid JSON"):
        load_benchmark(str(path))
    row = {"prompt": "Q", "chosen": "A", "rejected": "B", "subset": "made-up", "id": 1}
    write_jsonl(tmp_path / "reward-bench" / "filtered.jsonl", [row])
    with pytest.raises(DataValidationError, match=r"filtered\.jsonl, row 1, field 'subset': unknown RewardBench subset 'made-up'"):
        load_benchmark("rewardbench", DataOptions(data_dir=tmp_path))
