"""Generative reward models (LLM-as-a-judge), as rewardbench's ``run_generative.py`` and ``run_generative_v2.py`` judge.

What a judge is asked, per example:

* a pair (one chosen, one rejected): MT-Bench pair-v2 without tie, ``[[A]]`` or ``[[B]]`` (the
  multi-turn variant for conversations); winner 1, loser 0, no verdict 0.5;
* one chosen and three rejected (RewardBench 2): the four-answer prompt, the chosen answer swapped into
  a drawn position; right 1, wrong 0, no verdict 0.25;
* other best-of-N rows: chosen against each rejected answer as pairs; the example counts as won only
  when every pair is won (its credit is the smallest pair credit);
* rows whose benchmark fixes the games (JudgeBench: the published A/B order, then the swapped one): exactly
  those pair calls, whatever ``judge_orders`` says;
* ``judge_mode="ratings"`` (rewardbench's ``--score_w_ratings``), rows a benchmark marks for rating
  (RewardBench 2's Ties, with its own prompt) and rows without a rejected answer: each answer rated 1-10.
  A pair with equal ratings or a missing rating is a tie (0.5); best-of-N credit is 1/k when the chosen
  answer shares the top rating with k answers (1/N when no rating parsed).

Unlike rewardbench, the A/B order is drawn from ``judge_seed`` and the example (runs repeat exactly),
``judge_orders="both"`` judges every order (credit averaged, position consistency reported), and
unparsed verdicts are counted per subset, with a warning above ``judge_warn_share``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rm_mlflow.data.types import GAME_ORDERS, JUDGE_PROTOCOL, RATE_EACH_ANSWER, PreferenceExample
from rm_mlflow.errors import ModelLoadError, OptionError, SequenceTooLongError
from rm_mlflow.judges.backends import Generation, JudgeBackend, build_backend, choose_backend
from rm_mlflow.judges.backends.base import no_room_message
from rm_mlflow.judges.backends.endpoint import ENDPOINT_FILE
from rm_mlflow.judges.base import Judge, JudgeCall, Judgments, Verdict
from rm_mlflow.judges.prompts import LETTERS, four_prompt, judge_messages, pair_prompt, parse_choice, parse_rating, rating_prompt
from rm_mlflow.judges.protocols import JUDGE_PROTOCOLS, check_protocols
from rm_mlflow.metrics.outcomes import metric_slug
from rm_mlflow.scoring.base import Conversation, ExampleScores, MarginReading, Review, Work, conversation_key
from rm_mlflow.scoring.distributed import SINGLE_PROCESS, ProcessGroup
from rm_mlflow.scoring.hf import load_config, require_trust
from rm_mlflow.scoring.lengths import TooLongAt, position_limit
from rm_mlflow.scoring.loaders import ModelLoader, register_loader
from rm_mlflow.scoring.settings import ScoringSettings
from rm_mlflow.scoring.vision import is_vision_language

logger = logging.getLogger(__name__)
PROMPT_SET = "rewardbench-mtbench-pair-v2"  # and generative_v2's four-answer and ratings prompts
NO_VERDICT_CREDIT = {"pair": 0.5, "four": 0.25}
# settings that change no answer: left out of the judgment cache's fingerprint, so changing them keeps paid-for judgments
_MACHINE_ONLY = ("batch_size", "max_tokens_per_batch", "judge_concurrency", "judge_warn_share", "judge_backend", "tensor_parallel_size")


def chat_key(chat: Conversation) -> str:
    """The cache key of a judge chat (a text chat's is what it always was: its turns' roles and contents as JSON)."""
    return hashlib.sha256(json.dumps(conversation_key(chat)).encode()).hexdigest()


class GenerativeJudge(Judge):
    """An LLM judge behind a :class:`JudgeBackend`: rewardbench-gen's prompts, each distinct chat answered once and kept on disk."""

    setting_groups = ("judge",)

    def margin_reading(self) -> MarginReading:
        """With ratings, calibration reads sigmoid of the rating gap; a judge's verdicts are not on any logit scale."""
        if self.settings.judge.mode == "ratings":
            return MarginReading("the rating gap", least=1.0)  # an unparsed rating is recorded as -1
        return MarginReading(None, "a judge's verdicts are not on a logit scale")

    def __init__(self, backend: JudgeBackend, settings: ScoringSettings, *, name: str) -> None:
        self.backend = backend
        self.settings = settings
        self.name = name
        self.device = backend.device

    # -- what to ask -------------------------------------------------------------------------------------------
    def plan(self, example: PreferenceExample) -> list[JudgeCall]:
        """Every judge call ``example`` needs, in a fixed order (the same on every run with the same seed)."""
        if (protocol := example.metadata.get(JUDGE_PROTOCOL)) is not None:  # the benchmark authors' own judge path
            return JUDGE_PROTOCOLS.get(protocol).plan(example, self.settings.judge, self._draw)
        responses = example.responses()
        variant = example.metadata.get(RATE_EACH_ANSWER)
        if variant or self.settings.judge.mode == "ratings" or not example.rejected:
            return [self._call(rating_prompt(example.prompt, text, variant or "standard"), "rating", (i,)) for i, text in enumerate(responses)]
        if games := example.metadata.get(GAME_ORDERS):  # the benchmark's own games (JudgeBench), not a drawn order
            return [self._call(pair_prompt(example.prompt, responses[a], responses[b]), "pair", (a, b)) for a, b in games]
        both = self.settings.judge.orders == "both"
        if len(example.chosen) == 1 and len(example.rejected) == 3:
            calls = []
            for position in range(4) if both else [self._draw(example, 4)]:
                shown = [0, 1, 2, 3]
                shown[0], shown[position] = shown[position], shown[0]  # rewardbench swaps the chosen answer into the drawn slot
                calls.append(self._call(four_prompt(example.prompt, [responses[i] for i in shown]), "four", tuple(shown)))
            return calls
        calls = []
        for c in range(len(example.chosen)):
            for r in range(len(example.chosen), len(responses)):
                for chosen_first in (True, False) if both else [self._draw(example, 2, f"{c}:{r}") == 0]:
                    shown = (c, r) if chosen_first else (r, c)
                    calls.append(self._call(pair_prompt(example.prompt, responses[shown[0]], responses[shown[1]]), "pair", shown))
        return calls

    def _call(self, prompt: tuple[str, str], form: str, shown: tuple[int, ...]) -> JudgeCall:
        system, user = prompt
        return JudgeCall(judge_messages(system, user, merge_system=self.settings.judge.no_system_prompt), form, shown)

    def _draw(self, example: PreferenceExample, n: int, salt: str = "") -> int:
        seed = f"{self.settings.judge.seed}\x1f{example.subset}\x1f{example.id}\x1f{salt}"
        return int(hashlib.sha256(seed.encode()).hexdigest(), 16) % n

    # -- asking ------------------------------------------------------------------------------------------------
    def ask(
        self, chats: Sequence[Conversation], *, labels: Sequence[str], cache: Any, progress: bool, group: ProcessGroup = SINGLE_PROCESS
    ) -> Judgments:
        """Answer each distinct chat once: from the cache or the backend (each answer kept on disk as it arrives).

        In a data-parallel ``group`` each process asks its share (balanced by prompt length) and all answers are exchanged.
        """
        started = time.perf_counter()
        keys = [chat_key(chat) for chat in chats]
        first: dict[str, int] = {}
        for position, key in enumerate(keys):
            first.setdefault(key, position)
        answers: dict[str, Generation] = {}
        for key in first:
            if cache is not None and (record := cache.get_record(key)) is not None:
                answers[key] = Generation(**record)
        from_cache = len(answers)
        todo = [key for key in first if key not in answers]
        mine = todo
        if group.distributed:
            # every process must see the same work left: an answer one process has not read is asked again
            left = set().union(*group.gather(todo))
            todo = [key for key in first if key in left]
            shares = group.take([sum(len(m["content"]) for m in chats[first[key]]) for key in todo])
            mine = [todo[i] for i in sorted(shares)]

        def keep(index: int, generation: Generation) -> None:
            answers[mine[index]] = generation
            if cache is not None:
                cache.put_record(mine[index], asdict(generation))

        with tqdm(total=len(mine), desc="judging", unit="judgment", disable=None if progress and mine else True, dynamic_ncols=True) as bar:
            try:
                self.backend.generate([chats[first[key]] for key in mine], keep, progress=bar.update)
            except TooLongAt as error:
                raise SequenceTooLongError(f"{labels[first[mine[error.index]]] if labels else mine[error.index]}: {error}") from None
        if group.distributed:
            for theirs in group.gather({key: asdict(answers[key]) for key in mine}):
                answers.update((key, Generation(**answer)) for key, answer in theirs.items())
        distinct = [answers[key] for key in first]
        fresh = [answers[key] for key in todo]
        work = Work(
            distinct_conversations=len(first),
            cached_conversations=from_cache,
            truncated_conversations=sum(answer.truncated for answer in distinct),
            seconds=time.perf_counter() - started,
            tokens=sum(answer.prompt_tokens or 0 for answer in distinct),
            scored_tokens=sum((answer.prompt_tokens or 0) + (answer.completion_tokens or 0) for answer in fresh),
            scored_conversations=len(todo),
        )
        return Judgments(answers=[answers[key] for key in keys], work=work)

    # -- reading the answers -----------------------------------------------------------------------------------
    def parse(self, call: JudgeCall, answer: Generation) -> Verdict:
        """A rating (1-10) for a rating call, else the letter of the answer the judge picked; None when the answer holds none."""
        if call.protocol is not None:
            return JUDGE_PROTOCOLS.get(call.protocol).parse(call, answer)
        if call.form == "rating":
            return parse_rating(answer.text)
        verdict = parse_choice(answer.text, LETTERS[: len(call.shown)])
        return None if verdict == "error" else verdict

    def aggregate(self, example: PreferenceExample, calls: Sequence[JudgeCall], answers: Sequence[Generation]) -> ExampleScores:
        """Credit from the verdicts (see the module docstring), and every answer with its verdict as table columns."""
        if calls and calls[0].protocol is not None:
            protocol = JUDGE_PROTOCOLS.get(calls[0].protocol)
            scores = protocol.aggregate(example, calls, answers)
            return replace(scores, details=scores.details | {"judge_prompt_set": protocol.prompt_set})
        verdicts = [self.parse(call, answer) for call, answer in zip(calls, answers, strict=True)]
        n = len(example.chosen)
        details: dict[str, Any] = {
            "judge_orders": [",".join(_response_label(example, i) for i in call.shown) for call in calls],
            "judge_verdicts": [str(v) if v is not None else "error" for v in verdicts],
            "judge_outputs": [answer.text for answer in answers],
            "judge_prompt_tokens": [answer.prompt_tokens for answer in answers],
            "judge_completion_tokens": [answer.completion_tokens for answer in answers],
            "judge_judgments": len(calls),
            "judge_unparsed": sum(v is None for v in verdicts),
            "judge_prompt_set": PROMPT_SET,
        }
        if calls[0].form == "rating":
            ratings = [float(v) if v is not None else -1.0 for v in verdicts]
            credit, ties = _rating_credit(example, ratings)
            details["judge_ties"] = ties
            return ExampleScores(chosen=tuple(ratings[:n]), rejected=tuple(ratings[n:]), details=details, credit=credit)
        winners = [call.shown[LETTERS.index(v)] if v is not None else None for call, v in zip(calls, verdicts, strict=True)]
        credits = [NO_VERDICT_CREDIT[call.form] if w is None else float(w < n) for call, w in zip(calls, winners, strict=True)]
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, call in enumerate(calls):
            groups.setdefault(tuple(sorted(call.shown)), []).append(index)
        credit = min(sum(credits[i] for i in members) / len(members) for members in groups.values())
        details["judge_ties"] = 0
        extras = {}
        if self.settings.judge.orders == "both":
            consistent = [all(winners[i] is not None and winners[i] == winners[members[0]] for i in members) for members in groups.values()]
            extras["position_consistency"] = sum(consistent) / len(consistent)
        votes = tuple(0 if w is None else 1 if w < n else -1 for w in winners)
        return ExampleScores(chosen=(credit,), rejected=(1.0 - credit,) * len(example.rejected), extras=extras, details=details, credit=credit,
                             votes=votes)

    def review(self, examples: Any) -> Review:
        """Judgments, unparsed verdicts and rating ties per subset (figures and summary lines), with a warning where too many went unparsed."""
        review = Review()
        if examples is None or "judge_judgments" not in getattr(examples, "columns", ()):
            return review
        totals = examples.groupby("subset")[["judge_judgments", "judge_unparsed", "judge_ties"]].sum()
        judgments, unparsed, ties = (int(totals[column].sum()) for column in ("judge_judgments", "judge_unparsed", "judge_ties"))
        review.figures |= {"judge/judgments": float(judgments), "judge/unparsed": float(unparsed), "judge/ties": float(ties),
                           "judge/unparsed_share": unparsed / judgments if judgments else 0.0}
        consistency = examples.groupby("subset")["position_consistency"].mean() if "position_consistency" in examples else None
        noisy = []
        for subset, row in totals.iterrows():
            slug, share = metric_slug(str(subset)), row["judge_unparsed"] / row["judge_judgments"] if row["judge_judgments"] else 0.0
            review.figures |= {f"judge/unparsed/{slug}": float(row["judge_unparsed"]), f"judge/unparsed_share/{slug}": float(share),
                               f"judge/ties/{slug}": float(row["judge_ties"])}
            if consistency is not None:
                review.figures[f"judge/position_consistency/{slug}"] = float(consistency[subset])
            if share > self.settings.judge.warn_share:
                noisy.append(f"{subset} {int(row['judge_unparsed'])}/{int(row['judge_judgments'])}")
        line = f"judge: {judgments} judgments, {unparsed} without a verdict ({100 * unparsed / max(judgments, 1):.1f}%), {ties} rating ties"
        if "judge_prompt_set" in examples:  # a benchmark's authors' own prompts, or rewardbench-gen's
            line += f"; prompts: {', '.join(sorted(examples['judge_prompt_set'].unique()))}"
        if consistency is not None:
            line += f"; position consistency {examples['position_consistency'].mean():.4f}"
        review.lines.append(line)
        if noisy:
            review.warnings.append(
                f"the judge gave no parseable verdict in more than {100 * self.settings.judge.warn_share:.0f}% of the judgments of "
                f"{len(noisy)} subset(s) ({'; '.join(noisy[:5])}{'; ...' if len(noisy) > 5 else ''}); each counts as the benchmark's "
                "no-verdict rule has it (a tie under rewardbench's): check the chat template, --max_new_tokens and the judge's raw answers "
                "in the per-example table (rewardbench issue #252)"
            )
        return review

    def max_positions(self) -> int | None:
        """The local judge's position limit (None behind an endpoint: the server enforces its own)."""
        positions = getattr(self.backend, "max_positions", None)
        return positions() if positions is not None else None

    @contextmanager
    def with_max_length(self, max_length: int) -> Iterator[GenerativeJudge]:
        """As for any scorer; the backend, which bounds the prompts, reads the same settings."""
        with super().with_max_length(max_length):
            saved, self.backend.settings = self.backend.settings, self.settings
            try:
                yield self
            finally:
                self.backend.settings = saved

    # -- identity ----------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Kind, prompt set, generation settings and the backend (an endpoint by address and model name, never its key)."""
        return {
            "name": self.name,
            "kind": "generative",
            "leaderboard_type": "Generative",
            "prompt_set": PROMPT_SET,
            "judge_mode": self.settings.judge.mode,
            "judge_orders": self.settings.judge.orders,
            "judge_seed": self.settings.judge.seed,
            "judge_samples": self.settings.judge.samples,
            "max_new_tokens": self.settings.judge.max_new_tokens,
            "device": self.device,
            **self.backend.describe(),
        }

    def cache_fingerprint(self) -> dict[str, Any]:
        """The judge's identity and the settings that change an answer (batching and concurrency do not)."""
        fingerprint = super().cache_fingerprint()
        fingerprint["settings"] = {key: value for key, value in fingerprint["settings"].items() if key not in _MACHINE_ONLY}
        return fingerprint


