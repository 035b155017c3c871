"""Loading a trained generator for sampling and evaluation: no optimiser state, no data."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import torch

from gankit.config import Config, config_from_dict
from gankit.errors import CheckpointError
from gankit.training import checkpoint as ckpt
from gankit.training.build import build_nets, generate
from gankit.training.ema import BN_RECALIBRATION_SEED, recalibrate_batchnorm
from gankit.training.resume import CHECKPOINTS, EMA_KEY, EXTRAS, newest_good_checkpoint
from gankit.training.noise import NoiseSampler


def resolve_checkpoint(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        found = ckpt.list_checkpoints(p / CHECKPOINTS) or ckpt.list_checkpoints(p)
        if not found:
            raise CheckpointError(f"{p}: no checkpoints in this run directory")
        return found[-1]
    if not p.exists():
        raise CheckpointError(f"{p}: no such run directory or checkpoint")
    return p


# ``gankit export``: G alone. Plain state-dict keys; metadata (all JSON strings) holds what
# rebuilds it without gankit's config: "net" {name, kwargs} and "noise" {dim, distribution,
# scale, num_classes}, "pixel_range", "step"; and "config" / "context" for gankit itself.
GENERATOR_FORMAT = "gankit-generator/1"


def file_format(path: Path) -> Optional[str]:
    """The ``format`` in a safetensors file's metadata, or None when it is not readable as one."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return (f.metadata() or {}).get("format")
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError):
        return None


def read_exported(path: Path) -> tuple[torch.nn.Module, Config, dict[str, Any], int]:
    """(G in eval mode, config, net context, step) from a ``gankit export`` file."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        weights = load_file(str(path))
        cfg = config_from_dict(json.loads(meta["config"]), f"{path}: config")
        context = json.loads(meta["context"])
        step = int(meta["step"])
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: damaged exported generator ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    G, _ = build_nets(cfg, context)
    try:
        G.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit generator '{cfg.generator.name}' ({str(e).splitlines()[0]})") from None
    return G.eval(), cfg, context, step


def load_generator(path: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, Config, dict[str, Any], int]:
    """(G in eval mode on ``device``, config, net context, step) from a run directory,
    checkpoint file or exported generator, whatever device wrote it. G is the weight
    average when the run keeps one, with batch-norm statistics of its own."""
    p = Path(path)
    if p.is_file() and file_format(p) == GENERATOR_FORMAT:
        G, cfg, context, step = read_exported(p)
        return G.to(device), cfg, context, step
    if p.is_dir():
        problems: list[str] = []
        found = newest_good_checkpoint(p / CHECKPOINTS if (p / CHECKPOINTS).is_dir() else p, problems.append)
        if found is None:
            why = f" (newest: {problems[0].removeprefix('gankit: warning: ')})" if problems else ""
            raise CheckpointError(f"{p}: no loadable checkpoint in this run directory{why}")
        for line in problems:  # fell back past damaged ones: say so, on stderr
            print(line, file=sys.stderr)
        payload = found[1]
    else:
        payload = ckpt.load(resolve_checkpoint(p))
    cfg = config_from_dict(json.loads(payload["config"]), f"{p}: config")
    context = json.loads(payload["context"])
    G, _ = build_nets(cfg, context)
    ema = payload.get(EXTRAS, {}).get(EMA_KEY)
    G.load_state_dict(ema["weights"] if ema is not None else payload["G"])
    G.to(device).eval()
    if ema is not None:  # the average's weights came with the live G's batch-norm statistics: recompute them
        recalibrate_batchnorm(G, sample_noise(cfg, context, BN_RECALIBRATION_SEED))
    return G, cfg, context, int(payload["step"])


def sample_noise(cfg: Config, context: dict[str, Any], seed: int) -> NoiseSampler:
    return NoiseSampler(cfg.noise.dim, cfg.noise.distribution, cfg.noise.scale, context.get("num_classes", 0), seed)


def sample_from(path: str | Path, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    G, cfg, context, _ = load_generator(path)
    return generate(G, n, sample_noise(cfg, context, seed), cfg.data.pixel_range, labels)
