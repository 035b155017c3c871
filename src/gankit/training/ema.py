"""Exponential moving average of the generator's weights (Polyak averaging).

Sampling from averaged weights smooths out the oscillation of the adversarial game at no
training cost; the EMA is part of the checkpoint and ``gankit sample`` prefers it.
As in TensorFlow's ExponentialMovingAverage with ``num_updates``, the decay ramps up as
min(decay, (1 + t) / (warmup + t)) with warmup = 10, so the average does not remember the
random initial weights for long when ``decay`` is close to 1. Until the ramp reaches
``decay`` (t ~ warmup / (1 - decay)) the average weights step s by about (s / t)^(warmup - 2):
warmup 2 is the uniform (Polyak) average, 3 a linearly weighted one (polynomial-decay
averaging, Shamir & Zhang 2013).
"""
from __future__ import annotations

import copy
from typing import Any, Optional, Protocol

import torch
from torch import Tensor, nn


class Draws(Protocol):
    """What G's inputs come from: z and its conditions (labels, input images or None) for m
    examples (a NoiseSampler; a translator's training inputs)."""

    def sample(self, m: int) -> tuple[Tensor, Optional[Tensor]]: ...


class EMA:
    def __init__(self, module: nn.Module, decay: float, warmup: float = 10.0) -> None:
        if warmup < 2:
            raise ValueError(f"EMA warmup must be at least 2 (uniform average), got {warmup}")
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self._src = module

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.num_updates) / (self.warmup + self.num_updates))

    @torch.no_grad()
    def update(self) -> None:
        src = dict(self._src.named_parameters())
        params = [p for n, p in self.module.named_parameters()]
        torch._foreach_lerp_(params, [src[n] for n, _ in self.module.named_parameters()], 1.0 - self.current_decay())
        self.num_updates += 1
        for (_, b), (_, sb) in zip(self.module.named_buffers(), self._src.named_buffers()):
            b.copy_(sb)

    def __call__(self, state: Any, stats: Any) -> None:  # a training callback: after every G step
        self.update()

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.module.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])
        self.num_updates = int(state.get("num_updates", 0))


BN_RECALIBRATION_SAMPLES = 10_000
BN_RECALIBRATION_SEED = 20_000  # noise seed load_generator uses (the dcgan reproduction's seed + 20,000 at seed 0)


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, noise: Draws, n: int = BN_RECALIBRATION_SAMPLES, batch: int = 500) -> int:
    """Recompute G's batch-norm running statistics for its own weights; returns how many BN
    layers were reset.

    An average of G's weights (``train.ema_decay``) carries the running statistics of the
    live G, which were gathered with other weights; in eval mode those mismatched statistics
    normalise the averaged net's activations. Here they are replaced by the cumulative
    average (momentum None) of the batch statistics of ``n`` samples drawn from ``noise``,
    in batches of ``batch`` (train mode), and G is left in eval mode.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return 0
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    device = next(G.parameters()).device
    try:
        for i in range(0, n, batch):
            z, y = noise.sample(min(batch, n - i))
            G(z.to(device), None if y is None else y.to(device))
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        G.eval()
    return len(bns)
