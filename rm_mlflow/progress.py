"""Progress bars of the libraries rm-mlflow drives (weight loading, downloads), switched off together with ours."""

from __future__ import annotations


def disable_library_progress_bars() -> None:
    """Silence the bars of transformers (weight loading), huggingface_hub and datasets (downloads) and MLflow (artifacts).

    Through the environment, read when each library is imported, so nothing is imported for it (``--quiet`` must
    not slow a run down); a library a caller already imported is switched off directly.
    """
    import os
    import sys

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # huggingface_hub, and transformers at import
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