def _response_label(example: PreferenceExample, index: int) -> str:
    n, k = len(example.chosen), len(example.rejected)
    if index < n:
        return "chosen" if n == 1 else f"chosen {index + 1}"
    return "rejected" if k == 1 else f"rejected {index - n + 1}"


def _rating_credit(example: PreferenceExample, ratings: list[float]) -> tuple[float | None, int]:
    """(credit, ties) of rated answers; no credit where the benchmark reads the ratings itself (rated rows, instructions)."""
    if example.metadata.get(RATE_EACH_ANSWER) or not example.rejected:
        return None, 0
    n = len(example.chosen)
    if example.kind == "pairwise":
        chosen, rejected = ratings
        if chosen < 0 or rejected < 0 or chosen == rejected:  # rewardbench: a missing or equal rating is "error", worth 0.5
            return 0.5, int(chosen == rejected and chosen >= 0)
        return float(chosen > rejected), 0
    valid = [r for r in ratings if r >= 0]
    if not valid:
        return 1.0 / len(ratings), 0
    top = [i for i, r in enumerate(ratings) if r == max(valid)]
    return sum(i < n for i in top) / len(top), int(len(top) > 1)


def check_judge_options(settings: ScoringSettings) -> None:
    """Before anything loads: the backend the settings pick accepts them (an endpoint's key variable is set, say)."""
    choose_backend(settings)


