"""``gankit interpolate RUN``: latent walks of a trained generator, as a PNG strip (one row
per path and method) and an animated GIF (every path moving at once)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gankit.errors import GankitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("interpolate", help="latent walks between random points: PNG strip and GIF")
    p.add_argument("run", help="run directory or checkpoint file")
    p.add_argument("--out", required=True, help="PNG file for the strip; the GIF is written next to it (.gif)")
    p.add_argument("--method", choices=["linear", "spherical", "both"], default="both")
    p.add_argument("--steps", type=int, default=10, help="points per path, both ends included (>= 2)")
    p.add_argument("--paths", type=int, default=6, help="number of random start/end pairs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=int, default=None, help="conditional models: class for every path (default: path i gets class i mod K)")


def run(args: argparse.Namespace) -> int:
    from gankit.latent import save_gif, save_strip, walks
    from gankit.training.generator import load_generator, sample_noise
    from gankit.training.translation import refuse_translator

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise GankitError(f"--out {args.out}: expected a .png file name (the GIF goes next to it)")
    if args.steps < 2:
        raise GankitError(f"--steps {args.steps}: expected at least 2")
    if args.paths < 1:
        raise GankitError(f"--paths {args.paths}: expected at least 1")
    G, cfg, context, step = load_generator(args.run)
    refuse_translator(args.run, context)
    k = context.get("num_classes", 0)
    labels = None
    if args.label is not None:
        if not k:
            raise GankitError(f"--label: {args.run} is not a conditional model")
        if not 0 <= args.label < k:
            raise GankitError(f"--label {args.label}: expected a class in 0..{k - 1}")
        labels = torch.full((args.paths,), args.label, dtype=torch.long)
    elif k:
        labels = torch.arange(args.paths) % k
    noise = sample_noise(cfg, context, args.seed)
    z0, _ = noise.sample(args.paths)
    z1, _ = noise.sample(args.paths)
    methods = ("linear", "spherical") if args.method == "both" else (args.method,)
    rows = walks(G, z0, z1, args.steps, methods, labels, cfg.data.pixel_range)
    save_strip(rows, out)
    gif = out.with_suffix(".gif")
    save_gif([torch.stack([r[t] for r in rows]) for t in range(args.steps)], gif)
    print(f"wrote {len(rows)} walks ({', '.join(methods)}; {args.steps} steps) from step {step} to {out} and {gif}")
    return 0
