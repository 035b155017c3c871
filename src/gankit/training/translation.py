"""Image-to-image runs (pix2pix): translating inputs with a trained G, and the
input | output | target pictures that training and reproductions draw."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.training.build import to_net_range, to_unit_range

PREVIEW = 30  # pairs in a training sample grid: 10 rows of three (input, output, target) triplets


@torch.no_grad()
def translate(G: nn.Module, a: Tensor, pixel_range: str, noise_dim: int = 1, batch: int = 500) -> Tensor:
    """G's outputs in [0, 1] for input images ``a`` in [0, 1], batch by batch, in eval mode
    (a U-Net keeps its dropout on: the paper's test-time noise)."""
    was = G.training
    G.eval()
    out = []
    try:
        for i in range(0, a.shape[0], batch):
            part = to_net_range(a[i : i + batch].float(), pixel_range)
            z = torch.zeros(part.shape[0], noise_dim)  # the translators ignore z
            out.append(to_unit_range(G(z, part).float(), pixel_range).clamp_(0, 1))
    finally:
        G.train(was)
    return torch.cat(out) if out else torch.empty(0)


def same_channels(*images: Tensor) -> list[Tensor]:
    """Grayscale images repeated to RGB where any of them is RGB, so they can share a grid."""
    c = max(x.shape[1] for x in images)
    return [x.expand(-1, c, -1, -1) if x.shape[1] == 1 else x for x in images]


def columns(*images: Tensor) -> Tensor:
    """Tiles ordered example by example: [a0, b0, c0, a1, b1, c1, ...] (one column per argument)."""
    images = same_channels(*images)
    return torch.stack(images, 1).reshape(-1, *images[0].shape[1:])


def refuse_translator(run: str, context: dict) -> None:
    """Commands that draw from noise alone (sample, interpolate, arithmetic) refuse an
    image-to-image run with one line pointing at ``gankit translate``."""
    if context.get("condition_shape"):
        raise GankitError(f"{run}: an image-to-image run draws nothing from noise alone; use 'gankit translate {run} --input ...'")
