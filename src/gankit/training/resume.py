"""Resuming a run directory: what a checkpoint holds, which checkpoint to resume from, and
putting a fresh training state back exactly where the checkpoint left it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from gankit.atomic import stale_temp_files, write_text
from gankit.config import Config, config_from_dict
from gankit.errors import CheckpointError, GankitError
from gankit.training import checkpoint as ckpt
from gankit.training.state import TrainState

CHECKPOINTS = "checkpoints"  # a run directory's checkpoint folder
RESUME_MODES = ("auto", "never")
# Payload key of the weight average, under "extras": the file layout every checkpoint uses.
EXTRAS = "extras"
EMA_KEY = "G_ema"
SCALER_KEYS = ("scaler_d", "scaler_g")  # fp16 loss scalers, under "extras"

Found = tuple[Path, dict[str, Any]]  # a checkpoint's path and its loaded payload


def state_payload(s: TrainState, cfg: Config, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "step": s.step,
        "config": json.dumps(cfg.to_dict()),
        "context": json.dumps(context),
        "G": s.G.state_dict(),
        "D": s.D.state_dict(),
        "opt_g": s.opt_g.state_dict(),
        "opt_d": s.opt_d.state_dict(),
        "data": s.data.state_dict(),
        "noise": s.noise.state_dict(),
        "conditions": s.conditions.state_dict(),
        "rng": ckpt.rng_state(),
        "processes": s.shard.world,  # the data-parallel world size that wrote it (same global batch on resume)
        EXTRAS: {
            **({EMA_KEY: s.ema.state_dict()} if s.ema is not None else {}),
            **{k: sc.state_dict() for k in SCALER_KEYS if (sc := getattr(s, k)) is not None},
        },
    }


def _state_like_params(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimiser state the strides of its parameter. Checkpoints hold contiguous
    copies; fused optimisers walk parameter, gradient and state memory in lockstep, so with
    channels_last weights a contiguous exp_avg would be combined with the wrong elements."""
    for p, st in opt.state.items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def restore(s: TrainState, payload: dict[str, Any]) -> None:
    """Put ``s`` where ``payload`` left it, on whatever device ``s`` lives on (checkpoints
    hold host tensors; load_state_dict copies them onto the parameters' device)."""
    s.G.load_state_dict(payload["G"])
    s.D.load_state_dict(payload["D"])
    s.opt_g.load_state_dict(payload["opt_g"])
    s.opt_d.load_state_dict(payload["opt_d"])
    _state_like_params(s.opt_g)
    _state_like_params(s.opt_d)
    s.data.load_state_dict(payload["data"])
    s.noise.load_state_dict(payload["noise"])
    s.conditions.load_state_dict(payload.get("conditions", {}))
    ema = payload.get(EXTRAS, {}).get(EMA_KEY)
    if s.ema is not None and ema is not None:
        s.ema.load_state_dict(ema)
    for key in SCALER_KEYS:
        saved, scaler = payload.get(EXTRAS, {}).get(key), getattr(s, key)
        if saved is not None and scaler is not None:
            scaler.load_state_dict(saved)
    s.step = int(payload["step"])
    s.schedule.apply(s.step)
    ckpt.set_rng_state(payload["rng"])


def newest_good_checkpoint(folder: Path, say: Callable[[str], None] = print, quarantine: bool = False) -> Optional[Found]:
    """Newest checkpoint that loads and passes its checksum. Damaged ones are reported and,
    with ``quarantine`` (training only; sampling never renames files), renamed to
    ``*.damaged`` so they are neither counted among the kept checkpoints nor tried again."""
    damaged: list[Path] = []
    for path in reversed(ckpt.list_checkpoints(folder)):
        try:
            payload = ckpt.load(path)
        except CheckpointError as e:
            say(f"gankit: warning: {e}")
            damaged.append(path)
            continue
        if damaged:
            say(f"gankit: falling back to the previous good checkpoint {path.name}")
        if quarantine:
            _quarantine(damaged, say)
        return path, payload
    if quarantine:
        _quarantine(damaged, say)
    return None


def _quarantine(paths: list[Path], say: Callable[[str], None]) -> None:
    for p in paths:
        target = p.with_name(p.name + ckpt.DAMAGED_SUFFIX)
        p.replace(target)
        say(f"gankit: kept the damaged file as {target.name} for inspection")


def resume_point(run_dir: Path, resume: str, say: Callable[[str], None]) -> Optional[Found]:
    """The checkpoint ``gankit train --out run_dir`` continues from, or None for a new run.

    ``resume="auto"`` continues from the newest good checkpoint (damaged newer ones are
    reported and set aside); ``resume="never"`` refuses a non-empty directory."""
    if resume not in RESUME_MODES:
        raise GankitError(f"--resume {resume}: expected one of {', '.join(RESUME_MODES)}")
    if run_dir.exists() and not run_dir.is_dir():
        raise GankitError(f"--out {run_dir}: exists and is not a directory")
    if not (run_dir.is_dir() and any(run_dir.iterdir())):
        return None
    if resume == "never":
        raise GankitError(f"--out {run_dir}: run directory exists and --resume never was given; choose another --out")
    found = ckpt.list_checkpoints(run_dir / CHECKPOINTS)
    if not found and not (run_dir / "config.yaml").exists():
        raise GankitError(f"--out {run_dir}: not empty and not a gankit run directory (no config.yaml); choose another --out")
    for tmp in stale_temp_files(run_dir / CHECKPOINTS):
        tmp.unlink(missing_ok=True)  # a write killed before its rename; never a checkpoint
    existing = newest_good_checkpoint(run_dir / CHECKPOINTS, say, quarantine=True)
    if existing is None and found:
        raise CheckpointError(
            f"{run_dir / CHECKPOINTS}: none of its {len(found)} checkpoint(s) can be loaded; "
            "nothing to resume from (choose another --out to start afresh)"
        )
    return existing


def _first_difference(a: Any, b: Any, prefix: str = "") -> str:
    """'field x.y: saved 1, now 2' for the first field where two config dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
    return f"field '{prefix.rstrip('.')}': saved {a!r}, now {b!r}"


def check_same_config(existing: Found, cfg: Config, run_dir: Path) -> None:
    """Only train.* and log.* may change when a run resumes: anything else would continue
    one run with another's weights."""
    saved = config_from_dict(json.loads(existing[1]["config"]), f"{existing[0]}: config")
    a, b = saved.model_dump(exclude={"train", "log"}), cfg.model_dump(exclude={"train", "log"})
    if a != b:
        raise GankitError(
            f"--out {run_dir}: holds a run with a different config ({_first_difference(a, b)}); resume it with the same "
            "preset and overrides (only train.* and log.* may change), or choose another --out"
        )


def truncate_metrics(path: Path, step: int) -> None:
    """Drop rows logged after the checkpoint we resume from (they will be logged again)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a half-written last line from a crash
    write_text(path, "".join(l + "\n" for l in keep))
