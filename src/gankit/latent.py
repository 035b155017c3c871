"""Latent-space tools (Radford et al. 2015, sections 6.1 and 6.3): walks between latent
points and vector arithmetic on the averaged z of sample groups.

Library functions first; ``gankit interpolate`` and ``gankit arithmetic`` wrap them.

- ``lerp``/``slerp``/``interpolate``: paths between two latent points. Spherical paths
  (White 2016) keep the norm that Gaussian z concentrate around; a straight line passes
  through low-norm points that the generator rarely saw in training.
- ``group_mean``/``combine``/``parse_expression``: DCGAN averaged the z of three samples
  per concept ("smiling woman") because single samples were unstable, then added and
  subtracted the averages ("smiling woman - neutral woman + neutral man").
- ``pick_by_class``: groups chosen by a classifier of the decoded samples (for digits, the
  held-out digit classifier); ``pick_by_index``: groups chosen by the user from a grid.
- ``decode``: z (and labels) to images in [0, 1], in eval mode, without gradients.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import torch
from PIL import Image
from torch import Tensor, nn

from gankit.atomic import atomic_path
from gankit.errors import GankitError
from gankit.images import make_grid

METHODS = ("linear", "spherical")


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Points (1 - t) z0 + t z1 for each t: [len(t), *z0.shape]."""
    t = t.reshape(-1, *([1] * z0.dim())).to(z0.dtype)
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation on the great circle through z0 and z1 (norms interpolated
    linearly): sin((1-t)W)/sin W z0 + sin(tW)/sin W z1, with W the angle between them.
    Falls back to ``lerp`` where the two are (anti)parallel within ``eps``."""
    a, b = z0.flatten().double(), z1.flatten().double()
    na, nb = a.norm(), b.norm()
    if na < eps or nb < eps:
        return lerp(z0, z1, t)
    cos = torch.clamp(torch.dot(a / na, b / nb), -1.0, 1.0)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    if so < eps:
        return lerp(z0, z1, t)
    tt = t.double().reshape(-1, 1)
    ua, ub = a / na, b / nb
    direction = (torch.sin((1 - tt) * omega) * ua + torch.sin(tt * omega) * ub) / so
    norm = (1 - tt) * na + tt * nb
    return (direction * norm).to(z0.dtype).reshape(-1, *z0.shape)


def interpolate(z0: Tensor, z1: Tensor, steps: int, method: str = "spherical") -> Tensor:
    """``steps`` evenly spaced points from z0 to z1 (both ends included)."""
    if method not in METHODS:
        raise GankitError(f"interpolation method '{method}': expected one of {', '.join(METHODS)}")
    if steps < 2:
        raise GankitError(f"interpolation needs at least 2 steps, got {steps}")
    t = torch.linspace(0, 1, steps)
    return lerp(z0, z1, t) if method == "linear" else slerp(z0, z1, t)


@torch.no_grad()
def decode(G: nn.Module, z: Tensor, y: Optional[Tensor] = None, pixel_range: str = "unit", batch: int = 500) -> Tensor:
    """G(z, y) as images in [0, 1], in eval mode (batch-norm running statistics)."""
    was = G.training
    G.eval()
    try:
        out = []
        for i in range(0, z.shape[0], batch):
            x = G(z[i : i + batch], None if y is None else y[i : i + batch])
            out.append((x if pixel_range == "unit" else (x + 1) / 2).clamp(0, 1))
    finally:
        G.train(was)
    return torch.cat(out) if out else torch.empty(0)


def group_mean(z: Tensor, members: Sequence[int] | Tensor) -> Tensor:
    """The average of the latent vectors ``z[members]``."""
    idx = torch.as_tensor(members, dtype=torch.long)
    if idx.numel() == 0:
        raise GankitError("a latent group needs at least one member")
    return z[idx].mean(0)


_TERM = re.compile(r"\s*([+-]?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*")


def parse_expression(expr: str) -> list[tuple[int, str]]:
    """``"A - B + C"`` -> [(+1, 'A'), (-1, 'B'), (+1, 'C')]."""
    terms: list[tuple[int, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TERM.match(expr, pos)
        if m is None or (terms and not m.group(1)) or m.end() == pos:
            raise GankitError(f"expression '{expr}': expected names joined by + and -, e.g. 'A - B + C'")
        terms.append((-1 if m.group(1) == "-" else 1, m.group(2)))
        pos = m.end()
    if not terms:
        raise GankitError("empty latent expression")
    return terms


def combine(means: Mapping[str, Tensor], expr: str) -> Tensor:
    """Evaluate ``expr`` (names of group means joined by + and -) on the group means."""
    terms = parse_expression(expr)
    missing = [n for _, n in terms if n not in means]
    if missing:
        raise GankitError(f"expression '{expr}': no group named {', '.join(missing)} (groups: {', '.join(means)})")
    return sum(sign * means[name] for sign, name in terms)  # type: ignore[return-value]


def jitter(z: Tensor, n: int, scale: float, generator: Optional[torch.Generator] = None) -> Tensor:
    """z and n-1 neighbours z + U(-scale, scale) noise (DCGAN's fig. 7 used 0.25)."""
    noise = (torch.rand(n - 1, *z.shape, generator=generator) * 2 - 1) * scale
    return torch.cat([z[None], z[None] + noise])


def pick_by_class(
    images: Tensor, classify: Callable[[Tensor], Tensor], label: int, count: int
) -> Tensor:
    """Indices of the first ``count`` images that ``classify`` assigns to ``label``."""
    pred = classify(images)
    idx = torch.nonzero(pred == label).flatten()[:count]
    if idx.numel() < count:
        raise GankitError(
            f"only {idx.numel()} of {images.shape[0]} samples were classified as {label}; need {count} (draw a larger pool)"
        )
    return idx


def pick_by_index(pool_size: int, indices: Sequence[int]) -> Tensor:
    bad = [i for i in indices if not 0 <= i < pool_size]
    if bad:
        raise GankitError(f"sample indices {bad} are outside the pool 0..{pool_size - 1}")
    return torch.as_tensor(list(indices), dtype=torch.long)


# ---------------------------------------------------------------------------------------
# Writing strips and GIFs


def save_strip(rows: Sequence[Tensor], path: str | Path) -> None:
    """Rows of images ([n, C, H, W] each, same n) as one PNG grid, a row per entry."""
    x = torch.cat(list(rows))
    arr = make_grid(x, nrow=rows[0].shape[0])
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def save_gif(frames: Sequence[Tensor], path: str | Path, ms_per_frame: int = 120) -> None:
    """Frames ([n, C, H, W] each: the n paths at one step) as an animated GIF that runs
    forwards then backwards, so the loop has no jump."""
    seq = list(frames) + list(frames[-2:0:-1])
    images = []
    for f in seq:
        arr = make_grid(f, nrow=1)  # one path per row, like the strip
        images.append(Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr))
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)




def walks(
    G: nn.Module,
    z0: Tensor,
    z1: Tensor,
    steps: int,
    methods: Sequence[str] = ("spherical",),
    labels: Optional[Tensor] = None,
    pixel_range: str = "unit",
) -> list[Tensor]:
    """Decode a walk from z0[i] to z1[i] per method: rows [steps, C, H, W], ordered path by
    path with one row per method (so linear and spherical rows of a pair sit together)."""
    rows = []
    for i in range(z0.shape[0]):
        for m in methods:
            z = interpolate(z0[i], z1[i], steps, m)
            y = None if labels is None else labels[i].expand(steps)
            rows.append(decode(G, z, y, pixel_range))
    return rows
