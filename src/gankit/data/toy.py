"""Low-dimensional toy data: the 2-D mixtures of PacGAN/VEEGAN and Figure 1's 1-D Gaussian.

- ``ring8``: 8 Gaussians, means evenly on the unit circle, σ = 0.01 (PacGAN: variance 1e-4);
- ``grid25``: 25 Gaussians at {−4, −2, 0, 2, 4}², σ = 0.05 (variance 0.0025);
- ``gauss1d``: N(0.4, 0.12²), the p_data of ``gankit reproduce figure1``.

Every gankit dataset is stored in [0, 1] (samplers clamp to it and ``pixel_range``
maps it to what the nets see), so a toy dataset stores its points through a fixed affine
map of a box [−L, L]^d onto [0, 1]^d: u = (x/L + 1)/2. With ``pixel_range: symmetric`` the
nets see x/L. :class:`ToySpec` converts both ways and knows the mode centres, for the mode
metrics (gankit.metrics.modes) and the live diagnostics. Points are [N, d] tensors, not
images; nothing here assumes d = 2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from gankit.data.datasets import Dataset, Split, register_dataset

TRAIN, VALID, TEST = 100_000, 2_500, 2_500  # PacGAN trains on 100k points


@dataclass(frozen=True)
class ToySpec:
    name: str
    centers: Tensor  # [K, d] mode means, physical coordinates
    sigma: float  # per-coordinate standard deviation of every mode
    half_width: float  # L: the box [−L, L]^d stored as [0, 1]^d

    @property
    def dim(self) -> int:
        return self.centers.shape[1]

    @property
    def num_modes(self) -> int:
        return self.centers.shape[0]

    def to_unit(self, x: Tensor) -> Tensor:
        return (x / self.half_width + 1) / 2

    def to_physical(self, u: Tensor) -> Tensor:
        """[0, 1] dataset/sampler coordinates (any shape [N, ...] with d values each) -> [N, d]."""
        return (u.reshape(u.shape[0], -1).double() * 2 - 1) * self.half_width

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n physical points: a uniformly chosen mode plus isotropic Gaussian noise."""
        k = torch.randint(self.num_modes, (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.centers[k] + self.sigma * noise


def _ring(k: int = 8, radius: float = 1.0) -> Tensor:
    a = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return torch.stack([radius * torch.cos(a), radius * torch.sin(a)], 1)


def _grid(side: int = 5, spacing: float = 2.0) -> Tensor:
    c = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(c, c)


TOY_SPECS: dict[str, ToySpec] = {
    "ring8": ToySpec("ring8", _ring(8, 1.0), 0.01, 1.5),
    "grid25": ToySpec("grid25", _grid(5, 2.0), 0.05, 5.0),
    "gauss1d": ToySpec("gauss1d", torch.tensor([[0.4]], dtype=torch.float64), 0.12, 1.0),
}


def toy_spec(name: str) -> Optional[ToySpec]:
    """The spec of a toy dataset by name, or None for other datasets."""
    return TOY_SPECS.get(name)


def make_toy_dataset(spec: ToySpec, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    splits = [Split(spec.to_unit(spec.sample(n, g)).float()) for n in (TRAIN, VALID, TEST)]
    return Dataset(spec.name, *splits, num_classes=0, source=f"synthetic {spec.name} (seed {seed})")


def _register(name: str) -> None:
    @register_dataset(name)
    def load(root: Optional[str] = None, download: bool = True) -> Dataset:
        # synthetic: root and download do not apply; the data are the same on every machine
        return make_toy_dataset(TOY_SPECS[name])


for _name in TOY_SPECS:
    _register(_name)
