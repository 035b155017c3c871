"""One name -> object registry, shared by nets, objectives, datasets, metrics, reproductions
and CLI commands.

Built-ins are imported explicitly by each package's ``__init__`` (no directory scans), so
what exists never depends on which module happened to be imported first. Users add their
own entries with the same decorator the built-ins use, or name an object by import path
(``mypkg.nets:MyG``) where a config takes a net or objective name.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, Iterator, Optional, TypeVar

from gankit.errors import ConfigError, GankitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind. ``kind`` appears in errors ("unknown net 'x'")."""

    def __init__(self, kind: str, error: type[GankitError] = ConfigError) -> None:
        self.kind = kind
        self.error = error
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator: ``@NETS.register("paper-mlp")`` above a class or function."""

        def deco(obj: T) -> T:
            self.add(name, obj, aliases)
            return obj

        return deco

    def add(self, name: str, obj: T, aliases: tuple[str, ...] = ()) -> None:
        self._entries[name] = obj
        for a in aliases:
            self._aliases[a] = name

    def remove(self, name: str) -> None:
        """Drop ``name`` and its aliases, if present (a test's throwaway entry)."""
        key = self.canonical(name)
        self._entries.pop(key, None)
        self._aliases = {a: n for a, n in self._aliases.items() if n != key}

    def canonical(self, name: str) -> str:
        return self._aliases.get(name, name)

    def get(self, name: str, field: Optional[str] = None) -> T:
        """The entry called ``name`` (or an alias of it); one error naming the known ones
        (and the config field, when given) otherwise."""
        key = self.canonical(name)
        if key not in self._entries:
            where = f"field '{field}': " if field else ""
            raise self.error(f"{where}unknown {self.kind} '{name}' (known: {', '.join(self.names())})")
        return self._entries[key]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        for name in self.names():
            yield name, self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def import_object(path: str, field: str) -> Any:
    """The object at ``module.sub:Attr.attr``; one ConfigError naming ``field`` otherwise."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"field '{field}': '{path}' is not an import path (expected module:Name, e.g. mypkg.nets:MyG)")
    try:
        obj: Any = importlib.import_module(module_name)
    except (ImportError, SyntaxError) as e:  # the module, or something it imports, is missing or broken
        raise ConfigError(f"field '{field}': cannot import module '{module_name}' of '{path}' ({e})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"field '{field}': module '{module_name}' has no '{attr}' (from '{path}')")
        obj = getattr(obj, part)
    return obj
