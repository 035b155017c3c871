"""The critic's warm-up (``train.k_warmup``): more critic steps early on and now and then.

The released WGAN code (martinarjovsky/WassersteinGAN, main.py) trains the critic 100
times before each of the first 25 generator iterations and before every 500th, and
``n_critic`` times otherwise, so the critic is near its optimum whenever its estimate of
the distance steers G. The count depends on the generator iteration alone, so a resumed
run repeats it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

from gankit.config import CriticWarmupConfig


@dataclass(frozen=True)
class CriticWarmup:
    steps: int = 100  # critic steps of a warm-up iteration
    first: int = 25  # iterations 0 .. first-1 are warm-up iterations
    every: int = 500  # and so is every multiple of this (0: none after the first)

    @classmethod
    def from_config(cls, cfg: CriticWarmupConfig) -> "CriticWarmup":
        return cls(cfg.steps, cfg.first, cfg.every)

    def covers(self, t: int) -> bool:
        """Whether generator iteration ``t`` (0 for the first) is a warm-up iteration."""
        return t < self.first or (self.every > 0 and t % self.every == 0)


def critic_steps(k: int, warmup: CriticWarmup | None, t: int) -> int:
    """The number of critic steps before generator iteration ``t``."""
    return warmup.steps if warmup is not None and warmup.covers(t) else k
