"""A custom objective: the relativistic average GAN (Jolicoeur-Martineau 2018).

An objective is a small piece: a D loss over D's outputs on real and generated
examples, and a G loss. Register it under a name (or name it by import path,
``objective.name: mypkg.losses:relativistic``) and any preset can use it.

    python examples/custom_objective.py --out runs/ragan
    python examples/custom_objective.py --dry-run
"""
from __future__ import annotations

import argparse

import torch.nn.functional as F
from torch import Tensor

import gankit


@gankit.register_objective("relativistic-average")
def relativistic() -> gankit.Objective:
    """D judges whether real data look more real than the average generated example."""

    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean()

    def g_loss(fake: Tensor) -> Tensor:
        # RaGAN's G loss needs D on real data too; with only D(G(z)) at hand this is the
        # non-saturating half, which keeps the example a pure (d_loss, g_loss) pair
        return F.softplus(-(fake - fake.detach().mean())).mean()

    # D's outputs are scores compared with each other, not probabilities: logs show them raw
    return gankit.Objective("relativistic-average", d_loss, g_loss, d_probability=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args()
    # the 2-D ring of eight Gaussians: small nets, and mode coverage shows in seconds
    cfg = gankit.load_config("toy-ring8", ["objective.name=relativistic-average", "log.progress=false"])
    result = gankit.train(cfg, a.out, dry_run=a.dry_run)
    print(f"trained {result.step} steps with objective {result.state.objective.name} into {result.run_dir}")


if __name__ == "__main__":
    main()
