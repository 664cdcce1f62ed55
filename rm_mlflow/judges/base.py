"""The judge interface: plan what to ask per example, ask a backend, parse each answer, aggregate verdicts into credit.

A judge is not a forward-pass model: it has no batches of token ids and no float per unit. It plans judge
chats per example, asks them all at once (each distinct chat once, the answers kept on disk as they arrive),
and turns the answers of one example's calls into that example's credit. :func:`judge_examples` is the
pipeline's scoring strategy for a :class:`Judge`, as :func:`rm_mlflow.scoring.engine.score_examples` is for a
:class:`~rm_mlflow.scoring.base.RewardModel`; the answers travel as values from :meth:`Judge.ask` to
:meth:`Judge.aggregate`, never as state on the judge.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.judges.backends.base import Generation
from rm_mlflow.scoring.base import Conversation, ExampleScores, ScoredExamples, Scorer, Work
from rm_mlflow.scoring.distributed import SINGLE_PROCESS, ProcessGroup

Verdict = str | int | None  # a letter (``A``), a rating (1-10), or None when the answer holds none


@dataclass(frozen=True)
class JudgeCall:
    """One request to the judge: its chat, its form (``pair``, ``four``, ``rank``, ``rating``) and the responses shown, in order (A, B, ...).

    ``protocol`` names the benchmark authors' judge protocol that reads the answer (None: rewardbench-gen's rules).
    """

    chat: tuple[ChatMessage, ...]
    form: str
    shown: tuple[int, ...]  # indices into example.responses(): chosen first, then rejected
    protocol: str | None = None


@dataclass(frozen=True)
class Judgments:
    """The judge's answers, aligned with the chats asked, and the work it took."""

    answers: list[Generation]
    work: Work


class Judge(Scorer):
    """A generative judge: :meth:`plan`, :meth:`ask`, :meth:`parse`, :meth:`aggregate`."""

    @abstractmethod
    def plan(self, example: PreferenceExample) -> list[JudgeCall]:
        """Every call ``example`` needs, in a fixed order (the same on every run with the same settings)."""

    @abstractmethod
    def ask(
        self, chats: Sequence[Conversation], *, labels: Sequence[str], cache: Any, progress: bool, group: ProcessGroup = SINGLE_PROCESS
    ) -> Judgments:
        """One answer per chat (each distinct chat asked once); ``labels`` name the chats in errors.

        In a data-parallel ``group`` each process asks its share and every process gets all answers.
        """

    @abstractmethod
    def parse(self, call: JudgeCall, answer: Generation) -> Verdict:
        """The verdict in one answer, None when it holds none."""

    @abstractmethod
    def aggregate(self, example: PreferenceExample, calls: Sequence[JudgeCall], answers: Sequence[Generation]) -> ExampleScores:
        """The example's credit and table columns from the answers to its calls."""


def judge_examples(
    judge: Judge,
    examples: Sequence[PreferenceExample],
    names: Sequence[str],
    *,
    cache: Any = None,
    progress: bool = True,
    group: ProcessGroup = SINGLE_PROCESS,
) -> ScoredExamples:
    """Plan every example once, ask all the calls together, and aggregate each example's answers.

    ``names`` name the examples in errors (``rewardbench id 12``); a call is named ``... judgment 2``.
    """
    plans = [judge.plan(example) for example in examples]
    chats, labels = [], []
    for calls, name in zip(plans, names, strict=True):
        for index, call in enumerate(calls):
            chats.append(call.chat)
            labels.append(f"{name} judgment {index + 1}")
    judgments = judge.ask(chats, labels=labels, cache=cache, progress=progress, group=group)
    scores, tokens, start = [], [], 0
    for example, calls in zip(examples, plans, strict=True):
        answers = judgments.answers[start : start + len(calls)]
        start += len(calls)
        scores.append(judge.aggregate(example, calls, answers))
        tokens.append([answer.prompt_tokens or 0 for answer in answers])
    return ScoredExamples(scores=scores, tokens=tokens, work=judgments.work)
