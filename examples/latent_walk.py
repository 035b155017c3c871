"""A latent walk: decode points on the great circle between two noise vectors.

    python examples/latent_walk.py runs/dcgan --out walk.png
    python examples/latent_walk.py --dry-run --out /tmp/walk.png   # trains a tiny run first
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import gankit
from gankit.images import save_grid


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: Gaussian noise lives near a sphere, so walk along it."""
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos.clamp(-1, 1))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / so


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="run directory, checkpoint or exported generator")
    p.add_argument("--out", default="walk.png")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args()
    run = a.run
    if run is None:
        if not a.dry_run:
            p.error("give a run directory, or --dry-run to train a tiny one")
        run = gankit.train("goodfellow2014-fast", Path(tempfile.mkdtemp(prefix="gankit-example-")), dry_run=True,
                           overrides=["log.progress=false"]).run_dir

    G = gankit.load_generator(run)
    z, y = G.noise(2, seed=a.seed)
    t = torch.linspace(0, 1, a.steps)[:, None]
    path = slerp(z[0:1], z[1:2], t)
    labels = None if y is None else y[:1].expand(a.steps)
    images = G(path, labels)
    save_grid(images, a.out, nrow=a.steps)
    print(f"wrote a {a.steps}-step walk from step {G.step} to {a.out}")


if __name__ == "__main__":
    main()
