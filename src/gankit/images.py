"""Sample grids as PNG (Pillow)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from gankit.atomic import atomic_path


def make_grid(x: Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """[N, C, H, W] in [0, 1] -> uint8 image [H', W', C] (C 1 or 3) with ``pad`` pixel gaps."""
    x = x.detach().float().clamp(0, 1).cpu()
    n, c, h, w = x.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    grid = torch.ones(c, pad + ncol * (h + pad), pad + nrow * (w + pad))
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    return (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def to_uint8(x: Tensor) -> np.ndarray:
    """One image [C, H, W] in [0, 1] -> uint8 [H, W, C], rounded to the nearest level."""
    return (x.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_png(array: np.ndarray, path: str | Path) -> None:
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def save_grid(x: Tensor, path: str | Path, nrow: int | None = None) -> None:
    save_png(make_grid(x, nrow), path)