def check_local_judge(model: str, settings: ScoringSettings) -> None:
    """Before a local judge's weights load: its config (remote code refused unless trusted) leaves room for answers of ``max_new_tokens``.

    An endpoint judge's model is a name on a server: there is nothing to read here.
    """
    if not choose_backend(settings).local:
        return
    config = load_config(model, settings)
    require_trust(model, config, settings)
    positions = position_limit(config)
    if positions is not None and settings.judge.max_new_tokens >= positions:
        raise OptionError(no_room_message(settings.judge.max_new_tokens, positions))


def load_generative(model: str, settings: ScoringSettings) -> GenerativeJudge:
    """A judge on the backend :func:`~rm_mlflow.judges.backends.choose_backend` picks: the endpoint, vLLM, or local generation."""
    if choose_backend(settings).local:
        if (Path(model) / ENDPOINT_FILE).is_file():
            raise ModelLoadError(f"{model}: a logged endpoint judge has no weights; pass --judge_endpoint URL (and --judge_api_key_env NAME)")
        require_trust(model, load_config(model, settings), settings)
    return GenerativeJudge(build_backend(model, settings), settings, name=model)


GENERATIVE = register_loader(
    ModelLoader(
        name="generative",
        description="LLM and vision-language judges (rewardbench-gen prompts, or a benchmark authors' own): local transformers "
                    "generation, vLLM, or an OpenAI-compatible --judge_endpoint",
        # a causal LM may be a policy, a DPO model or a judge: asked for by name; an image-text-to-text model generates, so judges
        accepts=lambda config, settings: is_vision_language(config),
        load=load_generative,
        claims=lambda settings: settings.judge.endpoint is not None,
        preflight=check_judge_options,
        preview=lambda model, settings: check_local_judge(model, settings),  # checks only: a judge is not scored by the engine
        # an endpoint's model is a name on a server, which says whether it takes image parts
        sees_images=lambda model, settings: not choose_backend(settings).local or is_vision_language(load_config(model, settings)),
        check_examples=check_protocols,
    )
)
