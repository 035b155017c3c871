"""Small user-style nets for the library tests, named by import path (``tinynets:TinyG``)."""
from __future__ import annotations

import math

import torch
from torch import nn


class TinyG(nn.Module):
    def __init__(self, noise_dim: int, image_shape: list[int], hidden: int = 32) -> None:
        super().__init__()
        self.shape = tuple(image_shape)
        self.net = nn.Sequential(nn.Linear(noise_dim, hidden), nn.ReLU(), nn.Linear(hidden, math.prod(self.shape)), nn.Sigmoid())

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class TinyD(nn.Module):
    def __init__(self, image_shape: list[int], hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


def images(n: int = 256, side: int = 8, seed: int = 0) -> torch.Tensor:
    """n random images [n, 1, side, side] in [0, 1]."""
    return torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(seed))


FAST = [
    "generator.name=tinynets:TinyG", "discriminator.name=tinynets:TinyD", "noise.dim=8", "data.batch_size=32",
    "train.steps=6", "log.every=2", "log.samples_every=3", "log.checkpoint_every=3", "log.progress=false",
    "log.tensorboard=false", "log.diagnostics=false", "train.precision=fp32",
]
