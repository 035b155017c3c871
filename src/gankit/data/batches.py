"""Shuffled minibatches straight from in-memory tensors (no per-sample transforms).

The shuffle order and position are part of the state, so a resumed run sees exactly the
batches an uninterrupted one would have seen.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor


class MinibatchSource:
    def __init__(self, x: Tensor, y: Optional[Tensor], batch_size: int, seed: int) -> None:
        if batch_size > x.shape[0]:
            batch_size = x.shape[0]
        self.x, self.y, self.batch_size = x, y, batch_size
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
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.x[idx], (None if self.y is None else self.y[idx])

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
