"""Metrics by name; names carry their sample counts (``parzen10k``), as in stylegan2-ada.

A metric is a function ``fn(ctx) -> dict[str, float]``. ``ctx`` gives it samples of the
generator and the dataset's splits, so one trained run can be scored by any metric.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from gankit.data.datasets import Dataset
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


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[EvalContext], dict[str, float]]
    description: str


METRICS: Registry[Metric] = Registry("metric")


def register_metric(name: str, description: str = "") -> Callable:
    """Decorator: register ``fn(ctx) -> figures`` as metric ``name``; the description
    defaults to the first line of its docstring."""

    def deco(fn: Callable[[EvalContext], dict[str, float]]) -> Callable[[EvalContext], dict[str, float]]:
        METRICS.add(name, Metric(name, fn, description or (fn.__doc__ or "").strip().splitlines()[0]))
        return fn

    return deco


def get_metric(name: str) -> Metric:
    return METRICS.get(name)


def evaluate(names: list[str], ctx: EvalContext) -> dict[str, float]:
    out: dict[str, float] = {}
    metrics = [get_metric(n) for n in names]  # fail on a bad name before any work
    for m in metrics:
        with torch.no_grad():
            out.update(m.fn(ctx))
    return out
