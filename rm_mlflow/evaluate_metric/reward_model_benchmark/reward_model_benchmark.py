"""Reward-model benchmark scores with rm-mlflow's arithmetic, as a Hugging Face ``evaluate`` metric.

For people who compute reward scores elsewhere (a training loop, another harness) and want the very
numbers rm-mlflow logs: per-subset accuracy, section scores and the headline score of RewardBench (its
``EXAMPLE_COUNTS`` weighting), RewardBench 2 (1/k ties, the Ties composite), RMB, the prior sets or LLMBar.
It is a thin wrapper: the benchmark's own correctness rule and aggregation from ``rm_mlflow.data`` do the work.

    import evaluate, rm_mlflow
    metric = evaluate.load(rm_mlflow.evaluate_metric_path(), config_name="rewardbench")
    metric.compute(chosen_scores=[[1.2], ...], rejected_scores=[[0.3], ...], subsets=["alpacaeval-easy", ...], ids=["1", ...])
"""

import datasets
import evaluate

from rm_mlflow.data import BENCHMARKS
from rm_mlflow.metrics import ExampleOutcome, metric_slug

_DESCRIPTION = "Leaderboard scores of a reward model from its chosen and rejected scores, computed by rm-mlflow's benchmark code."
_INPUTS = """
Args:
    chosen_scores: per example, the scores of its chosen response(s) (one, or several for RewardBench 2 Ties).
    rejected_scores: per example, the scores of its rejected responses (one for a pair, several for best-of-N).
    subsets: per example, its subset (e.g. ``alpacaeval-easy``, ``Pairwise_set/Harmlessness/S1``).
    ids: per example, its id (RewardBench 2 Ties pairs ``ref:N`` with ``tied:N``); optional elsewhere.
Returns:
    ``score``, ``section/<name>`` and ``subset/<name>`` as floats, named like rm-mlflow's MLflow metrics.
"""


class RewardModelBenchmark(evaluate.Metric):
    """One registered rm-mlflow benchmark, chosen by ``config_name`` (default ``rewardbench``)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features({
                "chosen_scores": datasets.Sequence(datasets.Value("float64")),
                "rejected_scores": datasets.Sequence(datasets.Value("float64")),
                "subsets": datasets.Value("string"),
                "ids": datasets.Value("string"),
            }),
        )

    def _compute(self, chosen_scores, rejected_scores, subsets, ids=None):
        name = self.config_name if self.config_name not in (None, "default") else "rewardbench"
        benchmark = BENCHMARKS.get(name)
        ids = ids if ids is not None else [str(index) for index in range(len(subsets))]
        outcomes = [
            ExampleOutcome(str(i), subset, tuple(chosen), tuple(rejected), benchmark.correctness(chosen, rejected) if rejected else None)
            for i, subset, chosen, rejected in zip(ids, subsets, chosen_scores, rejected_scores, strict=True)
        ]
        scores = benchmark.aggregate(outcomes)
        result = {} if scores.score is None else {"score": scores.score}
        result.update({f"section/{metric_slug(section)}": value for section, value in scores.sections.items()})
        result.update({f"subset/{metric_slug(subset)}": value for subset, value in scores.subsets.items()})
        return result
