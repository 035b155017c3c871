"""``gankit export RUN --out g.safetensors``: the generator alone (training.export)."""
from __future__ import annotations

import argparse
from pathlib import Path

from gankit.errors import GankitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="write the generator alone (plain state-dict keys + JSON metadata) for plain PyTorch"
    )
    p.add_argument("run", help="run directory, checkpoint file (e.g. RUN/best.safetensors) or exported generator")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--dry-run", action="store_true", help="load and check the generator, write nothing")


def run(args: argparse.Namespace) -> int:
    from gankit.training.export import export_generator
    from gankit.training.generator import load_generator

    if Path(args.out).suffix != ".safetensors":
        raise GankitError(f"--out {args.out}: expected a .safetensors file name")
    if args.dry_run:
        G, cfg, _, step = load_generator(args.run)
        n = sum(p.numel() for p in G.parameters())
        print(f"dry run: would write generator '{cfg.generator.name}' ({n} parameters, step {step}) to {args.out}")
        return 0
    out = export_generator(args.run, args.out)
    print(f"wrote the generator of {args.run} to {out}")
    return 0
