"""What every judge backend is: chats in, greedy generations out, each reported as it finishes; and the registry that picks one.

A backend turns judge chats (system and user turns) into generations, greedily (temperature 0, as
rewardbench). It reports each generation as it finishes (``on_done``), so the caller can keep it on disk
before the next one: a killed or failed run loses nothing it had judged. Each backend is one module of
this package that registers a :class:`BackendSpec`; ``judge_backend auto`` takes the first usable one in
the order they register (endpoint when one is given, vLLM when installed on a GPU, then transformers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rm_mlflow._registry import Registry
from rm_mlflow.errors import ModelLoadError, OptionError, RmMlflowError
from rm_mlflow.scoring.base import Conversation, TokenizedConversation
from rm_mlflow.scoring.lengths import tokenize_with_limit
from rm_mlflow.scoring.settings import ScoringSettings


class JudgeEndpointError(RmMlflowError):
    """An OpenAI-compatible endpoint refused a request, or kept failing after the retries."""


@dataclass(frozen=True)
class Generation:
    """One judge answer: its text and token counts (None when the backend does not say)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    truncated: bool = False  # the prompt was cut to fit (only under --truncation left/right)


OnDone = Callable[[int, Generation], None]


class JudgeBackend(ABC):
    """Generates the judge's answer to each chat, greedily, at most ``settings.judge.max_new_tokens`` tokens."""

    name: str
    device: str = "remote"

    @abstractmethod
    def generate(self, chats: Sequence[Conversation], on_done: OnDone, *, progress: Callable[[int], None] | None = None) -> None:
        """Answer every chat; call ``on_done(index, generation)`` as each one finishes."""

    def describe(self) -> dict[str, Any]:
        """What identifies this backend's answers (recorded with results; part of the judgment cache key)."""
        return {"backend": self.name}


def judge_prompt_tokens(
    tokenizer: Any, chats: Sequence[Conversation], settings: ScoringSettings, max_positions: int | None
) -> list[TokenizedConversation]:
    """Each chat in the tokenizer's template with the generation prompt, tokenized without adding special tokens again.

    ``max_length`` bounds the prompt, and the prompt must leave ``max_new_tokens`` of room within the judge's
    position limit: a longer one is refused (``truncation none``, naming it) or cut. rewardbench's own comment says
    not to add special tokens again (its vLLM path then passes the text anyway, so a template that writes BOS gets two there).
    """
    if any(not isinstance(message["content"], str) for chat in chats for message in chat):
        raise ModelLoadError("these judge prompts carry images, and this judge is text-only: pass a vision-language judge "
                             "(a model transformers loads with AutoModelForImageTextToText, or an endpoint serving one)")
    room = settings.max_length if max_positions is None else min(settings.max_length, max_positions - settings.judge.max_new_tokens)
    if room < 1:
        raise OptionError(no_room_message(settings.judge.max_new_tokens, max_positions))
    texts = [tokenizer.apply_chat_template(list(chat), tokenize=False, add_generation_prompt=True) for chat in chats]
    within = f", within {max_positions} positions less max_new_tokens {settings.judge.max_new_tokens}" if max_positions else ""
    hint = f" (max_length {settings.max_length}{within}); pass --truncation left, a larger --max_length or a smaller --max_new_tokens"
    return tokenize_with_limit(tokenizer, texts, limit=room, truncation=settings.truncation, hint=hint, add_special_tokens=False)


def no_room_message(max_new_tokens: int, positions: int | None) -> str:
    """The one line for answers that leave a judge no room for its prompt."""
    return (f"max_new_tokens {max_new_tokens} leaves no room for the judge prompt within the model's {positions} positions; "
            "pass a smaller --max_new_tokens")


@dataclass(frozen=True)
class BackendSpec:
    """One way to run a judge: ``usable`` says whether ``auto`` may pick it for these settings; ``build`` makes it for a model.

    ``local``: the judge's weights run here, so its config is read and checked before they load (an endpoint's
    model is a name on a server). ``check`` refuses settings the backend cannot run with, before anything loads.
    """

    name: str
    usable: Callable[[ScoringSettings], bool]
    build: Callable[[str, ScoringSettings], JudgeBackend]
    local: bool = True
    check: Callable[[ScoringSettings], None] | None = None


JUDGE_BACKENDS: Registry[BackendSpec] = Registry("judge backend")


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Add a judge backend to :data:`JUDGE_BACKENDS`."""
    return JUDGE_BACKENDS.add(spec.name, spec)


def choose_backend(settings: ScoringSettings) -> BackendSpec:
    """``judge_backend`` (its own check passed), or for ``auto`` the first usable of endpoint (when given), vLLM (installed, GPU), transformers."""
    if settings.judge.backend == "auto":
        spec = next(spec for _, spec in JUDGE_BACKENDS if spec.usable(settings))
    else:
        spec = JUDGE_BACKENDS.get(settings.judge.backend)
    if spec.check is not None:
        spec.check(settings)
    return spec


def build_backend(model: str, settings: ScoringSettings) -> JudgeBackend:
    """The backend :func:`choose_backend` picks, built for ``model``."""
    return choose_backend(settings).build(model, settings)
