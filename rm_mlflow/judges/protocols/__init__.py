"""Judge protocols a benchmark's authors fix for their own set, named by the rows that need them (``JUDGE_PROTOCOL``).

Most benchmarks are judged with rewardbench-gen's prompts (:mod:`rm_mlflow.judges.judge`). A benchmark whose
authors publish their own judge path (VL-RewardBench: its prompt, its answer pattern, a k-sample majority) marks
its rows with a protocol name; the judge then plans, parses and aggregates those rows by the protocol registered
here under that name. Each protocol is one module of this package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rm_mlflow._registry import Registry
from rm_mlflow.data.types import JUDGE_PROTOCOL, PreferenceExample
from rm_mlflow.judges.backends.base import Generation
from rm_mlflow.judges.base import JudgeCall, Verdict
from rm_mlflow.scoring.base import ExampleScores
from rm_mlflow.scoring.settings import JudgeSettings

# (example, draws, salt) -> a seeded integer in [0, draws): the judge's own reproducible draw
Draw = Callable[[PreferenceExample, int, str], int]


@dataclass(frozen=True)
class JudgeProtocol:
    """What to ask for one row, how to read one answer, and how the answers make the row's votes.

    ``aggregate`` returns the row's :class:`ExampleScores` with ``votes`` (one per call: +1 the better answer won,
    -1 the worse, 0 no verdict), which the benchmark's own vote rule turns into correctness.
    """

    name: str
    plan: Callable[[PreferenceExample, JudgeSettings, Draw], list[JudgeCall]]
    parse: Callable[[JudgeCall, Generation], Verdict]
    aggregate: Callable[[PreferenceExample, Sequence[JudgeCall], Sequence[Generation]], ExampleScores]
    prompt_set: str
    preflight: Callable[[Sequence[PreferenceExample]], None] | None = None  # refuses, before any weights load, rows it cannot ask


def _discover() -> None:
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


JUDGE_PROTOCOLS: Registry[JudgeProtocol] = Registry("judge protocol", discover=_discover)


def register_protocol(protocol: JudgeProtocol) -> JudgeProtocol:
    """Add a protocol to :data:`JUDGE_PROTOCOLS`."""
    return JUDGE_PROTOCOLS.add(protocol.name, protocol)


def check_protocols(examples: Sequence[PreferenceExample]) -> None:
    """Before a judge's weights load: every protocol the examples name can ask its rows (its ``preflight``)."""
    named: dict[str, list[PreferenceExample]] = {}
    for example in examples:
        if (name := example.metadata.get(JUDGE_PROTOCOL)) is not None:
            named.setdefault(name, []).append(example)
    for name, rows in named.items():
        if (preflight := JUDGE_PROTOCOLS.get(name).preflight) is not None:
            preflight(rows)
