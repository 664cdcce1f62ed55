"""MLproject parameters arrive as strings; an empty string means "not given"."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    parser.add_argument(f"--{name}", **kwargs)


def optional(value: str, convert: Callable[[str], Any] = str) -> Any:
    return convert(value) if value not in ("", None) else None
