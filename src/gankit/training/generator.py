"""Loading a trained generator for sampling and evaluation (no optimiser state, no data),
and drawing samples batch by batch into a .npy file of any size."""
from __future__ import annotations

import errno
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch

from gankit import atomic
from gankit.config import GENERATOR_WEIGHTS, Config, config_from_dict
from gankit.errors import CheckpointError, GankitError
from gankit.training import checkpoint as ckpt
from gankit.training.build import build_nets, generate, to_unit_range
from gankit.training.ema import BN_RECALIBRATION_SAMPLES, BN_RECALIBRATION_SEED, recalibrate_batchnorm
from gankit.training.resume import (
    CHECKPOINTS,
    EMA_KEY,
    EXTRAS,
    check_net_state,
    check_step,
    newest_good_checkpoint,
    payload_config,
)
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


def load_generator(
    path: str | Path, device: torch.device | str = "cpu", weights: str = "average"
) -> tuple[torch.nn.Module, Config, dict[str, Any], int]:
    """(G in eval mode on ``device``, config, net context, step) from a run directory,
    checkpoint file or exported generator, whatever device wrote it. With ``weights``
    "average" G is the weight average when the run keeps one, with batch-norm statistics of
    its own; "raw" is the trained G's own weights (what the released 2014 code samples from)."""
    if weights not in GENERATOR_WEIGHTS:
        raise GankitError(f"weights: expected one of {', '.join(GENERATOR_WEIGHTS)}, got {weights!r}")
    p = Path(path)
    if p.is_file() and file_format(p) == GENERATOR_FORMAT:
        if weights == "raw":
            raise GankitError(f"{p}: an exported generator holds one set of weights; the raw ones need the run directory or a checkpoint")
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
        path = found[0]
    else:
        path = resolve_checkpoint(p)
        payload = ckpt.load(path)
    cfg, context = payload_config(path, payload)
    step = check_step(path, payload)
    try:
        G, _ = build_nets(cfg, context)
    except (GankitError, TypeError, ValueError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: its config and context do not build nets ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    saved_extras = payload.get(EXTRAS, {})
    ema = saved_extras.get(EMA_KEY) if isinstance(saved_extras, dict) and weights == "average" else None
    if ema is not None and not (isinstance(ema, dict) and "weights" in ema):
        raise CheckpointError(f"{path}: {EXTRAS}.{EMA_KEY}: expected the weight average's state")
    where, weights = (f"{EXTRAS}.{EMA_KEY}.weights", ema["weights"]) if ema is not None else ("G", payload.get("G"))
    if weights is None:
        raise CheckpointError(f"{path}: G: missing")
    check_net_state(path, where, weights, G, "generator")
    G.load_state_dict(weights)
    G.to(device).eval()
    if ema is not None:  # the average's weights came with the live G's batch-norm statistics: recompute them
        recalibrate_batchnorm(G, *recalibration_source(cfg, context))
    return G, cfg, context, step


class TrainingInputs:
    """Input images of a translator's training set, in order, with the zero z it ignores:
    what its batch norm is recomputed on (a NoiseSampler's ``sample`` for paired data)."""

    def __init__(self, inputs: torch.Tensor, noise_dim: int) -> None:
        self.inputs, self.noise_dim, self.at = inputs, noise_dim, 0

    def sample(self, m: int) -> tuple[torch.Tensor, torch.Tensor]:
        part = self.inputs[self.at : self.at + m]
        self.at += part.shape[0]
        return torch.zeros(part.shape[0], self.noise_dim), part


def recalibration_source(cfg: Config, context: dict[str, Any]) -> tuple[NoiseSampler | TrainingInputs, int]:
    """What batch norm is recomputed on, and how many examples: noise for a generator; a
    translator's (paired data) training inputs, each once (up to 10,000)."""
    if not context.get("condition_shape"):
        return sample_noise(cfg, context, BN_RECALIBRATION_SEED), BN_RECALIBRATION_SAMPLES
    from gankit.data.datasets import load_dataset
    from gankit.data.paired import oriented
    from gankit.training.build import to_net_range

    # the inputs G was trained on: BtoA runs translate the pairs' B images
    a = oriented(load_dataset(cfg.data.name, cfg.data.root, cfg.data.download), cfg.data.direction).train.a
    if a is None:
        raise CheckpointError(f"data '{cfg.data.name}' has no input images, but the run's generator translates them")
    a = a[:BN_RECALIBRATION_SAMPLES]
    return TrainingInputs(to_net_range(a.float(), cfg.data.pixel_range), cfg.noise.dim), a.shape[0]


def sample_noise(cfg: Config, context: dict[str, Any], seed: int) -> NoiseSampler:
    return NoiseSampler(cfg.noise.dim, cfg.noise.distribution, cfg.noise.scale, context.get("num_classes", 0), seed)


def sample_from(path: str | Path, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    G, cfg, context, _ = load_generator(path)
    return generate(G, n, sample_noise(cfg, context, seed), cfg.data.pixel_range, labels)


# ---------------------------------------------------------------------------------------
# Streaming samples to .npy

SAMPLE_BATCH = 1000


@torch.no_grad()
def iter_samples(
    G: torch.nn.Module,
    n: int,
    noise: NoiseSampler,
    pixel_range: str = "unit",
    label: Optional[int] = None,
    batch: int = SAMPLE_BATCH,
) -> Iterator[torch.Tensor]:
    """``generate``'s samples (the same noise, the same order), one batch at a time."""
    G.eval()
    for i in range(0, n, batch):
        m = min(batch, n - i)
        z, y = noise.sample(m)
        if label is not None:
            y = torch.full((m,), label, dtype=torch.long)
        yield to_unit_range(G(z, y), pixel_range).clamp_(0, 1)


def sample_shape(G: torch.nn.Module, noise_dim: int, num_classes: int) -> tuple[int, ...]:
    """The shape of one sample of G (one zero noise vector through it)."""
    with torch.no_grad():
        y = torch.zeros(1, dtype=torch.long) if num_classes else None
        return tuple(G(torch.zeros(1, noise_dim), y).shape[1:])


def write_npy(
    path: Path,
    n: int,
    shape: tuple[int, ...],
    batches: Callable[[], Iterator[torch.Tensor]],
    dtype: np.dtype = np.dtype("<f4"),
) -> None:
    """Atomically write ``n`` samples of ``shape`` to ``path`` as a .npy array [n, *shape]:
    the header, then each batch as it is drawn (memory stays one batch for any ``n``).
    A file that cannot fit in the free space of ``path``'s file system is refused up front,
    and a write that fails (a full disk) names ``path``."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n, *shape)}
    size = n * math.prod(shape) * dtype.itemsize + 128 + len(repr(header))
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if size > free:
        raise GankitError(f"--out {path}: {n} samples of shape {list(shape)} need {_bytes(size)}; "
                          f"{folder} has {_bytes(free)} free")
    try:
        with atomic.atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.lib.format.write_array_header_2_0(f, header) if size >= 1 << 32 else np.lib.format.write_array_header_1_0(f, header)
                written = 0
                for x in batches():
                    a = np.ascontiguousarray(x.numpy(), dtype=dtype)
                    f.write(a.tobytes())
                    written += a.shape[0]
                if written != n:
                    raise GankitError(f"--out {path}: drew {written} samples, expected {n}")
    except OSError as e:
        why = "no space left on device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise GankitError(f"--out {path}: could not write the samples ({why}); no file was written") from None


def _bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"
