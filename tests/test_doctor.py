"""``rm-mlflow doctor`` on tiny models built here, each with one planted defect, and on a clean one: each defect found, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rm_mlflow.cli import main

PLANTED = {
    "doubled BOS": ("BOS token", "start with two BOS tokens"),
    "no chat template": ("chat template", "the tokenizer has no chat template"),
    "pad is EOS": ("padding", "the pad token is the EOS token (id 2)"),
    "card shows another format": ("chat format", "the model card shows ChatML turns (<|im_start|>) but the template renders none"),
    "head reads the last position": ("batch invariance", "pair(s) flip"),
}
LAST_REAL_TOKEN = "last = attention_mask.sum(-1) - 1  # right padding: the last real token"
LAST_POSITION = "last = torch.full_like(attention_mask.sum(-1), hidden.shape[1] - 1)  # planted: the last position, padding or not"


def _edit_json(path: Path, **changes) -> None:
    document = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    path.write_text(json.dumps(document))


@pytest.fixture(scope="module")
def patients(tiny_llama, tiny_custom_head, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("doctor")
    models = {}
    for defect in PLANTED:
        if defect == "head reads the last position":  # the ArmoRM-shaped head's own code, made to ignore the attention mask
            folder = shutil.copytree(tiny_custom_head, root / "last-position")
            code = folder / "modeling_tiny_multi_objective.py"
            assert LAST_REAL_TOKEN in code.read_text()
            code.write_text(code.read_text().replace(LAST_REAL_TOKEN, LAST_POSITION))
            models[defect] = folder
            continue
        folder = shutil.copytree(tiny_llama, root / defect.replace(" ", "-"))
        template = (folder / "chat_template.jinja").read_text()
        if defect == "doubled BOS":
            (folder / "chat_template.jinja").write_text("{{ bos_token }}{{ bos_token }}" + template)
        elif defect == "no chat template":
            (folder / "chat_template.jinja").unlink()
            _edit_json(folder / "tokenizer_config.json", chat_template=None)
        elif defect == "pad is EOS":
            _edit_json(folder / "tokenizer_config.json", pad_token="</s>")
            _edit_json(folder / "config.json", pad_token_id=2)
        elif defect == "card shows another format":  # the card documents ChatML; the tokenizer's template writes <|user|> turns
            (folder / "README.md").write_text("# A reward model\n\nScore a conversation formatted as\n\n```\n<|im_start|>user\n"
                                              "Hi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n```\n")
        models[defect] = folder
    return models


def _doctor(capsys, *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def test_a_clean_model_passes(tiny_llama, capsys):
    code, report = _doctor(capsys, "--model", str(tiny_llama))
    assert code == 0, report
    lines = {line.split("  ")[0]: line for line in report.splitlines()}
    assert {"chat template", "chat format", "BOS token", "padding", "length", "batch invariance", "dtype", "attention"} <= set(lines)
    assert "DEFECT" not in report and "OK" in lines["batch invariance"]


@pytest.mark.parametrize("defect", [d for d in PLANTED if d != "head reads the last position"])
def test_each_planted_defect_is_found_without_weights(patients, capsys, defect):
    code, report = _doctor(capsys, "--model", str(patients[defect]), "--quick")
    check, detail = PLANTED[defect]
    line = next(line for line in report.splitlines() if line.startswith(check))
    assert code == 1 and "DEFECT" in line and detail in line, report


def test_the_template_the_card_shows_passes(patients, capsys):
    code, report = _doctor(capsys, "--model", str(patients["card shows another format"]), "--quick", "--chat_template", "chatml")
    line = next(line for line in report.splitlines() if line.startswith("chat format"))
    assert "OK" in line and "renders the ChatML turns the model card shows" in line, report


def test_a_head_that_ignores_the_mask_changes_with_the_batch(patients, capsys):
    code, report = _doctor(capsys, "--model", str(patients["head reads the last position"]), "--trust_remote_code")
    lines = {line.split("  ")[0]: line for line in report.splitlines()}
    assert code == 1 and "DEFECT" in lines["batch invariance"], report
    assert "DEFECT" not in report.replace(lines["batch invariance"], ""), report


def test_evaluate_records_the_every_run_checks_and_warns_once(patients, tmp_path, caplog):
    from rm_mlflow.benchmarking import IntervalOptions
    from rm_mlflow.data.options import DataOptions
    from rm_mlflow.data.sample import SAMPLE_DATA_DIR
    from rm_mlflow.pipeline import EvaluationRequest, run_evaluation

    request = EvaluationRequest(model=str(patients["doubled BOS"]), datasets=["rewardbench"], data=DataOptions(data_dir=str(SAMPLE_DATA_DIR)),
                                output_dir=tmp_path, progress=False, intervals=IntervalOptions(resamples=0))
    outcome = run_evaluation(request)
    verdicts = {finding["check"]: finding["verdict"] for finding in outcome.report.checks}
    assert verdicts == {"chat template": "ok", "chat format": "ok", "BOS token": "defect", "padding": "ok"}
    assert sum("doctor: BOS token DEFECT" in record.message for record in caplog.records) == 1
