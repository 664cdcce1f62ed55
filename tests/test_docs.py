"""Every command in the README and in docs/ names flags, modules and parameters that exist.

Shell lines and inline spans that run ``rm-mlflow``, ``python -m`` or ``mlflow run`` are parsed; each
``--flag`` must be one the named subcommand's parser accepts. Python blocks are parsed; each ``from X
import Y`` must import. A renamed flag or a moved module then fails here instead of in a reader's terminal.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
import shlex

import pytest
import yaml

from tests.helpers import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
RUNS = re.compile(r"^(?:[A-Z_]+=\S*\s+)*(?:(?:\.venv/bin/)?rm-mlflow\s|(?:\.venv/bin/)?python3? -m\s|mlflow run\s)")
INLINE = re.compile(r"`((?:\.venv/bin/)?rm-mlflow [^`]+|python -m [^`]+|mlflow run [^`]+)`")


def _blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def commands(text: str) -> list[str]:
    """Shell commands: lines of bash blocks (continuations joined, comments cut) and inline code spans."""
    found = []
    for block in _blocks(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            found += [part.strip() for part in re.split(r" && | \| ", line) if RUNS.match(part.strip())]
    prose = FENCE.sub("", text)
    found += [span for span in INLINE.findall(prose) if "..." not in span and "…" not in span and ": error:" not in span]
    return found


def _parser_for(words: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The (sub)parser a command line reaches, and the words after its subcommands."""
    from rm_mlflow.cli import build_parser

    parser = build_parser()
    while True:
        sub = next((action for action in parser._actions if isinstance(action, argparse._SubParsersAction)), None)
        if sub is None or not words or words[0] not in sub.choices:
            return parser, words
        parser, words = sub.choices[words[0]], words[1:]


def _flags(words: list[str]) -> list[str]:
    return [word.split("=")[0] for word in words if word.startswith("--")]


def check_command(command: str) -> list[str]:
    """What in ``command`` does not exist (empty when all of it does)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return [f"unparsable: {command}"]
    words = [word for word in words if not re.fullmatch(r"[A-Z_]+=\S*", word)]  # leading VAR=value
    if not words:
        return []
    program, rest = words[0], words[1:]
    problems = []
    if program.endswith("rm-mlflow"):
        parser, rest = _parser_for(rest)
        known = set(parser._option_string_actions)
        problems += [f"{flag} is not an option of `{parser.prog}`" for flag in _flags(rest) if flag not in known]
    elif program in ("python", "python3", ".venv/bin/python") and rest[:1] == ["-m"]:
        module = rest[1]
        if module != "pytest" and importlib.util.find_spec(module) is None:
            problems.append(f"no module {module}")
    elif program == "mlflow" and rest[:1] == ["run"]:
        where = rest[1] if len(rest) > 1 and not rest[1].startswith("-") else "."
        entry = next((rest[i + 1] for i, word in enumerate(rest[:-1]) if word in ("-e", "--entry-point")), "main")
        if (REPO_ROOT / where / "MLproject").exists():
            project = yaml.safe_load((REPO_ROOT / where / "MLproject").read_text())["entry_points"]
            parameters = set(project[entry]["parameters"]) if entry in project else set()
            given = [rest[i + 1].split("=")[0] for i, word in enumerate(rest[:-1]) if word == "-P"]
            problems += [f"-P {name} is not a parameter of {where}/MLproject ({entry})" for name in given if name not in parameters]
    return problems


def check_python(block: str) -> list[str]:
    """Imports in a Python block that fail."""
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return []  # a fragment (a dict literal, an elided call): nothing to import
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("rm_mlflow", "evaluators", "projects"):
            module = importlib.import_module(node.module)
            problems += [f"from {node.module} import {alias.name}: no such name" for alias in node.names if not hasattr(module, alias.name)]
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_every_documented_command_names_what_exists(page):
    text = page.read_text()
    problems = [f"{command}: {problem}" for command in commands(text) for problem in check_command(command)]
    problems += [problem for block in _blocks(text, "python") for problem in check_python(block)]
    assert not problems, f"{page.relative_to(REPO_ROOT)}:\n" + "\n".join(problems)


def test_the_checker_catches_a_wrong_flag_module_and_parameter():
    assert check_command("rm-mlflow evaluate --model x --no_such_flag 3") == ["--no_such_flag is not an option of `rm-mlflow evaluate`"]
    assert check_command("rm-mlflow card sync --results r.json --no_such_flag") == ["--no_such_flag is not an option of `rm-mlflow card sync`"]
    assert check_command("python -m rm_mlflow.no_such_module") == ["no module rm_mlflow.no_such_module"]
    assert check_command("mlflow run . -P model=x -P no_such_parameter=1") == ["-P no_such_parameter is not a parameter of ./MLproject (main)"]
    assert check_python("from rm_mlflow.pipeline import no_such_name") == ["from rm_mlflow.pipeline import no_such_name: no such name"]
    assert check_command("rm-mlflow evaluate --model x --torch_dtype float32 --batch-size 8") == []
