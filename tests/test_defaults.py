"""Every model kind runs with its defaults: nothing beyond --model, --model_kind and --dataset (and where the data lies).

Defaults come from the model where it knows better: a judge's answers need room within its own position
limit, not within the classifiers' max_length.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import SAMPLE_DATA

# kind -> (fixture, the model's entry in it, flags the kind cannot do without)
KINDS = {
    "sequence-classifier": ("tiny_llama", None, []),
    "dpo": ("tiny_causal_lms", "policy", []),  # reference-free, avg: run_dpo.py's default without a reference
    "custom": ("tiny_custom_head", None, ["--trust_remote_code"]),  # its head is remote code, which never runs unasked
    "pairwise": ("tiny_causal_lms", "policy", []),
    "generative": ("tiny_judge", None, []),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_kind_runs_with_its_defaults(kind, request, tmp_path, capsys):
    from rm_mlflow.cli import main

    fixture, entry, needed = KINDS[kind]
    model = request.getfixturevalue(fixture)
    model = model[entry] if entry else model
    code = main(["evaluate", "--model", str(model), "--model_kind", kind, "--dataset", "rewardbench", "--data-dir", str(SAMPLE_DATA),
                 *needed, "--output", str(tmp_path / "out"), "--quiet", "--bootstrap", "0"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["model"]["kind"] == kind and results["benchmarks"]["rewardbench"]["score"] is not None
    assert "nan" not in printed.out.lower(), printed.out  # a figure that is undefined is said in words
