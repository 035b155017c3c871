"""Metrics by name; names carry their sample counts (``parzen10k``), as in stylegan2-ada.

A metric is a function ``fn(ctx) -> dict[str, float]``. ``ctx`` gives it samples of the
generator and the dataset's splits, so one trained run can be scored by any metric.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Optional

import torch
from torch import Tensor

from gankit.data.datasets import Dataset
from gankit.errors import ConfigError
from gankit.registry import Registry


@dataclass
class EvalContext:
    """What a metric may use. ``sample(n)`` returns generated images [n, C, H, W] in [0, 1]."""

    sample: Callable[[int], Tensor]
    data: Dataset
    seed: int = 0
    scale: float = 1.0  # < 1 shrinks sample counts for smoke runs (--dry-run)
    options: dict[str, Any] = field(default_factory=dict)
    sample_labels: Optional[Callable[[Tensor], Tensor]] = None  # conditional: samples for given labels
    device: torch.device = torch.device("cpu")  # where metrics run their nets and distances (samples arrive on the host)
    _cache: dict[int, Tensor] = field(default_factory=dict)

    def count(self, n: int) -> int:
        return max(1, int(round(n * self.scale)))

    def samples(self, n: int) -> Tensor:
        """The first n generated samples; cached so several metrics share them."""
        n = self.count(n)
        have = max(self._cache, default=0)
        if have < n:
            self._cache = {n: self.sample(n)}
            have = n
        return self._cache[have][:n]


Direction = Literal["min", "max"]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[EvalContext], dict[str, float]]
    description: str
    # figure -> which way is better ("min" for FID), for keeping a run's best checkpoint
    directions: Mapping[str, Direction] = field(default_factory=dict)


METRICS: Registry[Metric] = Registry("metric")


def register_metric(name: str, description: str = "", directions: Optional[Mapping[str, Direction]] = None) -> Callable:
    """Decorator: register ``fn(ctx) -> figures`` as metric ``name``; the description
    defaults to the first line of its docstring. ``directions`` says, for figures that can
    rank checkpoints, whether lower ("min") or higher ("max") is better."""

    def deco(fn: Callable[[EvalContext], dict[str, float]]) -> Callable[[EvalContext], dict[str, float]]:
        METRICS.add(name, Metric(name, fn, description or (fn.__doc__ or "").strip().splitlines()[0], dict(directions or {})))
        return fn

    return deco


def figure_direction(metrics: list[str], figure: str) -> Direction:
    """Which way figure ``figure`` of ``metrics`` is better; a ConfigError naming
    ``log.best_metric`` when none of them declares it."""
    known: dict[str, Direction] = {}
    for m in metrics:
        known.update(get_metric(m).directions)
    if figure not in known:
        have = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"field 'log.best_metric': '{figure}' is not a rankable figure of log.eval_metrics (rankable: {have})")
    return known[figure]


def get_metric(name: str) -> Metric:
    return METRICS.get(name)


def evaluate(names: list[str], ctx: EvalContext) -> dict[str, float]:
    out: dict[str, float] = {}
    metrics = [get_metric(n) for n in names]  # fail on a bad name before any work
    for m in metrics:
        with torch.no_grad():
            out.update(m.fn(ctx))
    return out
