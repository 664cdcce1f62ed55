"""What ``mlflow.models.evaluate(data=...)`` hands the evaluator, turned into benchmarks to load.

MLflow accepts lists, numpy arrays and DataFrames: a list or array of strings names benchmarks
(``["rewardbench", "rmb"]``, files, Hub ids); a DataFrame with a ``benchmark`` (or ``dataset``)
column does the same; any other DataFrame is preference rows (``prompt``/``chosen``/``rejected``,
optional ``subset`` and ``id``) scored as one local benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rm_mlflow.data.benchmark import Benchmark
from rm_mlflow.data.local import frame_benchmark
from rm_mlflow.errors import DataValidationError

_NAME_COLUMNS = ("benchmark", "dataset")


def benchmarks_from_data(features: Any, *, dataset_name: str = "dataframe") -> list[str | Benchmark]:
    """Benchmark names (or one DataFrame benchmark) from what ``mlflow.models.evaluate`` passed as ``data``."""
    if isinstance(features, pd.DataFrame):
        name_column = next((c for c in _NAME_COLUMNS if c in features.columns and len(features.columns) == 1), None)
        if name_column is None:
            return [frame_benchmark(features, name=dataset_name)]
        features = features[name_column].to_numpy()
    values = np.asarray(features, dtype=object).ravel().tolist()
    bad = [(i, v) for i, v in enumerate(values, start=1) if not isinstance(v, str) or not v.strip()]
    if bad:
        index, value = bad[0]
        raise DataValidationError("evaluate data", index, None, f"expected a benchmark name, file or Hub id, got {value!r}")
    return [value.strip() for value in values]
