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
REAL_CHECKOUT = os.environ.get("RM_MLFLOW_LONG_RM")  # github.com/LCM-Lab/Long-RM, its files as committed


def _rmb(shared_data: Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted((shared_data / "rmb" / "RMB_dataset" / kind / "Helpfulness").rglob("*.json")):
        rows += json.loads(path.read_text())
    return rows


def _write_task_files(folder: Path, pairs: int, pair, group) -> Path:
    """Seven task files in the authors' row schema: per task ``pairs`` pairs (``pair(task number, i)`` gives prompt, chosen,
    rejected and source; alternately diff and same, a length bucket each), then sets of 2, 3 and 4 (``group(size)``)."""
    root = folder / "long-rewardbench"
    root.mkdir()
    for t, task in enumerate(TASKS):
        rows = []
        for i in range(pairs):
            prompt, chosen, rejected, source = pair(t, i)
            rows.append({"prompt_template": prompt, "chosen": chosen, "rejected": rejected, "source": source,
                         "ctx_length_for_length": LENGTHS[(t + i) % len(LENGTHS)], "tasktype": "PairWise", "subtype": "same" if i % 2 else "diff"})
        for size in (2, 3, 4):
            prompt, candidates, source = group(size)
            rows.append({"prompt_template": prompt, "candidates": candidates, "source": source, "ctx_length_for_length": LENGTHS[t % len(LENGTHS)],
                         "tasktype": "BestOfN", "subtype": size})
        (root / f"{task}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


@pytest.fixture(scope="module")
def data_dir(shared_data, tmp_path_factory) -> Path:
    """Seven task files: per task 6 pairs (same/diff, a length bucket each, one a tie: chosen == rejected, at a different row
    in each file, so it is shown in either order) and 3 sets of 2-4."""
    pairs, sets = iter(_rmb(shared_data, "Pairwise_set")), iter(row for row in _rmb(shared_data, "BoN_set") if len(row["loser_list"]) >= 3)

    def pair(t: int, i: int):
        row = next(pairs)
        rejected = row["chosen"]["answer"] if i == t % 6 else row["reject"]["answer"]  # one pair of each task ties
        return row["conversation_input"], row["chosen"]["answer"], rejected, f"rmb/{row['category_path']}"

    def group(size: int):
        row = next(sets)
        return (row["conversation_input"], [row["bon_best"]["answer"], *(loser["answer"] for loser in row["loser_list"])][:size],
                f"rmb/{row['category_path']}")

    return _write_task_files(tmp_path_factory.mktemp("long-rewardbench-data"), 6, pair, group)


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


def _shown_scores(row, order: list[int]) -> list[float]:
    """What upstream's ScalarRMGPUProcess writes as an item's ``output``: the scores of the answers as shown."""
    scores = [*row.chosen_scores, *row.rejected_scores]
    return [scores[rank] for rank in order]


def _answers(table: pd.DataFrame, data_dir: Path, output=_shown_scores) -> list[dict]:
    """Our per-example table as upstream's per-task output lines, ``output(row, shown order)`` being the model's output."""
    answers = []
    for task in TASKS:
        orders = dict(_upstream_orders(data_dir / "long-rewardbench" / f"{task}.jsonl"))
        for row in table[table["subset"].str.startswith(task + "/")].itertuples():
            task_type = row.subset.split("/")[1]
            number, subtype, length = row.id.split(":")[1].split("/")
            order = orders[int(number)]
            answers.append({"output": output(row, order), "shuffled_order": order, "subset": task, "tasktype": task_type,
                            "subtype": subtype if task_type == "PairWise" else int(subtype), "ctx_length": length})
    return answers


def _disrm_extract(answer: dict) -> list[int]:
    """utils/prompt.py extract_judgement with is_disrm (lines 95-100): the shown answers ranked by score, highest first."""
    orders = sorted(enumerate(answer["output"]), key=lambda x: x[1], reverse=True)
    ranks = [k[0] for k in orders]
    return [ranks.index(i) for i in range(len(ranks))]


def _transcribed_evaluate(answers: list[dict], extract=_disrm_extract) -> dict[str, float]:
    """evaluator.py evaluate() at bbc90f5, lines 198-275, transcribed: ``extract`` (extract_judgement), compare_shuffled, then each
    group's mean with upstream's max(len, 1)."""
    def compare_shuffled(golden, result):
        if not result:
            return 0
        return sum(int(a == b) for a, b in zip(golden, result, strict=False)) / len(golden)

    results = [compare_shuffled(a["shuffled_order"], extract(a)) for a in answers]
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


def _upstreams_own_evaluate(answers: list[dict], folder: Path, monkeypatch, *, is_disrm: bool) -> dict[str, float]:
    """evaluator.py's own ``evaluate`` from the checkout at RM_MLFLOW_LONG_RM, on ``answers`` written as its per-task files."""
    root = Path(REAL_CHECKOUT) / "evaluate"
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

    for task in TASKS:
        save_jsonl([a for a in answers if a["subset"] == task], str(folder / f"{task}.jsonl"))
    evaluator = types.SimpleNamespace(is_disrm=is_disrm, config=types.SimpleNamespace(model_name="tiny"),
                                      model_config=types.SimpleNamespace(model_path="tiny"), data_config=types.SimpleNamespace(),
                                      benchmark_config=types.SimpleNamespace(TASKS=list(TASKS)))
    LongRewardBenchEvaluator.evaluate(evaluator, str(folder), str(folder))
    return dict(pd.read_csv(folder / "results.csv")[["Task", "Value"]].itertuples(index=False))


@pytest.mark.skipif(not REAL_CHECKOUT, reason="needs a checkout of LCM-Lab/Long-RM at RM_MLFLOW_LONG_RM")
def test_figures_equal_upstreams_own_evaluate(run, data_dir, tmp_path, monkeypatch):
    benchmark, table = run
    theirs = _upstreams_own_evaluate(_answers(table, data_dir), tmp_path, monkeypatch, is_disrm=True)
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


# -- generative judges: the authors' judge path (preprocess.py LongRewardBenchPreprocess, utils/prompt.py) -------------------------

# Not Long-RM's ranking prompt (unlicensed, never copied here): a stand-in read the same way, from the same file of a checkout.
STAND_IN_RANK_PROMPT = "Rank the {number} answers below, best first, and end with the ranking as {pattern}."
JUDGE_SETTINGS = {"max_new_tokens": 48}  # whole prompts: this benchmark is judged up to the judge's position limit


@pytest.fixture(scope="module")
def judge_data_dir(shared_data, tmp_path_factory) -> Path:
    """Seven task files in the same schema over LLMBar's short real questions (the tiny judge answers short prompts only): per task
    4 pairs and 3 sets of 2-4 answers (a question's two answers, the better first, then answers to the next questions)."""
    rows = [row for name in ("Natural.json", "Adversarial_Neighbor.json") for row in json.loads((shared_data / "llmbar" / name).read_text())
            if len(row["input"]) + len(row["output_1"]) + len(row["output_2"]) < 600]
    best_first = [(row["output_1"], row["output_2"])[::1 if row["label"] == 1 else -1] for row in rows]
    questions, more = iter(zip(rows, best_first, strict=True)), iter(best_first * 2)

    def pair(t: int, i: int):
        row, (better, worse) = next(questions)
        return [{"role": "user", "content": row["input"]}], better, worse, "llmbar"

    def group(size: int):
        row, answers = next(questions)
        prompt = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": row["input"]}]
        return prompt, [*answers, *next(more)][:size], "llmbar"

    return _write_task_files(tmp_path_factory.mktemp("long-rewardbench-judge-data"), 4, pair, group)


def _authors_prompt_module():
    """Long-RM's own ``utils/prompt.py`` (it imports only ``re`` and ``typing``), when a checkout is at RM_MLFLOW_LONG_RM."""
    import importlib.util

    path = Path(REAL_CHECKOUT) / "evaluate/evaluating/longreward_bench/utils/prompt.py"
    spec = importlib.util.spec_from_file_location("long_rm_prompt", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def long_rm_checkout(tmp_path, monkeypatch) -> Path:
    """The real checkout when RM_MLFLOW_LONG_RM names one; else a folder with Long-RM's layout holding the stand-in prompt."""
    if REAL_CHECKOUT:
        return Path(REAL_CHECKOUT)
    prompt = tmp_path / "Long-RM" / "evaluate/evaluating/longreward_bench/utils/prompt.py"
    prompt.parent.mkdir(parents=True)
    prompt.write_text(f"import re\n\nPAIR_SYSTEM_PROMPT = 'unused here'\n\nRANK_SYSTEM_PROMPT = (\n    {STAND_IN_RANK_PROMPT!r}\n)\n")
    monkeypatch.setenv("RM_MLFLOW_LONG_RM", str(prompt.parents[4]))
    return prompt.parents[4]


def _expected_chat(question: str, answers: list[str], kind: str) -> list[dict]:
    """``get_chat_template(question, answers, type)``: the authors' own when their checkout is here, else this transcription of it
    (utils/prompt.py at bbc90f5: ``get_system_prompt``, ``get_user_prompt``) over the stand-in ranking prompt."""
    if REAL_CHECKOUT:
        return _authors_prompt_module().get_chat_template(question, answers, kind)
    from rm_mlflow.judges.prompts import MULTI_TURN_SYSTEM

    if kind == "rank":
        system = STAND_IN_RANK_PROMPT.format(number=len(answers), pattern=f"[[{'>'.join(chr(ord('A') + i) for i in range(len(answers)))}]]")
    else:
        system = MULTI_TURN_SYSTEM
    user = (f"[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answers[0]}\n[The End of Assistant A's Answer]\n\n"
            f"[The Start of Assistant B's Answer]\n{answers[1]}\n[The End of Assistant B's Answer]")
    for k in range(2, len(answers)):
        user += f"\n\n[The Start of Assistant {chr(ord('A') + k)}'s Answer]\n{answers[k]}\n[The End of Assistant {chr(ord('A') + k)}'s Answer]"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def test_a_judge_is_asked_each_item_by_the_authors_prompt_in_their_order(data_dir, long_rm_checkout):
    from rm_mlflow.data.loading import load_benchmarks
    from rm_mlflow.judges.protocols import JUDGE_PROTOCOLS
    from rm_mlflow.scoring.settings import JudgeSettings

    (loaded,) = load_benchmarks(["long-rewardbench"], DataOptions(data_dir=str(data_dir)))
    protocol = JUDGE_PROTOCOLS.get("long-rewardbench")
    asked = 0
    for task in TASKS:
        path = data_dir / "long-rewardbench" / f"{task}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for number, order in _upstream_orders(path):
            row = rows[number]
            example = next(e for e in loaded.examples if e.subset.startswith(task + "/") and e.id.split(":")[1].split("/")[0] == str(number))
            answers = row["candidates"] if row["tasktype"] == "BestOfN" else [row["chosen"], row["rejected"]]
            question = "\n\n".join(message["content"] for message in row["prompt_template"])  # preprocess.py: data['task_prompt']
            kind = "rank" if row["tasktype"] == "BestOfN" else "pair"
            (call,) = protocol.plan(example, JudgeSettings(), lambda *args: pytest.fail("the order is the benchmark's, never drawn"))
            assert [dict(message) for message in call.chat] == _expected_chat(question, [answers[i] for i in order], kind)
            assert list(call.shown) == order
            asked += 1
    assert asked == len(TASKS) * 9


RANKINGS = ["[[A]]", "x [[B]] then [[A]]", "no verdict", "[[C>A>B]]", "[[Assistant B > Assistant A > Assistant C]]", "[A>B]",
            "[[A>B]] and later [[B>A]]", "[[A>B]]", "[[A>B>C>D]]", "[[A>A>B]]", "[[AB>C>D]]", "[[a>b>c]]", ">" * 11 + "[[A>B>C]]",
            "[Analysis]\nB is wrong.\n[Ranking]\n[[B>C>A]]", "[[D>C>B>A]]", "[[A > C > B]]"]


def _transcribed_extract_judgement(judgment: str, kind: str) -> list[int]:
    """utils/prompt.py extract_judgement (is_disrm False) at bbc90f5, lines 102-130, transcribed."""
    if kind == "pair":
        if "[[A]]" in judgment:
            return [0, 1]
        elif "[[B]]" in judgment:
            return [1, 0]
        return []
    import re

    pattern = r"\[[\w\s]+(?:\s*>\s*[\w\s]+)+\]"
    if len(judgment.split(">")) > 10:
        return []
    matches = re.findall(pattern, judgment)
    try:
        ret = matches[0].split(">")
        for marks in ["assistant", "Assistant", ":", " "]:
            ret = [k.replace(marks, "") for k in ret]
        ret[0] = ret[0].strip("[")
        ret[-1] = ret[-1].strip("]")
        ids = [ord(k) - ord("A") for k in ret]
        return [ids.index(k) for k in range(len(ids))]
    except Exception:
        return []


def test_judge_verdicts_are_read_as_the_authors_read_them():
    from rm_mlflow.judges.base import JudgeCall
    from rm_mlflow.judges.protocols.long_rewardbench import predicted_ranks

    extract = _authors_prompt_module().extract_judgement if REAL_CHECKOUT else _transcribed_extract_judgement
    for text in RANKINGS:
        for kind, size in (("pair", 2), ("rank", 2), ("rank", 3), ("rank", 4)):
            call = JudgeCall((), kind, tuple(range(size)), "long-rewardbench")
            assert predicted_ranks(call, text) == extract(text, kind), (text, kind)
    assert predicted_ranks(JudgeCall((), "rank", (0, 1, 2), "long-rewardbench"), "[[C>A>B]]") == [1, 2, 0]


def test_a_judge_without_the_ranking_prompt_is_refused_before_its_weights_load(tiny_judge, data_dir, tmp_path, monkeypatch):
    from rm_mlflow.data.loading import load_benchmarks
    from rm_mlflow.errors import OptionError
    from rm_mlflow.judges.protocols import check_protocols

    monkeypatch.delenv("RM_MLFLOW_LONG_RM", raising=False)
    monkeypatch.setattr("rm_mlflow.judges.judge.load_generative", lambda *args: pytest.fail("weights loaded"))
    with pytest.raises(OptionError, match=r"^long-rewardbench: 21 best-of-N items: a judge ranks Long-RewardBench's best-of-N items with "
                                          r"Long-RM's own prompt, .* set RM_MLFLOW_LONG_RM to a checkout of github.com/LCM-Lab/Long-RM; "
                                          r"or keep only pairs with --subsets \(Cite/PairWise,Code/PairWise,"):
        run_evaluation(EvaluationRequest(model=str(tiny_judge), model_kind="generative", datasets=["long-rewardbench"],
                                         data=DataOptions(data_dir=str(data_dir)), settings=JUDGE_SETTINGS, output_dir=tmp_path / "out",
                                         progress=False, intervals=IntervalOptions(resamples=0)))
    assert not (tmp_path / "out" / "results.json").exists()
    (pairs,) = load_benchmarks(["long-rewardbench"], DataOptions(data_dir=str(data_dir), subsets=tuple(f"{t}/PairWise" for t in TASKS)))
    check_protocols(pairs.examples)  # pairs alone need no ranking prompt


@pytest.fixture
def ranking_judge(judge_data_dir, long_rm_checkout, tmp_path) -> Path:
    """A tiny judge taught, on these items' own judge chats, to answer every comparison with the ranking ``[[B>A>C]]``: a pair's
    answer holds no verdict, a set's ranks two of two, three of three or three of four positions."""
    from rm_mlflow.data.loading import load_benchmarks
    from rm_mlflow.judges.protocols import JUDGE_PROTOCOLS
    from rm_mlflow.scoring.settings import JudgeSettings
    from rm_mlflow.tiny_models import build_tiny_judge

    (loaded,) = load_benchmarks(["long-rewardbench"], DataOptions(data_dir=str(judge_data_dir)))
    chats = [call.chat for example in loaded.examples for call in JUDGE_PROTOCOLS.get("long-rewardbench").plan(example, JudgeSettings(), None)]
    return build_tiny_judge(tmp_path / "ranking-judge", verdict="[[B>A>C]]", comparisons=chats)


@pytest.mark.parametrize("judge", ["tiny_judge", "ranking_judge"])
def test_a_judges_figures_equal_upstreams_evaluate(judge, request, judge_data_dir, long_rm_checkout, tmp_path, monkeypatch):
    """The tiny judges' raw answers, written as upstream's generation output, through evaluate() (is_disrm False): the authors'
    own with their checkout, else its transcription."""
    run_evaluation(EvaluationRequest(model=str(request.getfixturevalue(judge)), model_kind="generative", datasets=["long-rewardbench"],
                                     data=DataOptions(data_dir=str(judge_data_dir)), settings=JUDGE_SETTINGS, output_dir=tmp_path / "out",
                                     progress=False, intervals=IntervalOptions(resamples=0)))
    benchmark = read_results(tmp_path / "out" / "results.json").benchmarks["long-rewardbench"]
    table = pd.read_parquet(tmp_path / "out" / "long-rewardbench_scores.parquet")

    def raw_answer(row, order: list[int]) -> str:
        assert list(row.judge_orders) == [",".join(map(str, order))]  # asked in upstream's own order
        return row.judge_outputs[0]

    answers = _answers(table, judge_data_dir, raw_answer)
    ours = _ours(benchmark)
    if REAL_CHECKOUT:
        theirs = _upstreams_own_evaluate(answers, tmp_path, monkeypatch, is_disrm=False)
        assert {name: theirs[name] for name in ours} == pytest.approx(ours, abs=1e-12)
    else:
        kind = lambda answer: "rank" if answer["tasktype"] == "BestOfN" else "pair"  # noqa: E731
        assert _transcribed_evaluate(answers, lambda answer: _transcribed_extract_judgement(answer["output"], kind(answer))) == ours
    assert set(table["judge_prompt_set"]) == {"long-rewardbench-authors"}
    ranked = table["subset"].str.endswith("/BestOfN")
    if judge == "tiny_judge":  # "[[A]]": a pair is right exactly when its chosen answer is shown first; a set has no ranking
        assert sorted(set(table.loc[~ranked, "correct"])) == [0.0, 1.0] and set(table.loc[ranked, "judge_unparsed"]) == {1}
    else:  # "[[B>A>C]]": no pair verdict; a set's credit is the share of the first three shown positions in their true place
        sets = table[ranked & (table["judge_unparsed"] == 0)]
        assert set(table.loc[~ranked, "judge_unparsed"]) == {1} and len(sets) >= 0.8 * ranked.sum()
        assert any(0 < credit < 1 for credit in sets["correct"])  # partial credit for a set ranked partly right
    print(f"\n{judge} on {len(answers)} items, {int(table['judge_unparsed'].sum())} without a verdict; figures equal evaluate()'s: {ours}")
