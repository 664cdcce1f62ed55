"""A small name -> object registry for benchmarks, model loaders, templates and flavor adapters."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from rm_mlflow.errors import UnknownNameError

T = TypeVar("T")
_LISTED = 30  # names listed in an error; a suggestion covers the rest


def unknown_name_message(kind: str, name: str, known: Iterable[str], *, label: str = "known", hint: str = "") -> str:
    """``unknown benchmark 'rewardbenhc'; did you mean 'rewardbench'? known: ...`` (as lm-eval's registry says it)."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    suggestion = f"; did you mean {close[0]!r}?" if close else ";"
    listed = ", ".join(known[:_LISTED]) if known else "none"
    if len(known) > _LISTED:
        listed += f", ... ({len(known)} in all)"
    return f"unknown {kind} {name!r}{suggestion} {label}: {listed}{hint}"


class Registry(Generic[T]):
    """Maps names (and aliases) to registered objects; lookups of unknown names suggest the closest and list what exists.

    ``discover`` (run once, at the first lookup) imports the modules that register the built-in and plug-in
    entries, so importing a registry costs nothing until something is looked up in it.
    """

    def __init__(self, kind: str, *, discover: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._discover = discover

    def _discovered(self) -> None:
        if self._discover is not None:
            discover, self._discover = self._discover, None
            discover()

    def add(self, name: str, item: T, *, aliases: tuple[str, ...] = ()) -> T:
        """Register ``item`` under ``name`` (and ``aliases``); a name may be registered once."""
        if name in self._items or name in self._aliases:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        for alias in aliases:
            self._aliases[alias] = name
        return item

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(item: T) -> T:
            return self.add(name, item, aliases=aliases)

        return decorate

    def canonical_name(self, name: str) -> str:
        """The registered name an alias stands for (the name itself otherwise)."""
        self._discovered()
        return self._aliases.get(name, name)

    def get(self, name: str) -> T:
        """The object registered as ``name``; :class:`UnknownNameError` suggesting the closest name otherwise."""
        key = self.canonical_name(name)
        if key not in self._items:
            raise UnknownNameError(unknown_name_message(self.kind, name, self.names()))
        return self._items[key]

    def names(self) -> list[str]:
        """The registered names, sorted (aliases excluded)."""
        self._discovered()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical_name(name) in self._items

    def __iter__(self) -> Iterator[tuple[str, T]]:
        self._discovered()
        return iter(sorted(self._items.items()))
