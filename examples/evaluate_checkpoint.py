"""Evaluate a trained generator, keep its figures, and export it for plain PyTorch.

    python examples/evaluate_checkpoint.py runs/dcgan --metric fid10k --metric pr10k
    python examples/evaluate_checkpoint.py --dry-run   # trains a tiny run first, then the same calls

The metrics accept a run directory, a checkpoint, an exported generator, a ``Generator``
object or a tensor of samples (with the reference data named).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

import gankit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="run directory or checkpoint (with --dry-run: trained here)")
    p.add_argument("--metric", action="append", default=None, help="metric name (repeatable; default fid2k and pr10k)")
    p.add_argument("--out", default=None, help="folder for the exported generator (default: a temporary one)")
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args()
    metrics = a.metric or ["fid2k", "pr10k"]
    work = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="gankit-example-"))

    run = a.run
    if run is None:
        if not a.dry_run:
            p.error("give a run directory, or --dry-run to train a tiny one")
        run = gankit.train("goodfellow2014-fast", work / "run", dry_run=True, overrides=["log.progress=false"]).run_dir

    G = gankit.load_generator(run)
    print(f"generator of step {G.step}: {type(G.module).__name__}, noise dim {G.config.noise.dim}")

    # 1. the run itself: samples drawn from G on the metrics' own seed
    figures = gankit.evaluate(G, metrics, dry_run=a.dry_run)
    print("from the generator:", json.dumps(figures, sort_keys=True))

    # 2. a tensor of samples you made: the reference data must be named
    x = G.sample(2000, seed=1)
    figures = gankit.evaluate(x, ["fid2k"], data=G.config.data.name, dry_run=a.dry_run)
    print("from a tensor:", json.dumps(figures, sort_keys=True))

    # 3. export G alone and load it with plain torch + safetensors: same samples for a seed
    path = gankit.export_generator(run, work / "g.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    net = json.loads(meta["net"])
    plain = gankit.load_generator(path)  # gankit reading the export
    z, y = G.noise(8, seed=3)
    with torch.no_grad():
        module = type(G.module)(**net["kwargs"])  # the net's class, built from the export's JSON alone
        module.load_state_dict(load_file(str(path)))
        module.eval()
        same = torch.allclose(module(z, y), G.module(z, y)) and torch.equal(plain.sample(8, seed=3), G.sample(8, seed=3))
    print(f"exported {net['name']} to {path}; plain-torch copy gives the same images: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
