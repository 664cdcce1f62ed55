"""Benchmarks and data: the canonical example, the benchmark registry and one module per benchmark.

Each module in :mod:`rm_mlflow.data.benchmarks` declares its loader, its correctness rule and its aggregation in one
:class:`Benchmark` and registers it (the registry imports them at its first lookup); :func:`load_benchmark` turns a
name, file or Hub id into validated examples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rm_mlflow._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("BENCHMARKS", "Benchmark", "LoadedBenchmark", "LoadedRows", "register_benchmark"), "rm_mlflow.data.benchmark"),
    **dict.fromkeys(("load_benchmark", "load_benchmarks", "resolve_benchmark", "resolve_benchmarks"), "rm_mlflow.data.loading"),
    "DataOptions": "rm_mlflow.data.options",
    "ChatMessage": "rm_mlflow.data.types",
    "PreferenceExample": "rm_mlflow.data.types",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from rm_mlflow.data.benchmark import BENCHMARKS, Benchmark, LoadedBenchmark, LoadedRows, register_benchmark  # noqa: F401
    from rm_mlflow.data.loading import load_benchmark, load_benchmarks, resolve_benchmark, resolve_benchmarks  # noqa: F401
    from rm_mlflow.data.options import DataOptions  # noqa: F401
    from rm_mlflow.data.types import ChatMessage, PreferenceExample  # noqa: F401

__all__ = sorted(_EXPORTS)
