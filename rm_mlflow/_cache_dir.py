"""Where caches shared across evaluations live: one folder, one environment variable."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "RM_MLFLOW_CACHE_DIR"


def cache_dir() -> Path:
    """``RM_MLFLOW_CACHE_DIR``, default ``~/.cache/rm-mlflow``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "rm-mlflow").expanduser()
