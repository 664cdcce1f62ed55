"""Long-RewardBench: files in the authors' row schema (filled with RMB's real conversations, pairs and best-of-N sets),
scored in upstream's presentation order and aggregated as its evaluator.py does.

The upstream repository (LCM-Lab/Long-RM) has no license, so its code is not copied here. The CI test checks our
figures against a line-by-line transcription of ``evaluator.py`` ``evaluate`` (cited below). When a checkout of the
repository (github.com/LCM-Lab/Long-RM, its files as committed) is at ``RM_MLFLOW_LONG_RM``, the second test
runs its own ``evaluate`` and ``extract_judgement`` on our per-example scores.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import types
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from rm_mlflow.benchmarking import IntervalOptions
from rm_mlflow.data.benchmarks.long_rewardbench import LENGTHS, TASKS, shown_credit
from rm_mlflow.data.options import DataOptions
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.errors import DatasetNotAvailableError, SequenceTooLongError
from rm_mlflow.pipeline import EvaluationRequest, run_evaluation
from rm_mlflow.results import read_results

SHORT = {"max_length": 512, "truncation": "left", "batch_size": 16}


def _rmb(shared_data: Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted((shared_data / "rmb" / "RMB_dataset" / kind / "Helpfulness").rglob("*.json")):
        rows += json.loads(path.read_text())
    return rows


@pytest.fixture(scope="module")
def data_dir(shared_data, tmp_path_factory) -> Path:
    """Seven task files: per task 6 pairs (same/diff, a length bucket each, one a tie: chosen == rejected, at a different row
    in each file, so it is shown in either order) and 3 sets of 2-4."""
    pairs, sets = iter(_rmb(shared_data, "Pairwise_set")), iter(row for row in _rmb(shared_data, "BoN_set") if len(row["loser_list"]) >= 3)
    root = tmp_path_factory.mktemp("long-rewardbench-data") / "long-rewardbench"
    root.mkdir()
    for t, task in enumerate(TASKS):
        rows = []
        for i in range(6):
            pair = next(pairs)
            rejected = pair["chosen"]["answer"] if i == t % 6 else pair["reject"]["answer"]  # one pair of each task ties
            rows.append({"prompt_template": pair["conversation_input"], "chosen": pair["chosen"]["answer"], "rejected": rejected,
                         "source": f"rmb/{pair['category_path']}", "ctx_length_for_length": LENGTHS[(t + i) % len(LENGTHS)],
                         "tasktype": "PairWise", "subtype": "same" if i % 2 else "diff"})
        for size in (2, 3, 4):
            group = next(sets)
            candidates = [group["bon_best"]["answer"], *(loser["answer"] for loser in group["loser_list"])][:size]
            rows.append({"prompt_template": group["conversation_input"], "candidates": candidates, "source": f"rmb/{group['category_path']}",
                         "ctx_length_for_length": LENGTHS[t % len(LENGTHS)], "tasktype": "BestOfN", "subtype": size})
        (root / f"{task}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root.parent


@pytest.fixture(scope="module")
def run(tiny_llama, data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("long-rewardbench-run")
    run_evaluation(EvaluationRequest(model=str(tiny_llama), datasets=["long-rewardbench"], data=DataOptions(data_dir=str(data_dir)),
                                     settings=SHORT, output_dir=folder, progress=False, intervals=IntervalOptions(resamples=0)))
    return read_results(folder / "results.json").benchmarks["long-rewardbench"], pd.read_parquet(folder / "long-rewardbench_scores.parquet")


def _upstream_orders(path: Path) -> list[tuple[int, list[int]]]:
    """preprocess.py (LongRewardBenchDisRMPreprocess.preprocess): random.seed(42), the kept rows numbered then shuffled,
    and per row ``order = list(range(n)); random.shuffle(order)``, as (row number, order) in shown order."""
    dataset = [json.loads(line) for line in path.read_text().splitlines()]
    dataset = [k for k in dataset if (not k.get("tasktype", None)) or (k["tasktype"] in ["PairWise", "BestOfN"])]
    for index, data in enumerate(dataset):
        data["index"] = index
    random.seed(42)
    random.shuffle(dataset)
    shown = []
    for data in dataset:
        order = list(range(len(data["candidates"]) if data.get("tasktype") == "BestOfN" else 2))
        random.shuffle(order)
        shown.append((data["index"], order))
    return shown


def _answers(table: pd.DataFrame, data_dir: Path) -> list[dict]:
    """What upstream's ScalarRMGPUProcess writes per item: ``output`` is the scores of the answers as shown."""
    answers = []
    for task in TASKS:
        orders = dict(_upstream_orders(data_dir / "long-rewardbench" / f"{task}.jsonl"))
        for row in table[table["subset"].str.startswith(task + "/")].itertuples():
            task_type = row.subset.split("/")[1]
            number, subtype, length = row.id.split(":")[1].split("/")
            order = orders[int(number)]
            scores = [*row.chosen_scores, *row.rejected_scores]
            answers.append({"output": [scores[rank] for rank in order], "shuffled_order": order, "subset": task, "tasktype": task_type,
                            "subtype": subtype if task_type == "PairWise" else int(subtype), "ctx_length": length})
    return answers


