"""Long-RewardBench's judge path, as its authors run a generative reward model.

Source: github.com/LCM-Lab/Long-RM, ``evaluate/evaluating/longreward_bench/`` (``preprocess.py``
``LongRewardBenchPreprocess.preprocess``, ``utils/prompt.py``, ``evaluator.py`` ``evaluate``).

- **Question**: the row's prompt messages' contents joined by blank lines (``data['task_prompt']``).
- **Order**: the answers in the row's presentation order, the benchmark's own seeded shuffle
  (:func:`rm_mlflow.data.benchmarks.long_rewardbench.presentation`); one call per item, whatever ``--judge_orders``
  and ``--judge_samples`` say.
- **Pairs** (``get_prompt(type="pair")``): a system turn and a user turn. The system prompt is, character for
  character, rewardbench's multi-turn pair prompt and the user turn its single-turn pair template
  (:mod:`rm_mlflow.judges.prompts`, Apache-2.0). Verdict (``extract_judgement``): ``[[A]]`` anywhere ranks A first,
  else ``[[B]]`` ranks B first, else none.
- **Best-of-N sets** (``get_prompt(type="rank")``, also for a set of two): the user turn is the same template with
  more answers (``Assistant C``, ``D``); the system prompt is Long-RM's own ``RANK_SYSTEM_PROMPT``. The repository
  has no license, so that text is not shipped: it is read, as text (never run), from a checkout of Long-RM named by
  ``RM_MLFLOW_LONG_RM``. Without one, a judge is refused before its weights load unless only pairs are asked for.
  Verdict: upstream's ranking pattern, letters to shown positions.
- **Credit** (``evaluator.py`` ``compare_shuffled``): the share of shown positions whose predicted rank is the true
  one; no verdict earns 0.

Differences: upstream cuts a prompt of 131,072 tokens or more to its first 65,536 and last 65,531 tokens; here a
prompt past ``--max_length`` (by default the judge's position limit less ``--max_new_tokens``) follows
``--truncation``. Upstream renders the chat with ``enable_thinking=False``; here the judge's template renders it as
it does every judge chat.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from rm_mlflow.data.benchmarks.long_rewardbench import ORDER
from rm_mlflow.data.benchmarks.long_rewardbench import PROTOCOL as NAME
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.errors import OptionError
from rm_mlflow.judges.backends.base import Generation
from rm_mlflow.judges.base import JudgeCall, Verdict
from rm_mlflow.judges.prompts import MULTI_TURN_SYSTEM, PAIR_TEMPLATE, judge_messages, parse_choice
from rm_mlflow.judges.protocols import Draw, JudgeProtocol, register_protocol
from rm_mlflow.scoring.base import ExampleScores
from rm_mlflow.scoring.settings import JudgeSettings

CHECKOUT_ENV = "RM_MLFLOW_LONG_RM"
PROMPT_FILE = Path("evaluate", "evaluating", "longreward_bench", "utils", "prompt.py")
RANKING = re.compile(r"\[[\w\s]+(?:\s*>\s*[\w\s]+)+\]")  # utils/prompt.py extract_judgement


def is_ranked(example: PreferenceExample) -> bool:
    """A best-of-N item, which upstream asks for a ranking whatever its size."""
    return example.subset.endswith("/BestOfN")


@cache
def _rank_system_prompt(checkout: str) -> str:
    path = Path(checkout).expanduser() / PROMPT_FILE
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as error:
        raise OptionError(f"{CHECKOUT_ENV}={checkout}: cannot read {PROMPT_FILE} there ({error.__class__.__name__}); "
                          "point it at a checkout of github.com/LCM-Lab/Long-RM") from None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(target, ast.Name) and target.id == "RANK_SYSTEM_PROMPT" for target in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                and "{number}" in node.value.value and "{pattern}" in node.value.value):
            return node.value.value
    raise OptionError(f"{path}: no RANK_SYSTEM_PROMPT string with {{number}} and {{pattern}} in it; is this Long-RM's prompt.py?")


def letters(size: int) -> list[str]:
    """``A``, ``B``, ... for ``size`` answers (upstream's ``chr(ord('A') + i)``)."""
    return [chr(ord("A") + i) for i in range(size)]


def ranking_template() -> str:
    """Long-RM's ``RANK_SYSTEM_PROMPT``, from the checkout at ``RM_MLFLOW_LONG_RM``."""
    checkout = os.environ.get(CHECKOUT_ENV)
    if not checkout:
        raise OptionError(f"a judge ranks Long-RewardBench's best-of-N items with Long-RM's own prompt, which rm-mlflow does not ship "
                          f"(the repository has no license): set {CHECKOUT_ENV} to a checkout of github.com/LCM-Lab/Long-RM")
    return _rank_system_prompt(checkout)


def rank_system_prompt(size: int) -> str:
    """``get_system_prompt(size, "rank")``: the ranking template for ``size`` answers."""
    return ranking_template().format(number=size, pattern=f"[[{'>'.join(letters(size))}]]")


def user_prompt(question: str, answers: Sequence[str]) -> str:
    """``get_user_prompt``: rewardbench's pair template, then one block per further answer."""
    text = PAIR_TEMPLATE.format(question=question, answer_a=answers[0], answer_b=answers[1])
    for letter, answer in zip(letters(len(answers))[2:], answers[2:], strict=True):
        text += f"\n\n[The Start of Assistant {letter}'s Answer]\n{answer}\n[The End of Assistant {letter}'s Answer]"
    return text


def plan(example: PreferenceExample, settings: JudgeSettings, draw: Draw) -> list[JudgeCall]:
    """One call: the item's answers in its presentation order under the pair or the ranking prompt."""
    shown = tuple(example.metadata[ORDER])
    responses = example.responses()
    question = "\n\n".join(str(message["content"]) for message in example.prompt)
    ranked = is_ranked(example)
    system = rank_system_prompt(len(shown)) if ranked else MULTI_TURN_SYSTEM
    chat = judge_messages(system, user_prompt(question, [responses[i] for i in shown]), merge_system=settings.no_system_prompt)
    return [JudgeCall(chat, "rank" if ranked else "pair", shown, NAME)]


def predicted_ranks(call: JudgeCall, text: str) -> list[int]:
    """``extract_judgement``: the rank the judge gives each shown position (``[]`` when its answer holds none)."""
    if call.form == "pair":
        return {"A": [0, 1], "B": [1, 0]}.get(parse_choice(text), [])
    if len(text.split(">")) > 10:
        return []
    try:
        marks = RANKING.findall(text)[0].split(">")
        for noise in ("assistant", "Assistant", ":", " "):
            marks = [mark.replace(noise, "") for mark in marks]
        marks[0], marks[-1] = marks[0].strip("["), marks[-1].strip("]")
        positions = [ord(mark) - ord("A") for mark in marks]
        return [positions.index(position) for position in range(len(positions))]
    except (IndexError, TypeError, ValueError):  # no match, a mark that is not one letter, a letter missing from the ranking
        return []


def parse(call: JudgeCall, answer: Generation) -> Verdict:
    """The predicted ranks of the shown positions, as JSON (``[1, 0]``); None when the answer holds none."""
    ranks = predicted_ranks(call, answer.text)
    return json.dumps(ranks) if ranks else None


def aggregate(example: PreferenceExample, calls: Sequence[JudgeCall], answers: Sequence[Generation]) -> ExampleScores:
    """``compare_shuffled``: the share of shown positions ranked right, 0 without a verdict."""
    (call,), (answer,) = calls, answers
    ranks = predicted_ranks(call, answer.text)
    credit = sum(int(truth == guess) for truth, guess in zip(call.shown, ranks, strict=False)) / len(call.shown) if ranks else 0.0
    details = {
        "judge_orders": [",".join(map(str, call.shown))],
        "judge_verdicts": [json.dumps(ranks) if ranks else "error"],
        "judge_outputs": [answer.text],
        "judge_prompt_tokens": [answer.prompt_tokens],
        "judge_completion_tokens": [answer.completion_tokens],
        "judge_judgments": 1,
        "judge_unparsed": int(not ranks),
        "judge_ties": 0,
    }
    return ExampleScores(chosen=(credit,), rejected=(1.0 - credit,) * len(example.rejected), details=details, credit=credit)


def preflight(examples: Sequence[PreferenceExample]) -> None:
    """Before a judge's weights load: the ranking prompt can be read when there are best-of-N items to rank."""
    ranked = sum(map(is_ranked, examples))
    if ranked:
        try:
            ranking_template()
        except OptionError as error:
            raise OptionError(f"long-rewardbench: {ranked} best-of-N items: {error}; or keep only pairs with --subsets "
                              f"({','.join(sorted({e.subset for e in examples if not is_ranked(e)}))})") from None


LONG_REWARDBENCH = register_protocol(JudgeProtocol(NAME, plan=plan, parse=parse, aggregate=aggregate, prompt_set="long-rewardbench-authors",
                                                   preflight=preflight))
