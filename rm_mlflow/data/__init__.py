"""Benchmarks and data: the canonical example, the benchmark registry and one module per benchmark."""

from rm_mlflow.data import prior, rewardbench, rewardbench2, rmb  # noqa: F401  (registers the benchmarks)
from rm_mlflow.data.benchmark import BENCHMARKS, Benchmark, LoadedBenchmark, load_benchmark, register_benchmark, resolve_benchmark
from rm_mlflow.data.types import ChatMessage, PreferenceExample

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "ChatMessage",
    "LoadedBenchmark",
    "PreferenceExample",
    "load_benchmark",
    "register_benchmark",
    "resolve_benchmark",
]