def _transcribed_evaluate(answers: list[dict]) -> dict[str, float]:
    """evaluator.py evaluate() at bbc90f5, lines 207-275, transcribed: extract_judgement(is_disrm) (utils/prompt.py 95-100),
    compare_shuffled, then each group's mean with upstream's max(len, 1)."""
    def extract(judgment):
        orders = sorted(enumerate(judgment), key=lambda x: x[1], reverse=True)
        ranks = [k[0] for k in orders]
        return [ranks.index(i) for i in range(len(ranks))]

    results = [sum(int(a == b) for a, b in zip(a["shuffled_order"], extract(a["output"]), strict=True)) / len(a["shuffled_order"])
               for a in answers]
    groups = defaultdict(list)
    for answer, result in zip(answers, results, strict=True):
        groups["AVG."].append(result)
        if answer["tasktype"] == "PairWise":
            groups[answer["subset"]].append(result)
            groups["Same." if answer["subtype"] == "same" else "Diff."].append(result)
            groups["PairWise Avg."].append(result)
            groups[answer["ctx_length"]].append(result)
        else:
            groups[f"Rank{answer['subtype']}"].append(result)
            groups["Rank Avg,"].append(result)
    return {name: round(sum(values) / max(len(values), 1), 5) for name, values in groups.items()}


def _ours(benchmark) -> dict[str, float]:
    figures = dict(benchmark.sections) | {"AVG.": benchmark.score, "Same.": benchmark.extra["pairwise/same"],
                                          "Diff.": benchmark.extra["pairwise/diff"], "PairWise Avg.": benchmark.extra["pairwise"],
                                          "Rank Avg,": benchmark.extra["rank"]}
    figures |= {f"Rank{size}": benchmark.extra[f"rank/{size}"] for size in (2, 3, 4)}
    figures |= {length: benchmark.extra[f"context/{length}"] for length in LENGTHS if f"context/{length}" in benchmark.extra}
    return {name: round(value, 5) for name, value in figures.items()}


def test_figures_equal_upstreams_evaluate_transcribed(run, data_dir):
    benchmark, table = run
    assert len(table) == len(TASKS) * 9 and benchmark.partial is None
    theirs = _transcribed_evaluate(_answers(table, data_dir))
    assert _ours(benchmark) == theirs
    ties = table[table["chosen_scores"].map(lambda s: s[0]) == table["rejected_scores"].map(lambda s: s[0])]
    assert len(ties) == len(TASKS)  # the tied pairs: right only when shown chosen-first, as upstream's stable sort has it
    assert sorted(set(ties["correct"])) == [0.0, 1.0]


@pytest.mark.skipif(not os.environ.get("RM_MLFLOW_LONG_RM"), reason="needs a checkout of LCM-Lab/Long-RM at RM_MLFLOW_LONG_RM")
def test_figures_equal_upstreams_own_evaluate(run, data_dir, tmp_path, monkeypatch):
    benchmark, table = run
    root = Path(os.environ["RM_MLFLOW_LONG_RM"]) / "evaluate"
    for name in ("evaluating.inference_utils.builder", "evaluating.deploy_utils.deploy", "evaluating.inference_utils.process",
                 "evaluating.longreward_bench.preprocess", "evaluating.base_utils.integration",
                 "evaluating.base_utils.sample_format"):  # the parts evaluate() does not use (GPU deployment, fastchat)
        module = types.ModuleType(name)
        for attribute in ("LLMEvalManagerBuilder", "LongRewardBenchPreprocess", "LongRewardBenchDisRMPreprocess", "LLMEvalGPUManager",
                          "LLMEvalManagerSelector", "Selector", "SampleDict"):
            setattr(module, attribute, object)
        module.setup_tokenizer = lambda *args, **kwargs: types.SimpleNamespace(chat_template="tokenizer")
        module.setup_generate_kwargs = lambda *args, **kwargs: {}
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.syspath_prepend(str(root))
    from evaluating.longreward_bench.evaluator import LongRewardBenchEvaluator, save_jsonl

    answers = _answers(table, data_dir)
    for task in TASKS:
        save_jsonl([a for a in answers if a["subset"] == task], str(tmp_path / f"{task}.jsonl"))
    evaluator = types.SimpleNamespace(is_disrm=True, config=types.SimpleNamespace(model_name="tiny"),
                                      model_config=types.SimpleNamespace(model_path="tiny"), data_config=types.SimpleNamespace(),
                                      benchmark_config=types.SimpleNamespace(TASKS=list(TASKS)))
    LongRewardBenchEvaluator.evaluate(evaluator, str(tmp_path), str(tmp_path))
    theirs = dict(pd.read_csv(tmp_path / "results.csv")[["Task", "Value"]].itertuples(index=False))
    ours = _ours(benchmark)
    assert {name: theirs[name] for name in ours} == pytest.approx(ours, abs=1e-12)
    print("\nupstream evaluate() results.csv vs ours:", {name: (theirs[name], ours[name]) for name in ours})


