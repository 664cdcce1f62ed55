"""The ``reward_model`` evaluator for ``mlflow.models.evaluate``: a thin adapter over :mod:`rm_mlflow.pipeline`.

    mlflow.models.evaluate(
        model="models:/my-rm@champion",
        data=["rewardbench", "rewardbench-prior"],   # or a DataFrame of preference rows
        model_type="reward_model",
        evaluators=["reward_model"],
        evaluator_config={"batch_size": 32, "max_length": 4096},
    )

``evaluator_config`` keys are listed by :class:`rm_mlflow.options.EvaluatorConfig`.
"""

from __future__ import annotations

import logging
from typing import Any

from mlflow.models.evaluation import EvaluationResult, ModelEvaluator
from mlflow.models.evaluation.artifacts import EvaluationArtifact

from rm_mlflow.errors import OptionError
from rm_mlflow.options import EvaluatorConfig
from rm_mlflow.pipeline import run_evaluation
from rm_mlflow.tracking.adapters import reward_model_from_pyfunc
from rm_mlflow.tracking.inputs import benchmarks_from_data
from rm_mlflow.tracking.references import reference_from_pyfunc, resolve_model_reference
from rm_mlflow.tracking.run import TrackingTarget

MODEL_TYPE = "reward_model"


class _Artifact(EvaluationArtifact):
    """A logged result file; its content loads on first access."""

    def _load_content_from_file(self, local_artifact_path: str) -> Any:
        with open(local_artifact_path, "rb") as handle:
            return handle.read()

    def _save(self, output_artifact_path: str) -> None:
        with open(output_artifact_path, "wb") as handle:
            handle.write(self.content)


class RewardModelEvaluator(ModelEvaluator):
    """Scores a reward model on benchmarks and logs the results to the evaluation's run."""

    @classmethod
    def can_evaluate(cls, *, model_type: str | None, evaluator_config: dict | None, **kwargs: Any) -> bool:
        """Only ``model_type="reward_model"``."""
        return model_type == MODEL_TYPE

    def evaluate(
        self,
        *,
        model_type: str,
        dataset: Any,
        run_id: str,
        evaluator_config: dict | None,
        model: Any = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        """Run the pipeline on MLflow's loaded model and data, logging to MLflow's run ``run_id``."""
        if model is None:
            raise OptionError("the reward_model evaluator scores a model: pass model=... (a models:/ URI, run URI or local path)")
        # Importing torch under mlflow.models.evaluate imports mlflow.pytorch, whose logging.basicConfig(level=ERROR) would
        # hide our warnings (rows skipped, conversations truncated): ours stay at WARNING unless the caller set a level.
        ours = logging.getLogger("rm_mlflow")
        unset = ours.level == logging.NOTSET
        if unset:
            ours.setLevel(logging.WARNING)
        try:
            options = EvaluatorConfig.from_mapping(evaluator_config)
            datasets = benchmarks_from_data(dataset.features_data, dataset_name=options.dataset_name)
            reference = resolve_model_reference(options.model_uri) if options.model_uri else reference_from_pyfunc(model)
            request = options.request(lambda: reward_model_from_pyfunc(model, options.settings, kind=options.model_kind), datasets,
                                      reference=reference)
            outcome = run_evaluation(request, TrackingTarget(run_id=run_id))
        finally:
            if unset:
                ours.setLevel(logging.NOTSET)
        artifacts = {name: _Artifact(uri=uri) for name, uri in outcome.artifacts.items()}
        return EvaluationResult(metrics=outcome.metrics, artifacts=artifacts, run_id=run_id)
