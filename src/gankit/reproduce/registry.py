"""``gankit reproduce NAME``: each reproduction trains, evaluates, prints its table and
writes ``DIR/result.json`` (named figures and settings) and ``DIR/report.md``."""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gankit.errors import GankitError


@dataclass(frozen=True)
class Reproduction:
    name: str
    description: str
    run: Callable[..., dict[str, Any]]  # run(out: Path, *, full, paper_exact, dry_run, seed) -> result
    options: tuple[str, ...] = field(default_factory=tuple)  # extra flags it understands


REPRODUCTIONS: dict[str, Reproduction] = {}


def register_reproduction(name: str, description: str, options: tuple[str, ...] = ()) -> Callable:
    def deco(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        REPRODUCTIONS[name] = Reproduction(name, description, fn, options)
        return fn

    return deco


def get_reproduction(name: str) -> Reproduction:
    import gankit.reproduce as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name not in ("registry", "report"):
            importlib.import_module(f"gankit.reproduce.{m.name}")
    if name not in REPRODUCTIONS:
        raise GankitError(f"unknown reproduction '{name}' (known: {', '.join(sorted(REPRODUCTIONS))})")
    return REPRODUCTIONS[name]