def test_shown_credit_ranks_as_upstream_including_ties():
    example = PreferenceExample(id="Code:0/3/8k", subset="Code/BestOfN", prompt=(), chosen=("a",), rejected=("b", "c"),
                                metadata={"shuffled_order": [2, 0, 1]})
    assert shown_credit(example, (0.9,), (0.5, 0.1)) == 1.0  # shown c, a, b: ranked a, b, c
    assert shown_credit(example, (0.1,), (0.5, 0.9)) == pytest.approx(1 / 3)  # only b (shown last) is in its place
    tie = PreferenceExample(id="Code:1/same/4k", subset="Code/PairWise", prompt=(), chosen=("a",), rejected=("b",),
                            metadata={"shuffled_order": [1, 0]})
    assert shown_credit(tie, (0.5,), (0.5,)) == 0.0  # shown rejected first: the stable sort keeps it ahead


def test_offline_without_a_copy_the_message_names_the_download(tmp_path):
    from rm_mlflow.data.loading import load_benchmarks

    with pytest.raises(DatasetNotAvailableError) as error:
        load_benchmarks(["long-rewardbench"], DataOptions(data_dir=str(tmp_path)))
    assert "LCM-Lab/LongRewardBench (LongQA.jsonl) is not available offline" in str(error.value)
    assert "hf download LCM-Lab/LongRewardBench --repo-type dataset --local-dir DATA_DIR/long-rewardbench" in str(error.value)


def test_items_cut_to_the_limit_are_counted_and_refused_without_truncation(run, tiny_llama, data_dir, tmp_path):
    benchmark, table = run
    at_limit = sum(max([*chosen, *rejected]) == SHORT["max_length"] for chosen, rejected in zip(table["chosen_tokens"], table["rejected_tokens"],
                                                                                              strict=True))
    assert benchmark.extra["num_truncated"] == at_limit > 0
    assert f"{at_limit:,} of {len(table):,} examples were not seen whole: cut to the length limit (left side)" in benchmark.notes
    with pytest.raises(SequenceTooLongError, match=r"long-rewardbench id \S+ (chosen|rejected): \d+ tokens, but the model takes at most 512"):
        run_evaluation(EvaluationRequest(model=str(tiny_llama), datasets=["long-rewardbench"], data=DataOptions(data_dir=str(data_dir)),
                                         settings=SHORT | {"truncation": "none"}, output_dir=tmp_path / "none", progress=False,
                                         intervals=IntervalOptions(resamples=0)))
    assert not (tmp_path / "none" / "results.json").exists()


def test_without_a_max_length_items_are_seen_up_to_the_models_position_limit(tiny_llama, data_dir, tmp_path):
    """Long-RewardBench's own default: the model's 4,096 positions, not the run's 2,048; RewardBench in the same run keeps 2,048."""
    from rm_mlflow.data.sample import SAMPLE_DATA_DIR

    shutil.copytree(SAMPLE_DATA_DIR, tmp_path / "data", dirs_exist_ok=True)
    shutil.copytree(data_dir / "long-rewardbench", tmp_path / "data" / "long-rewardbench")
    outcome = run_evaluation(EvaluationRequest(model=str(tiny_llama), datasets=["rewardbench", "long-rewardbench"],
                                               data=DataOptions(data_dir=str(tmp_path / "data")), settings={"truncation": "left", "batch_size": 16},
                                               output_dir=tmp_path / "out", progress=False, intervals=IntervalOptions(resamples=0)))
    long, rewardbench = outcome.report.benchmarks["long-rewardbench"], outcome.report.benchmarks["rewardbench"]
    longest = max(max([*chosen, *rejected]) for chosen, rejected in zip(long.examples["chosen_tokens"], long.examples["rejected_tokens"],
                                                                       strict=True))
    assert 2048 < longest <= 4096 and long.scores.extra["max_length"] == 4096.0
    assert any("scored up to 4,096 tokens, the model's position limit" in note for note in long.notes)
    assert "max_length" not in rewardbench.scores.extra and outcome.report.settings["max_length"] == 2048
    assert outcome.metrics["long-rewardbench/max_length"] == 4096.0
