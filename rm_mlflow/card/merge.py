"""Merging our ``model-index`` results into a model card's text without touching anything else.

The YAML header is edited as text, located with PyYAML's node positions: our earlier results are cut
out and the new ones put in their place, so every other byte (other results, other keys, comments,
the card body) stays as it was, and a second sync with the same results changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from rm_mlflow.card.model_index import is_ours

_HEADER = re.compile(r"\A(---[ \t]*\r?\n)(.*?)(^---[ \t]*\r?\n?)", re.DOTALL | re.MULTILINE)


def merge_model_card(existing: str | None, eval_results: Sequence[Any], *, model_name: str) -> str:
    """The card text with our results merged into ``model-index`` (a new card when ``existing`` is empty)."""
    from huggingface_hub.repocard_data import eval_results_to_model_index

    new_index = eval_results_to_model_index(model_name, list(eval_results))
    ours = new_index[0]["results"] if new_index else []
    if not existing:
        return f"---\n{dump_yaml({'model-index': new_index})}---\n\n# {model_name}\n\nReward-model evaluation results written by rm-mlflow.\n"
    match = _HEADER.match(existing)
    if match is None:
        return f"---\n{dump_yaml({'model-index': new_index})}---\n{existing}"
    opening, header, closing = match.groups()
    body = existing[match.end() :]
    return opening + _merge_header(header, ours, new_index) + closing + body


def _merge_header(header: str, ours: list[dict], new_index: list[dict]) -> str:
    root = yaml.compose(header) if header.strip() else None
    if root is None:
        return dump_yaml({"model-index": new_index})
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("the model card's YAML header is not a mapping")
    index_node = _value(root, "model-index")
    if index_node is None:
        return _ensure_newline(header) + dump_yaml({"model-index": new_index})
    if not isinstance(index_node, yaml.SequenceNode) or not index_node.value:
        raise ValueError("the model card's model-index is not a list of models")
    results_node = _value(index_node.value[0], "results")
    if not isinstance(results_node, yaml.SequenceNode) or not results_node.value:
        raise ValueError("the model card's first model-index entry has no results list")

    loaded = yaml.safe_load(header)["model-index"][0]["results"]
    return replace_owned_items(header, results_node, [is_ours(result) for result in loaded], ours)


def replace_owned_items(text: str, sequence: yaml.SequenceNode, owned: Sequence[bool], replacement: Sequence[Any]) -> str:
    """``text`` with the items of ``sequence`` flagged ``owned`` cut out and ``replacement`` put where the first was.

    With no owned item the replacement goes after the last item. Every other item keeps its bytes, comments included.
    """
    if sequence.flow_style:
        raise ValueError("the results list is written in flow style ([...]) and cannot be merged without rewriting it")
    items = sequence.value
    starts = [_line_start(text, item.start_mark.index) for item in items]
    ends = [*starts[1:], _line_end(text, items[-1].end_mark.index)]
    indent = text[starts[0] : items[0].start_mark.index].replace("-", " ")
    rendered = "".join(indent[:-2] + line if line.strip() else line for line in dump_yaml(list(replacement)).splitlines(keepends=True))

    spans = [(starts[i], ends[i]) for i, mine in enumerate(owned) if mine]
    insert_at = spans[0][0] if spans else ends[-1]
    pieces, cursor = [], 0
    for start, end in spans:
        pieces.append(text[cursor:start])
        if start == insert_at:
            pieces.append(rendered)
        cursor = end
    if not spans:
        pieces.append(_ensure_newline(text[:insert_at]) + rendered)
        cursor = insert_at
    pieces.append(text[cursor:])
    return "".join(pieces)


def _value(mapping: Any, key: str) -> Any:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    return next((value for name, value in mapping.value if isinstance(name, yaml.ScalarNode) and name.value == key), None)


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """The end of the line holding ``index``; an index at a line start already is one."""
    if index == 0 or text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline == -1 else newline + 1


def _ensure_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def dump_yaml(value: Any) -> str:
    """Block-style YAML in the given key order, as the Hub's own files are written."""
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
