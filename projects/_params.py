"""MLproject parameters arrive as strings; an empty string means "not given"."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rm_mlflow.errors import OptionError


def add_flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """``--name``, as MLproject commands pass parameters."""
    parser.add_argument(f"--{name}", **kwargs)


def optional(value: str, convert: Callable[[str], Any] = str, *, name: str = "parameter") -> Any:
    """``convert(value)``, or None for an empty string; a value that does not convert is an :class:`OptionError` naming it."""
    if value in ("", None):
        return None
    try:
        return convert(value)
    except ValueError:
        raise OptionError(f"MLproject parameter {name}: expected {getattr(convert, '__name__', 'a value')}, got {value!r}") from None
