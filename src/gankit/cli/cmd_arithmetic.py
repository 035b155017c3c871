"""``gankit arithmetic RUN``: DCGAN-style vector arithmetic on averaged latent vectors.

A pool of ``--pool`` samples is drawn with ``--seed``. ``--candidates FILE.png`` writes the
pool as a numbered grid (row-major, from 0) to pick groups from. Each ``--group NAME=SPEC``
is either indices into the pool (``A=3,17,42``) or ``class:K``: the first ``--per-group``
samples that the digit classifier (gankit.metrics.classifier) labels K. ``--expr`` adds and
subtracts the group means (``"A - B + C"``); the output PNG shows one row per group (its
members, then the decoded mean) and a last row: the result and neighbours of it.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from gankit.errors import GankitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("arithmetic", help="add and subtract averaged latent vectors of sample groups")
    p.add_argument("run", help="run directory or checkpoint file")
    p.add_argument("--group", action="append", default=[], metavar="NAME=SPEC",
                   help="NAME=i,j,k (pool indices) or NAME=class:K (digit classifier); repeatable")
    p.add_argument("--expr", default=None, help="e.g. 'A - B + C' (default: the groups' names added in order)")
    p.add_argument("--out", default=None, help="PNG for the result grid")
    p.add_argument("--candidates", default=None, help="PNG of the numbered pool to pick indices from")
    p.add_argument("--pool", type=int, default=256, help="samples drawn to pick groups from")
    p.add_argument("--per-group", type=int, default=3, help="members of a class:K group (DCGAN averaged 3)")
    p.add_argument("--neighbours", type=int, default=7, help="extra result images at z + U(-0.25, 0.25) noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=int, default=None, help="conditional models: class used for every sample")


def parse_group(spec: str) -> tuple[str, str]:
    if "=" not in spec:
        raise GankitError(f"--group {spec}: expected NAME=i,j,k or NAME=class:K")
    name, value = (s.strip() for s in spec.split("=", 1))
    if not name.isidentifier():
        raise GankitError(f"--group {spec}: '{name}' is not a valid group name (letters, digits, _)")
    return name, value


def digit_classifier(dataset: str) -> Callable[[Tensor], Tensor]:
    """images [N, 1, 28, 28] in [0, 1] -> predicted classes, by the metrics' held-out classifier."""
    try:
        from gankit.metrics.classifier import predict
        from gankit.nets.classifier import load_classifier
    except ImportError:
        raise GankitError("class:K groups need the digit classifier (gankit.metrics.classifier), which is not installed; pick groups by index") from None
    model, _ = load_classifier(dataset)  # DataError naming the weights file if they are missing
    return lambda x: predict(model, x)


def run(args: argparse.Namespace) -> int:
    from gankit.images import save_grid
    from gankit.latent import combine, decode, group_mean, jitter, parse_expression, pick_by_class, pick_by_index, save_strip
    from gankit.training.generator import load_generator, sample_noise
    from gankit.training.translation import refuse_translator

    if not args.group and not args.candidates:
        raise GankitError("give --group NAME=SPEC (with --out) to do arithmetic, or --candidates FILE.png to see the pool")
    if args.group and not args.out:
        raise GankitError("--out: needed for the result grid")
    for flag in ("out", "candidates"):
        v = getattr(args, flag)
        if v is not None and Path(v).suffix.lower() != ".png":
            raise GankitError(f"--{flag} {v}: expected a .png file name")
    if args.pool < 1 or args.per_group < 1 or args.neighbours < 0:
        raise GankitError("--pool and --per-group must be at least 1, --neighbours at least 0")
    G, cfg, context, step = load_generator(args.run)
    refuse_translator(args.run, context)
    k = context.get("num_classes", 0)
    noise = sample_noise(cfg, context, args.seed)
    z, y = noise.sample(args.pool)
    if args.label is not None:
        if not k:
            raise GankitError(f"--label: {args.run} is not a conditional model")
        if not 0 <= args.label < k:
            raise GankitError(f"--label {args.label}: expected a class in 0..{k - 1}")
        y = torch.full((args.pool,), args.label, dtype=torch.long)
    images = decode(G, z, y, cfg.data.pixel_range)
    if args.candidates:
        save_grid(images, args.candidates, nrow=16)
        print(f"wrote the pool of {args.pool} samples (indices row by row from 0, 16 a row) to {args.candidates}")
    if not args.group:
        return 0

    groups: dict[str, Tensor] = {}
    classify = None
    for spec in args.group:
        name, value = parse_group(spec)
        if name in groups:
            raise GankitError(f"--group {spec}: group '{name}' given twice")
        if value.startswith("class:"):
            try:
                label = int(value[6:])
            except ValueError:
                raise GankitError(f"--group {spec}: expected class:K with an integer K") from None
            classify = classify or digit_classifier(cfg.data.name)
            groups[name] = pick_by_class(images, classify, label, args.per_group)
        else:
            try:
                idx = [int(v) for v in value.split(",") if v.strip()]
            except ValueError:
                raise GankitError(f"--group {spec}: expected comma-separated pool indices or class:K") from None
            groups[name] = pick_by_index(args.pool, idx)
    expr = args.expr or " + ".join(groups)
    parse_expression(expr)
    means = {n: group_mean(z, idx) for n, idx in groups.items()}
    result = combine(means, expr)
    # Conditional models: the result keeps the label of the first group's first member.
    y_res = None if y is None else y[next(iter(groups.values()))[0]].expand(args.neighbours + 1)
    zs = jitter(result, args.neighbours + 1, 0.25, torch.Generator().manual_seed(args.seed))
    width = max(args.neighbours + 1, max(len(i) for i in groups.values()) + 1)
    rows = []
    for name, idx in groups.items():
        mean_img = decode(G, means[name][None], None if y is None else y[idx[:1]], cfg.data.pixel_range)
        row = torch.cat([images[idx], mean_img])
        rows.append(_pad(row, width))
    rows.append(_pad(decode(G, zs, y_res, cfg.data.pixel_range), width))
    save_strip(rows, args.out)
    print(f"{expr}: groups " + ", ".join(f"{n}={idx.tolist()}" for n, idx in groups.items())
          + f"; wrote {args.out} (rows: each group's members and mean, then the result and {args.neighbours} neighbours)")
    return 0


def _pad(row: Tensor, width: int) -> Tensor:
    """Fill a row up to ``width`` images with blank (white) tiles."""
    if row.shape[0] >= width:
        return row[:width]
    return torch.cat([row, torch.ones(width - row.shape[0], *row.shape[1:])])
