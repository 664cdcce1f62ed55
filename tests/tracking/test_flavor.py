"""The rm_mlflow flavor: log, register, load natively and through pyfunc (what ``mlflow models serve`` uses)."""

import mlflow
import pandas as pd
import pytest

import rm_mlflow
from rm_mlflow.data.sample import sample_rows
from rm_mlflow.scoring import ScoringSettings, load_reward_model, score_conversations
from rm_mlflow.tracking.flavor import load_model


def _conversations():
    rows = sample_rows()[:4]
    return [[{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["chosen"]}] for row in rows]


def test_pyfunc_predict_matches_the_engine(tracking, registered_rm, tiny_llama):
    conversations = _conversations()
    expected = score_conversations(load_reward_model(str(tiny_llama)), conversations, ScoringSettings(), progress=False).scores
    served = mlflow.pyfunc.load_model(f"models:/{registered_rm}/1").predict(pd.DataFrame({"messages": conversations}))
    assert served["score"].tolist() == pytest.approx(expected, abs=1e-6)
    by_columns = pd.DataFrame({"prompt": [c[0]["content"] for c in conversations], "response": [c[1]["content"] for c in conversations]})
    assert mlflow.pyfunc.load_model(f"models:/{registered_rm}/1").predict(by_columns)["score"].tolist() == pytest.approx(expected, abs=1e-6)


def test_logged_settings_are_defaults_that_callers_override(tracking, registered_rm):
    assert load_model(f"models:/{registered_rm}/1").settings.max_length == 1024
    assert load_model(f"models:/{registered_rm}/1", {"max_length": 256, "batch_size": 4}).settings.max_length == 256


def test_log_model_rejects_unknown_settings_and_missing_folders(tracking, tiny_llama, tmp_path):
    with mlflow.start_run(), pytest.raises(ValueError, match="batch_size cannot be logged"):
        rm_mlflow.log_model(str(tiny_llama), "rm", settings={"batch_size": 8})
    with mlflow.start_run(), pytest.raises(rm_mlflow.errors.ModelLoadError, match="no config.json"):
        rm_mlflow.log_model(str(tmp_path), "rm")


def test_predict_names_the_bad_row(tracking, registered_rm):
    model = mlflow.pyfunc.load_model(f"models:/{registered_rm}/1")
    with pytest.raises(rm_mlflow.errors.DataValidationError, match="row 2"):
        model.predict(pd.DataFrame({"messages": [[{"role": "user", "content": "hi"}], [{"role": "robot", "content": "x"}]]}))
