"""MLproject parameters arrive as strings; an empty string means "not given"."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any

from rm_mlflow.errors import OptionError


def add_flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """``--name``, as MLproject commands pass parameters."""
    parser.add_argument(f"--{name}", type=unquoted, **kwargs)


def unquoted(value: str) -> str:
    """``value`` without one layer of shell quoting.

    MLflow's Kubernetes backend shell-quotes every word of the entry point's command and then runs it without
    a shell, so an empty parameter arrives as the two characters ``''`` and a value with spaces in quotes.
    """
    if len(value) >= 2 and value[0] == value[-1] == "'":
        try:
            parts = shlex.split(value)
        except ValueError:
            return value
        if len(parts) == 1:
            return parts[0]
    return value


def optional(value: str, convert: Callable[[str], Any] = str, *, name: str = "parameter") -> Any:
    """``convert(value)``, or None for an empty string; a value that does not convert is an :class:`OptionError` naming it."""
    if value in ("", None):
        return None
    try:
        return convert(value)
    except ValueError:
        raise OptionError(f"MLproject parameter {name}: expected {getattr(convert, '__name__', 'a value')}, got {value!r}") from None
