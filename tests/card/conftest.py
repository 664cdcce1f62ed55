import json

import pytest

from rm_mlflow.benchmarking import score_reward_model
from rm_mlflow.data import DataOptions
from rm_mlflow.results import write_results
from tests.helpers import SAMPLE_DATA


@pytest.fixture(scope="package")
def results(tiny_llama, tmp_path_factory):
    """A real results.json (the tiny Llama on the shipped RewardBench sample), as its JSON object."""
    report = score_reward_model(str(tiny_llama), ["rewardbench"], data=DataOptions(data_dir=SAMPLE_DATA), progress=False)
    out = tmp_path_factory.mktemp("results")
    write_results(report, out)
    return json.loads((out / "results.json").read_text())
