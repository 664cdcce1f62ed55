"""The package's shape, checked from its source: data flows one way, no import cycles, the library never imports the plugin."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "rm_mlflow"
# Lower layers never import higher ones (metrics is benchmark-free arithmetic at the bottom).
LAYERS = [
    ("rm_mlflow.errors", "rm_mlflow._registry", "rm_mlflow._lazy", "rm_mlflow.retry", "rm_mlflow.progress", "rm_mlflow._cache_dir"),
    ("rm_mlflow.metrics",),
    ("rm_mlflow.data",),
    ("rm_mlflow.scoring", "rm_mlflow.judges", "rm_mlflow.tiny_models"),
    ("rm_mlflow.benchmarking", "rm_mlflow.results", "rm_mlflow.comparison", "rm_mlflow.doctor", "rm_mlflow.fingerprint"),
    ("rm_mlflow.tracking", "rm_mlflow.card"),
    ("rm_mlflow.pipeline", "rm_mlflow.options"),
    ("rm_mlflow.demo", "rm_mlflow.service"),
    ("rm_mlflow.cli", "rm_mlflow", "rm_mlflow.testing"),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``rm_mlflow``/``evaluators`` module a file imports, at module level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] in ("rm_mlflow", "evaluators")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in _imports(path) if target in modules and target != name} for name, path in modules.items()}


def _layer(module: str) -> int:
    best = max(
        ((index, prefix) for index, prefixes in enumerate(LAYERS) for prefix in prefixes if module == prefix or module.startswith(prefix + ".")),
        key=lambda item: len(item[1]),
    )
    return best[0]


def test_benchmarks_never_import_tests():
    scripts = sorted((REPO_ROOT / "benchmarks").glob("*.py"))
    offenders = [path.name for path in scripts for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, (ast.Import, ast.ImportFrom))
                 and any(name.split(".")[0] == "tests" for name in ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                                                                    [alias.name for alias in node.names]))]
    assert scripts and offenders == []


def test_metrics_know_no_benchmark():
    offenders = [(name, target) for name, targets in _graph().items() if name.startswith("rm_mlflow.metrics") for target in targets
                 if not target.startswith("rm_mlflow.metrics")]
    assert offenders == []


def test_imports_only_go_down_the_layers():
    upward = [
        (name, target)
        for name, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(name) and not name.startswith(target + ".") and name != "rm_mlflow"
    ]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    # A package's __init__ re-exports its submodules; the edge from a submodule back to its own package is Python's doing.
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_library_never_imports_the_plugin():
    assert not [name for name, targets in _graph().items() if any(t.startswith("evaluators") for t in targets)]
