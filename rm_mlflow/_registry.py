"""A small name -> object registry used for benchmarks, model loaders and metric aggregators."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from rm_mlflow.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names (and aliases) to registered objects; lookups of unknown names list what exists."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, item: T, *, aliases: tuple[str, ...] = ()) -> T:
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
        return self._aliases.get(name, name)

    def get(self, name: str) -> T:
        key = self.canonical_name(name)
        if key not in self._items:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}")
        return self._items[key]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical_name(name) in self._items

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))
