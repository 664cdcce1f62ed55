"""Chat formatting: the tokenizer's own template (default), ``raw`` concatenation, a named template, or a Jinja file/string."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rm_mlflow._registry import Registry
from rm_mlflow.data.types import ChatMessage
from rm_mlflow.errors import ModelLoadError, UnknownNameError

NAMED_TEMPLATES: Registry[str] = Registry("chat template")

NAMED_TEMPLATES.add(
    "chatml",
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}",
)
NAMED_TEMPLATES.add(
    "tulu",
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '\n' }}"
    "{% else %}{{ '<|assistant|>\n' + message['content'] + eos_token + '\n' }}{% endif %}{% endfor %}",
)
NAMED_TEMPLATES.add(
    "llama-3",
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}",
    aliases=("llama3",),
)

TOKENIZER = "tokenizer"
RAW = "raw"


class ChatFormatter:
    """Turns a conversation into the exact text the reward model's tokenizer sees."""

    def __init__(self, tokenizer: Any, template: str = TOKENIZER) -> None:
        self.tokenizer = tokenizer
        self.name = template
        self._jinja: str | None = None
        if template == TOKENIZER:
            if not getattr(tokenizer, "chat_template", None):
                raise ModelLoadError(
                    "the tokenizer has no chat template; pass --chat_template raw, a named template "
                    f"({', '.join(NAMED_TEMPLATES.names())}), or a Jinja template file"
                )
        elif template != RAW:
            self._jinja = resolve_template(template)

    def format(self, conversation: Sequence[ChatMessage]) -> str:
        """The exact text the tokenizer sees for ``conversation``."""
        if self.name == RAW:
            return "".join(message["content"] for message in conversation)
        return self.tokenizer.apply_chat_template(list(conversation), tokenize=False, chat_template=self._jinja)

    def describe(self) -> str:
        """The template's name (``custom`` for an inline or file template)."""
        return self.name if self._jinja is None or self.name in NAMED_TEMPLATES else "custom"

    def digest(self) -> str:
        """16 hex digits of SHA-256 over the template text actually applied (``raw`` for concatenation).

        Two models whose tokenizers each bring their own template differ here, though both are described as ``tokenizer``.
        """
        text = RAW if self.name == RAW else self._jinja if self._jinja is not None else str(self.tokenizer.chat_template)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_template(template: str) -> str:
    """The Jinja text of a named template, an inline Jinja string, or a template file."""
    if template in NAMED_TEMPLATES:
        return NAMED_TEMPLATES.get(template)
    if "{%" in template or "{{" in template:
        return template
    path = Path(template).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8")
    raise UnknownNameError(
        f"unknown chat template {template!r}: use 'tokenizer', 'raw', one of {', '.join(NAMED_TEMPLATES.names())}, "
        "a Jinja template file, or an inline Jinja string"
    )
