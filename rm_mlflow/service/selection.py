"""Which registered models are reward models the service evaluates: a registered-model tag, a name pattern, or both."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

from rm_mlflow.errors import RmMlflowError

DEFAULT_SELECT_TAG = "rm_eval=true"


@dataclass(frozen=True)
class ModelSelector:
    """A model is selected when its tag ``tag_key`` equals ``tag_value`` (case-insensitively) or its name matches ``name_pattern`` (a glob)."""

    tag_key: str | None = "rm_eval"
    tag_value: str = "true"
    name_pattern: str | None = None

    @classmethod
    def from_options(cls, select_tag: str | None = DEFAULT_SELECT_TAG, name_pattern: str | None = None) -> ModelSelector:
        """``select_tag`` is ``KEY=VALUE`` (or empty to select by name only)."""
        if not select_tag:
            if not name_pattern:
                raise RmMlflowError("nothing selects reward models: give --select_tag KEY=VALUE, --name_pattern GLOB, or both")
            return cls(tag_key=None, name_pattern=name_pattern)
        key, separator, value = select_tag.partition("=")
        if not separator or not key.strip() or not value.strip():
            raise RmMlflowError(f"--select_tag must look like KEY=VALUE, got {select_tag!r}")
        return cls(tag_key=key.strip(), tag_value=value.strip(), name_pattern=name_pattern or None)

    def matches(self, name: str, tags: Mapping[str, str]) -> bool:
        """Whether a registered model with ``name`` and ``tags`` is a reward model to evaluate."""
        if self.tag_key is not None and str(tags.get(self.tag_key, "")).strip().lower() == self.tag_value.lower():
            return True
        return self.name_pattern is not None and fnmatch.fnmatchcase(name, self.name_pattern)

    def describe(self) -> str:
        """The selection rule in words."""
        rules = []
        if self.tag_key is not None:
            rules.append(f"tag {self.tag_key}={self.tag_value}")
        if self.name_pattern is not None:
            rules.append(f"name matching {self.name_pattern!r}")
        return " or ".join(rules)
