"""p_z: the noise G draws from, and class labels for conditional models."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from gankit.training.parallel import Shard


class NoiseSampler:
    """p_z: Gaussian or uniform noise, plus class labels for conditional models.

    The noise is drawn on the CPU from the sampler's own generator and then moved to
    ``device``, so a run draws the same z on any device. With a ``shard`` (training in a
    data-parallel job), ``sample(n)`` draws the global n and returns this process's slice."""

    def __init__(
        self, dim: int, distribution: str, scale: float, num_classes: int, seed: int,
        device: torch.device | str = "cpu", shard: Shard = Shard(),
    ) -> None:
        self.dim, self.distribution, self.scale, self.num_classes = dim, distribution, scale, num_classes
        self.generator = torch.Generator().manual_seed(seed)
        self.device, self.shard = torch.device(device), shard

    def sample(self, n: int) -> tuple[Tensor, Optional[Tensor]]:
        if self.distribution == "gaussian":
            z = torch.randn(n, self.dim, generator=self.generator).mul_(self.scale)
        else:
            z = torch.rand(n, self.dim, generator=self.generator).mul_(2 * self.scale).sub_(self.scale)
        y = torch.randint(self.num_classes, (n,), generator=self.generator) if self.num_classes else None
        z = self.shard.take(z).to(self.device)
        return z, None if y is None else self.shard.take(y).to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
