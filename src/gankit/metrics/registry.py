"""Metrics by name; names carry their sample counts (``parzen10k``), as in stylegan2-ada.

A metric is a function ``fn(ctx) -> dict[str, float]``. ``ctx`` gives it samples of the
generator and the dataset's splits, so one trained run can be scored by any metric.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Optional, Protocol

import torch
from torch import Tensor

from gankit.data.datasets import Dataset
from gankit.errors import ConfigError
from gankit.registry import Registry


class Spread(Protocol):
    """How the processes of a data-parallel job share per-sample work
    (``gankit.training.parallel.Shard`` is one)."""

    def span(self, n: int) -> tuple[int, int]:
        """This process's rows [lo, hi) of n; in rank order the spans tile 0..n."""
        ...

    def gather_rows(self, part: Callable[[], Tensor]) -> Tensor:
        """Every process's ``part()`` (its rows) concatenated in rank order, on every process."""
        ...


@dataclass(frozen=True)
class Sharded:
    """Generation split among processes: ``sample(n, lo, hi)`` is rows lo..hi of what the
    context's ``sample(n)`` returns and ``sample_labels(labels, lo, hi)`` rows lo..hi of
    ``sample_labels(labels)``. Each draws the noise of all n rows (cheap) and runs the
    generator on its own, so the gathered rows are the one-process samples, in order."""

    spread: Spread
    sample: Callable[[int, int, int], Tensor]
    sample_labels: Optional[Callable[[Tensor, int, int], Tensor]] = None


def _as_is(x: Tensor) -> Tensor:
    return x


@dataclass
class EvalContext:
    """What a metric may use. ``sample(n)`` returns generated images [n, C, H, W] in [0, 1].

    With ``sharded`` (evaluation in a data-parallel job) each process generates its share of
    the samples and applies the metric's per-sample function (features, predicted classes)
    to that share only; ``samples``, ``map_samples`` and ``map_labelled`` return the
    gathered rows, the same on every process as one process computes them."""

    sample: Callable[[int], Tensor]
    data: Dataset
    seed: int = 0
    scale: float = 1.0  # < 1 shrinks sample counts for smoke runs (--dry-run)
    options: dict[str, Any] = field(default_factory=dict)
    sample_labels: Optional[Callable[[Tensor], Tensor]] = None  # conditional: samples for given labels
    device: torch.device = torch.device("cpu")  # where metrics run their nets and distances (samples arrive on the host)
    sharded: Optional[Sharded] = None
    _cache: dict[int, tuple[int, Tensor]] = field(default_factory=dict)  # n -> (lo, this process's rows lo.. of the n-set)

    def count(self, n: int) -> int:
        return max(1, int(round(n * self.scale)))

    def samples(self, n: int) -> Tensor:
        """The first n generated samples; cached so several metrics share them."""
        return self.map_samples(n, _as_is)

    def map_samples(self, n: int, fn: Callable[[Tensor], Tensor]) -> Tensor:
        """``fn(self.samples(n))`` for a row-wise ``fn`` (row i of its result depends on
        sample i alone): sharded, each process applies it to its own rows and only the
        results are gathered."""
        n = self.count(n)

        def part() -> Tensor:
            have = max(self._cache, default=0)
            if have < n:  # a larger set drawn earlier serves smaller requests by its first rows
                lo, hi = self.sharded.spread.span(n) if self.sharded else (0, n)
                self._cache = {n: (lo, self.sharded.sample(n, lo, hi) if self.sharded else self.sample(n))}
                have = n
            lo, x = self._cache[have]
            x = x[: max(0, n - lo)]
            return fn(x) if x.shape[0] else x

        return self._gather(part)

    def map_labelled(self, labels: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
        """``fn(self.sample_labels(labels))`` for a row-wise ``fn``, shared among processes as
        ``map_samples`` (fresh samples on every call, never cached)."""
        if self.sample_labels is None:
            raise ConfigError("this metric needs a conditional model (EvalContext.sample_labels is not set)")
        rows = self.sharded.sample_labels if self.sharded else None

        def part() -> Tensor:
            if rows is None or self.sharded is None:
                x = self.sample_labels(labels)
            else:
                x = rows(labels, *self.sharded.spread.span(labels.shape[0]))
            return fn(x) if x.shape[0] else x

        return self._gather(part) if rows is not None else part()

    def _gather(self, part: Callable[[], Tensor]) -> Tensor:
        return self.sharded.spread.gather_rows(part) if self.sharded else part()


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
