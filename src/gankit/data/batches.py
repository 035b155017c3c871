"""Shuffled minibatches straight from in-memory tensors (no per-sample transforms).

The shuffle order and position are part of the state, so a resumed run sees exactly the
batches an uninterrupted one would have seen. In a data-parallel job every process draws
the same global minibatch (same seed) and keeps its own slice of it (process ``rank`` of
``world``).
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from gankit.errors import ConfigError


class MinibatchSource:
    """``x`` and ``y`` may live on the training device (then batches are gathered there) or
    in host memory (then each batch is moved to ``device``)."""

    def __init__(
        self, x: Tensor, y: Optional[Tensor], batch_size: int, seed: int,
        device: torch.device | str = "cpu", rank: int = 0, world: int = 1,
    ) -> None:
        if batch_size > x.shape[0]:
            batch_size = x.shape[0]
        if batch_size % world:
            raise ConfigError(f"field 'data.batch_size': the global minibatch of {batch_size} examples does not "
                              f"split evenly over {world} processes")
        self.x, self.y, self.batch_size = x, y, batch_size  # batch_size: the global minibatch
        self.device = torch.device(device)
        local = batch_size // world
        self.slice = slice(rank * local, (rank + 1) * local)  # this process's part of each minibatch
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(x.shape[0], generator=self.generator)

    def next(self) -> tuple[Tensor, Optional[Tensor]]:
        """The next minibatch; a new permutation each epoch (an incomplete tail is dropped)."""
        if self.position + self.batch_size > self.order.shape[0]:
            self.order = torch.randperm(self.x.shape[0], generator=self.generator)
            self.position = 0
            self.epoch += 1
        idx = self.order[self.position : self.position + self.batch_size][self.slice]
        self.position += self.batch_size
        x = self.x[idx.to(self.x.device)].to(self.device, non_blocking=True)
        return x, (None if self.y is None else self.y[idx.to(self.y.device)].to(self.device, non_blocking=True))

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "order": self.order.clone(),
            "position": self.position,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"].clone()
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
