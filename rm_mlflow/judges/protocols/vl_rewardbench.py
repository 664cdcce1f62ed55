"""VL-RewardBench's judge path, as its authors run it.

Source: github.com/vl-rewardbench/VL_RewardBench, the same files the MIT-licensed dataset repository
``MMInstruction/VL-RewardBench`` carried under ``inference/``.

- **Prompt** (``prompt.py`` ``prompt``): one user turn, the authors' text with the query and the two answers in
  the drawn order, the ``<image>`` line break removed (``inference_hf.py`` ``process_item``), then the image
  (``inference_hf.py`` ``vllm_openai``: a text part, then an ``image_url`` part).
- **Order**: ``random_number`` is 0 (the published order) or 1 (swapped); upstream draws it with ``random.choice``,
  we draw it from ``--judge_seed`` and the item, so runs repeat.
- **Verdict** (``inference_hf.py`` ``process_item``): the authors' pattern, on the answer with newlines and ``*``
  removed; a match naming the rejected answer's position is ``reject``, any other match ``agree``, no match
  ``doesntMatch``.
- **Samples** (``--judge_samples k``): k calls per item, each with its own drawn order; the item's votes go to
  ``cal.py`` ``classify`` (the benchmark's majority rule). Upstream samples at temperature 0.2; our decoding is greedy,
  so samples of the same order give the same answer and are asked once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rm_mlflow.data.benchmarks.vl_rewardbench import PROTOCOL as NAME
from rm_mlflow.data.benchmarks.vl_rewardbench import PUBLISHED_ORDER
from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.judges.backends.base import Generation
from rm_mlflow.judges.base import JudgeCall, Verdict
from rm_mlflow.judges.protocols import Draw, JudgeProtocol, register_protocol
from rm_mlflow.scoring.base import ExampleScores
from rm_mlflow.scoring.settings import JudgeSettings

VERDICT_PATTERN = re.compile(r"(?:Overall Judgment|Therefore)\s*.*\s*-*\s*Answer\s*(\d+)\s*is\s*(?:the\s*)?(?:slightly\s*)?better", re.IGNORECASE)


def prompt_text(query: str, answers: Sequence[str]) -> str:
    """``prompt.py`` ``prompt`` for the answers in the order shown, the ``<image>`` line break removed as ``process_item`` does."""
    text = f''' You are a highly capable multimodal AI assistant tasked with evaluating answers to visual questions. Please analyze the following image and question, then determine which of the two provided answers is better.

Question: {query}

Answer 1: {answers[0]}

Answer 2: {answers[1]}

Please evaluate both answers based on the following criteria:
1. Accuracy: How well does the answer align with the visual information in the image?
2. Completeness: Does the answer fully address all aspects of the question?
3. Clarity: Is the answer easy to understand and well-articulated?
4. Relevance: Does the answer directly relate to the question and the image?

After your evaluation, please:
1. Explain your reasoning for each criterion.
2. Provide an overall judgment on which answer is better (Answer 1 or Answer 2). For example: Overall Judgment: Answer X is better.

Your response should be structured and detailed, demonstrating your understanding of both the visual and textual elements of the task.'''  # noqa: E501 - the authors' text, line for line
    return text.replace("<image>\n", "")


def plan(example: PreferenceExample, settings: JudgeSettings, draw: Draw) -> list[JudgeCall]:
    """``judge_samples`` calls, each in the order drawn for its sample: the prompt as a text part, then the image."""
    published = tuple(example.metadata[PUBLISHED_ORDER])
    responses = example.responses()
    calls = []
    for sample in range(settings.samples):
        shown = published if draw(example, 2, f"sample {sample}") == 0 else published[::-1]
        parts = ({"type": "text", "text": prompt_text(str(example.prompt[-1]["content"]), [responses[i] for i in shown])},
                 *({"type": "image", "image": image} for image in example.images))
        calls.append(JudgeCall((ChatMessage(role="user", content=parts),), "pair", shown, NAME))  # type: ignore[typeddict-item]
    return calls


def parse(call: JudgeCall, answer: Generation) -> Verdict:
    """The answer number the authors' pattern finds (None when it finds none)."""
    match = VERDICT_PATTERN.search(answer.text.replace("\n", "").replace("*", ""))
    return int(match.group(1)) if match else None


def aggregate(example: PreferenceExample, calls: Sequence[JudgeCall], answers: Sequence[Generation]) -> ExampleScores:
    """One vote per sample: -1 when the verdict names the rejected answer's position, +1 for any other match, 0 for none."""
    rejected = len(example.chosen)
    verdicts = [parse(call, answer) for call, answer in zip(calls, answers, strict=True)]
    votes = tuple(0 if verdict is None else -1 if verdict == call.shown.index(rejected) + 1 else 1
                  for call, verdict in zip(calls, verdicts, strict=True))
    statuses = ["doesntMatch" if vote == 0 else "agree" if vote > 0 else "reject" for vote in votes]
    agreed = votes.count(1) / len(votes)
    details = {
        "judge_orders": ["published" if call.shown == tuple(example.metadata[PUBLISHED_ORDER]) else "swapped" for call in calls],
        "judge_verdicts": [str(verdict) if verdict is not None else "error" for verdict in verdicts],
        "judge_status": statuses,
        "judge_outputs": [answer.text for answer in answers],
        "judge_prompt_tokens": [answer.prompt_tokens for answer in answers],
        "judge_completion_tokens": [answer.completion_tokens for answer in answers],
        "judge_judgments": len(calls),
        "judge_unparsed": votes.count(0),
        "judge_ties": 0,
    }
    return ExampleScores(chosen=(agreed,), rejected=(1.0 - agreed,), details=details, votes=votes)


VL_REWARDBENCH = register_protocol(JudgeProtocol(NAME, plan=plan, parse=parse, aggregate=aggregate, prompt_set="vl-rewardbench-authors"))
