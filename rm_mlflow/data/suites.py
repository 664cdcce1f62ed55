"""Suites: one name for several benchmarks evaluated together in one run (``--dataset suite:leaderboard``).

The model is loaded once and every benchmark is scored in the same pass; each keeps its own score, sections
and interval. A suite names benchmarks, not data: where each benchmark's data lives is its own business.
"""

from __future__ import annotations

from dataclasses import dataclass

from rm_mlflow._registry import Registry

PREFIX = "suite:"


@dataclass(frozen=True)
class Suite:
    """A named list of registered benchmarks."""

    name: str
    description: str
    benchmarks: tuple[str, ...]


SUITES: Registry[Suite] = Registry("suite")


def register_suite(suite: Suite) -> Suite:
    """Add ``suite`` to :data:`SUITES`."""
    return SUITES.add(suite.name, suite)


def suite_name(spec: str) -> str | None:
    """``suite:leaderboard`` -> ``leaderboard``; None for anything else."""
    return spec[len(PREFIX):] if spec.startswith(PREFIX) else None


register_suite(Suite("leaderboard", "what model pages report side by side", ("rewardbench", "rewardbench2", "rmb", "rm-bench", "judgebench")))
register_suite(Suite("rewardbench-v1", "RewardBench v1 as its leaderboard scores it: the core set and the prior sets",
                     ("rewardbench", "rewardbench-prior")))
register_suite(Suite("reasoning", "correct against wrong answers to hard questions", ("judgebench", "rewardmath", "rm-bench")))
register_suite(Suite("multilingual", "English against 23 other languages: RewardBench and its translations, with the gap",
                     ("rewardbench", "m-rewardbench")))
register_suite(Suite("all", "every built-in text benchmark (vl-rewardbench needs a vision-language judge)",
                     ("rewardbench", "rewardbench-prior", "rewardbench2", "rmb", "llmbar", "rm-bench", "judgebench", "rewardmath",
                      "m-rewardbench", "long-rewardbench")))
