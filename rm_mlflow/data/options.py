"""How benchmarks are loaded: the one options object every entry point builds and every loader reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rm_mlflow.errors import OptionError


@dataclass(frozen=True)
class DataOptions:
    """Where local benchmark copies live, which split and revision, which subsets, how many rows, what to do with bad rows.

    Attributes:
        data_dir: folder with local benchmark copies (``RM_MLFLOW_DATA_DIR`` is also searched).
        split: dataset split; None means the benchmark's own default.
        revision: dataset revision on the Hub.
        subsets: keep only these subsets (empty: all).
        limit: keep the first N examples of each subset.
        skip_invalid: skip malformed rows (counted and reported) instead of stopping at the first.
        skip_missing: a benchmark whose data cannot be found is skipped (and named) instead of failing the run.
        single_game: JudgeBench plays only the published A/B order (upstream's ``--single_game``), not both.
        languages: M-RewardBench's language configs to load (empty: all).
    """

    data_dir: str | None = None
    split: str | None = None
    revision: str | None = None
    subsets: tuple[str, ...] = ()
    limit: int | None = None
    skip_invalid: bool = False
    skip_missing: bool = False
    single_game: bool = False
    languages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(self.data_dir))
        for name, one in (("subsets", "subset"), ("languages", "language")):
            value = getattr(self, name)
            if isinstance(value, str):
                named = tuple(s.strip() for s in value.split(",") if s.strip())
                if value.strip() and not named:
                    raise OptionError(f"{name} {value!r} names no {one}; leave it out to evaluate every {one}")
                object.__setattr__(self, name, named)
            else:
                object.__setattr__(self, name, tuple(value))
        if self.limit is not None and (not isinstance(self.limit, int) or isinstance(self.limit, bool) or self.limit < 1):
            raise OptionError(f"limit must be a positive number of examples per subset, got {self.limit!r}")

    @property
    def data_path(self) -> Path | None:
        """``data_dir`` as a path with ``~`` expanded, or None."""
        return Path(self.data_dir).expanduser() if self.data_dir else None

    def as_dict(self) -> dict[str, Any]:
        """Plain values (subsets as a list), for results files and run params."""
        return asdict(self) | {"subsets": list(self.subsets), "languages": list(self.languages)}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The option names, as ``evaluator_config`` keys and MLproject parameters spell them."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "data options") -> DataOptions:
        """Build from a plain mapping (``evaluator_config``, service settings); unknown keys are an :class:`OptionError`."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise OptionError(f"{source}: unknown data option(s) {', '.join(unknown)}; known: {', '.join(cls.field_names())}")
        return cls(**values)
