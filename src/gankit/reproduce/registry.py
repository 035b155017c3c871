"""Function-style reproductions not yet declared for the runner."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from gankit.reproduce.runner import REPRODUCTIONS


@dataclass(frozen=True)
class FunctionReproduction:
    name: str
    description: str
    fn: Callable[..., dict[str, Any]]
    options: tuple[str, ...] = ()


def register_reproduction(name: str, description: str, options: tuple[str, ...] = ()) -> Callable:
    def deco(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        REPRODUCTIONS.add(name, FunctionReproduction(name, description, fn, options))
        return fn

    return deco
