"""Over-long conversations: the model's position limit and max_length both apply, memory stays bounded on absurd rows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rm_mlflow.scoring import ScoringSettings, load_reward_model
from rm_mlflow.scoring.lengths import TooLongAt, longest_token_chars
from tests.helpers import REPO_ROOT, write_jsonl

# Runs the CLI and reports the process's peak resident memory on its last stderr line.
MEASURED_CLI = (
    "import resource, sys\nfrom rm_mlflow.cli import main\ncode = main(sys.argv[1:])\n"
    "print(f'MAXRSS_MB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}', file=sys.stderr)\nsys.exit(code)"
)


def _cli(*args: str) -> tuple[int, str, str, float]:
    result = subprocess.run([sys.executable, "-c", MEASURED_CLI, *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    lines = result.stderr.strip().splitlines()
    peak_mb = float(lines[-1].split()[1])
    return result.returncode, result.stdout, "\n".join(lines[:-1]), peak_mb


@pytest.fixture(scope="module")
def huge_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("long-rows")
    return {
        "20mb": write_jsonl(root / "huge.jsonl", [{"prompt": "Summarize.", "chosen": "word " * 4_000_000, "rejected": "No."}]),
        "200kb": write_jsonl(root / "long.jsonl", [{"prompt": "Summarize.", "chosen": "word " * 40_000, "rejected": "No."}]),
    }


@pytest.mark.parametrize("size", ["20mb", "200kb"])
def test_an_over_long_row_is_one_line_under_none_and_truncated_under_left(size, huge_rows, tiny_llama, tmp_path):
    # tiny_llama is a rotary model (max_position_embeddings 4096): before, neither limit applied to it under `none`.
    code, _, stderr, peak_none = _cli("evaluate", "--model", str(tiny_llama), "--dataset", str(huge_rows[size]), "--output", str(tmp_path / "n"))
    assert code == 2 and "Traceback" not in stderr
    assert stderr.splitlines()[-1].startswith(f"rm-mlflow: error: {huge_rows[size].stem} id 0 chosen: ")
    assert "at most 2048" in stderr

    code, stdout, stderr, peak_left = _cli("evaluate", "--model", str(tiny_llama), "--dataset", str(huge_rows[size]), "--truncation", "left",
                                           "--output", str(tmp_path / "l"), "--quiet")
    assert code == 0, stderr
    assert "Truncated: 1 conversations (left side, max_length 2048)" in stdout
    results = json.loads((tmp_path / "l" / "results.json").read_text())
    assert results["throughput"]["truncated_conversations"] == 1.0
    # 20 MB of text would be ~4 GB in the tokenizer and a 5M-token forward pass before; now a few hundred MB.
    assert peak_none < 1500 and peak_left < 1500, (peak_none, peak_left)


def test_left_truncation_of_an_absurd_text_keeps_the_same_tokens_as_a_full_tokenization(tiny_llama):
    model = load_reward_model(str(tiny_llama), ScoringSettings(truncation="left", max_length=64))
    conversation = ({"role": "user", "content": "Summarize. " + "lorem ipsum dolor " * 20_000}, {"role": "assistant", "content": "the end"})
    model.tokenizer.truncation_side = "left"
    full = model.tokenizer(model.formatter.format(conversation), truncation=True, max_length=64)["input_ids"]
    [tokenized] = model.tokenize([conversation])
    assert len(model.formatter.format(conversation)) > 2 * 64 * longest_token_chars(model.tokenizer)  # the pre-cut path ran
    assert list(tokenized.input_ids) == full and tokenized.truncated


def test_max_length_applies_to_rotary_models_under_none(tiny_llama):
    model = load_reward_model(str(tiny_llama), ScoringSettings(max_length=32))
    conversation = ({"role": "user", "content": "word " * 100}, {"role": "assistant", "content": "ok"})
    with pytest.raises(TooLongAt, match=r"\d+ tokens, but the model takes at most 32 here \(max_length 32, the model's position limit 4096\)"):
        model.tokenize([conversation])


def test_the_truncation_warning_names_the_limit_that_cut(tiny_gpt2, huge_rows, caplog):
    from rm_mlflow.benchmarking import IntervalOptions, score_reward_model

    with caplog.at_level("WARNING", logger="rm_mlflow.scoring.engine"):
        score_reward_model(str(tiny_gpt2), [str(huge_rows["200kb"])], settings=ScoringSettings(truncation="left", max_length=99_999_999),
                              progress=False, intervals=IntervalOptions(resamples=0))
    assert "1 of 2 conversations were longer than the model's position limit (256 tokens) and were truncated (left side)" in caplog.text
    assert "99999999" not in caplog.text
