"""Train a GAN on your own data with your own generator.

The data here is a tensor of images [N, 1, 16, 16] in [0, 1] (soft blobs at random places);
yours can be a tensor, an ``(x, y)`` pair, a torch ``Dataset``/``DataLoader`` or a folder of
PNG/JPEG images. The generator is a plain ``nn.Module`` class; gankit fills its
``noise_dim`` and ``image_shape`` arguments from the config and the data.

    python examples/train_own_data.py --out runs/blobs
    python examples/train_own_data.py --dry-run      # seconds: tiny data, a few steps
"""
from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import gankit


class BlobGenerator(nn.Module):
    """z -> image: a two-layer MLP with a sigmoid output (pixels in [0, 1])."""

    def __init__(self, noise_dim: int, image_shape: list[int], hidden: int = 256) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden), nn.ReLU(), nn.Linear(hidden, math.prod(self.image_shape)), nn.Sigmoid()
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


def blobs(n: int, side: int = 16, seed: int = 0) -> torch.Tensor:
    """n images of one Gaussian blob each, centred at random."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n, 2, generator=g) * (side - 6) + 3
    grid = torch.arange(side, dtype=torch.float32)
    dy = (grid[None, :, None] - centres[:, 0, None, None]) ** 2
    dx = (grid[None, None, :] - centres[:, 1, None, None]) ** 2
    return torch.exp(-(dx + dy) / 8.0)[:, None]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    p.add_argument("--steps", type=int, default=None, help="default: the preset's (with --dry-run: a dozen)")
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args()

    data = blobs(2000)
    cfg = gankit.load_config("goodfellow2014-fast")  # the paper's maxout D and SGD; our own G below
    result = gankit.train(
        cfg,
        a.out,
        data=data,
        generator=BlobGenerator,
        overrides=["noise.dim=32", "train.precision=fp32", "log.progress=false"] + ([f"train.steps={a.steps}"] if a.steps else []),
        dry_run=a.dry_run,
    )
    x = result.generator.sample(16, seed=0)
    print(f"trained {result.step} steps into {result.run_dir}; samples {list(x.shape)} in [{x.min():.2f}, {x.max():.2f}]")


if __name__ == "__main__":
    main()
