"""Resuming a run directory: what a checkpoint holds, which checkpoint to resume from,
checking its content against the run's config, and putting a fresh training state back
exactly where the checkpoint left it."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from gankit.atomic import stale_temp_files
from gankit.config import Config, config_from_dict
from gankit.errors import CheckpointError, ConfigError, GankitError
from gankit.training import checkpoint as ckpt
from gankit.training.ema import EMA
from gankit.training.rundir import bookkeeping
from gankit.training.state import TrainState

CHECKPOINTS = "checkpoints"  # a run directory's checkpoint folder
RESUME_MODES = ("auto", "never")
# Payload key of the weight average, under "extras": the file layout every checkpoint uses.
EXTRAS = "extras"
EMA_KEY = "G_ema"
D_EMA_KEY = "D_ema"  # the average of D's weights (train.d_ema_decay)
SCALER_KEYS = ("scaler_d", "scaler_g")  # fp16 loss scalers, under "extras"
DIAGNOSTICS_KEY = "diagnostics"  # Diagnostics.state_dict(); a checkpoint without it resumes with fresh diagnostics

Found = tuple[Path, dict[str, Any]]  # a checkpoint's path and its loaded payload


def state_payload(
    s: TrainState, cfg: Config, context: dict[str, Any], extras: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """A checkpoint's content; ``extras`` are the callbacks' state (e.g. diagnostics) by key."""
    saved_extras = {key: ema.state_dict() for key, ema, _ in averages(s) if ema is not None}
    saved_extras.update(extras or {})
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
        EXTRAS: {**saved_extras, **{k: sc.state_dict() for k in SCALER_KEYS if (sc := getattr(s, k)) is not None}},
    }


def averages(s: TrainState) -> list[tuple[str, Optional[EMA], str]]:
    """(checkpoint key under extras, the run's weight average or None, the net it averages)."""
    return [(EMA_KEY, s.ema, "generator"), (D_EMA_KEY, s.d_ema, "discriminator")]


def _state_like_params(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimiser state the strides of its parameter. Checkpoints hold contiguous
    copies; fused optimisers walk parameter, gradient and state memory in lockstep, so with
    channels_last weights a contiguous exp_avg would be combined with the wrong elements."""
    for p, st in opt.state.items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def restore(s: TrainState, payload: dict[str, Any]) -> None:
    """Put ``payload`` (checked by :func:`check_payload`) into ``s``, on whatever device ``s``
    lives on (checkpoints hold host tensors; load_state_dict copies them onto the parameters' device)."""
    s.G.load_state_dict(payload["G"])
    s.D.load_state_dict(payload["D"])
    s.opt_g.load_state_dict(payload["opt_g"])
    s.opt_d.load_state_dict(payload["opt_d"])
    _state_like_params(s.opt_g)
    _state_like_params(s.opt_d)
    s.data.load_state_dict(payload["data"])
    s.noise.load_state_dict(payload["noise"])
    s.conditions.load_state_dict(payload.get("conditions", {}))
    for key, ema, _ in averages(s):
        saved = payload.get(EXTRAS, {}).get(key)
        if ema is not None and saved is not None:
            ema.load_state_dict(saved)
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


def check_out_dir(run_dir: Path, resume: str) -> bool:
    """Whether ``run_dir`` holds a run to continue; an ``--out`` that cannot be one is a
    GankitError. Reads only: nothing is written before the run's input is checked."""
    if resume not in RESUME_MODES:
        raise GankitError(f"--resume {resume}: expected one of {', '.join(RESUME_MODES)}")
    if run_dir.exists() and not run_dir.is_dir():
        raise GankitError(f"--out {run_dir}: exists and is not a directory")
    if not (run_dir.is_dir() and any(not bookkeeping(p.name) for p in run_dir.iterdir())):
        return False
    if resume == "never":
        raise GankitError(f"--out {run_dir}: run directory exists and --resume never was given; choose another --out")
    if not ckpt.list_checkpoints(run_dir / CHECKPOINTS) and not (run_dir / "config.yaml").exists():
        raise GankitError(f"--out {run_dir}: not empty and not a gankit run directory (no config.yaml); choose another --out")
    return True


def resume_point(run_dir: Path, resume: str, say: Callable[[str], None]) -> Optional[Found]:
    """The checkpoint ``gankit train --out run_dir`` continues from, or None for a new run.

    ``resume="auto"`` continues from the newest good checkpoint (damaged newer ones are
    reported and set aside); ``resume="never"`` refuses a non-empty directory."""
    if not check_out_dir(run_dir, resume):
        return None
    found = ckpt.list_checkpoints(run_dir / CHECKPOINTS)
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
    saved, _ = payload_config(*existing)
    a, b = saved.model_dump(exclude={"train", "log"}), cfg.model_dump(exclude={"train", "log"})
    if a != b:
        raise GankitError(
            f"--out {run_dir}: holds a run with a different config ({_first_difference(a, b)}); resume it with the same "
            "preset and overrides (only train.* and log.* may change), or choose another --out"
        )


# ---------------------------------------------------------------------------------------
# A checkpoint's content, checked against the run's config before any of it is used


def _fail(path: Path, where: str, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: {where}: {what}")


def _shape(t: Tensor) -> list[int]:
    return list(t.shape)


def check_like(path: Path, where: str, got: Any, ref: Any) -> None:
    """``got`` has the structure of ``ref``: the same keys, list lengths and leaf types,
    tensors of the same dtype and shape (e.g. a random generator's state of the right size)."""
    if isinstance(ref, Tensor):
        if not isinstance(got, Tensor):
            raise _fail(path, where, f"expected a tensor, got {type(got).__name__}")
        if got.dtype != ref.dtype or got.shape != ref.shape:
            raise _fail(path, where, f"expected a {ref.dtype} tensor of shape {_shape(ref)}, got {got.dtype} {_shape(got)}")
    elif isinstance(ref, dict):
        if not isinstance(got, dict):
            raise _fail(path, where, f"expected a mapping, got {type(got).__name__}")
        missing = [k for k in ref if k not in got]
        extra = [k for k in got if k not in ref]
        if missing or extra:
            raise _fail(path, where, f"missing {missing[:3]}" if missing else f"unexpected entries {extra[:3]}")
        for k in ref:
            check_like(path, f"{where}.{k}", got[k], ref[k])
    elif isinstance(ref, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(ref):
            n = len(got) if isinstance(got, (list, tuple)) else type(got).__name__
            raise _fail(path, where, f"expected {len(ref)} entries, got {n}")
        for i, (g, r) in enumerate(zip(got, ref)):
            check_like(path, f"{where}[{i}]", g, r)
    elif ref is None or (got is None and isinstance(ref, float)):  # e.g. Python's cached Gaussian: None or a float
        if got is not None and (isinstance(got, bool) or not isinstance(got, (int, float))):
            raise _fail(path, where, f"expected None or a number, got {type(got).__name__}")
    elif isinstance(ref, (bool, str)):
        if type(got) is not type(ref):
            raise _fail(path, where, f"expected {type(ref).__name__}, got {type(got).__name__}")
    elif isinstance(ref, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)) or (isinstance(ref, int) and not isinstance(got, int)):
            raise _fail(path, where, f"expected {type(ref).__name__}, got {got!r}")


def _check_finite(path: Path, where: str, tree: Any) -> None:
    stack = [(where, tree)]
    while stack:
        w, t = stack.pop()
        if isinstance(t, Tensor):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise _fail(path, w, "holds non-finite values (a diverged state); resume from an earlier checkpoint "
                            "by removing this one")
        elif isinstance(t, dict):
            stack.extend((f"{w}.{k}", v) for k, v in t.items())
        elif isinstance(t, (list, tuple)):
            stack.extend((f"{w}[{i}]", v) for i, v in enumerate(t))
        elif isinstance(t, float) and not math.isfinite(t):
            raise _fail(path, w, f"holds {t}")


def check_net_state(path: Path, where: str, got: Any, net: nn.Module, role: str) -> None:
    """The tensors of ``net`` (built from the config), by name and shape."""
    ref = net.state_dict()
    if not isinstance(got, dict):
        raise _fail(path, where, f"expected the {role}'s tensors, got {type(got).__name__}")
    missing = [k for k in ref if k not in got]
    extra = [k for k in got if k not in ref]
    if missing or extra:
        which = f"lacks {missing[0]!r}" if missing else f"has {extra[0]!r}"
        raise _fail(path, where, f"not the tensors of the config's {role} ({which}; {len(missing)} missing, {len(extra)} unexpected)")
    for k, r in ref.items():
        g = got[k]
        if not isinstance(g, Tensor) or g.shape != r.shape or g.dtype != r.dtype:
            got_s = f"{g.dtype} {_shape(g)}" if isinstance(g, Tensor) else type(g).__name__
            raise _fail(path, f"{where}.{k}", f"expected {r.dtype} {_shape(r)} as the config's {role} has, got {got_s}")


def check_optimizer_state(path: Path, where: str, got: Any, opt: torch.optim.Optimizer) -> None:
    """Parameter groups of the same sizes, and per-parameter state shaped like its parameter."""
    if not isinstance(got, dict) or not isinstance(got.get("state"), dict) or not isinstance(got.get("param_groups"), list):
        raise _fail(path, where, "expected an optimiser state ({'state': ..., 'param_groups': [...]})")
    groups = opt.param_groups
    if len(got["param_groups"]) != len(groups):
        raise _fail(path, where, f"{len(got['param_groups'])} parameter groups, the config's optimiser has {len(groups)}")
    params: dict[Any, Tensor] = {}
    for i, (g, ref) in enumerate(zip(got["param_groups"], groups)):
        ids = g.get("params") if isinstance(g, dict) else None
        if not isinstance(ids, list) or len(ids) != len(ref["params"]):
            raise _fail(path, f"{where}.param_groups[{i}]", f"expected {len(ref['params'])} parameters")
        params.update(zip(ids, ref["params"]))
        for k, v in g.items():
            if k != "params" and k in ref and isinstance(ref[k], (int, float)) and not isinstance(ref[k], bool):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise _fail(path, f"{where}.param_groups[{i}].{k}", f"expected a number, got {v!r}")
    for pid, st in got["state"].items():
        key = int(pid) if isinstance(pid, str) and pid.isdigit() else pid
        if key not in params or not isinstance(st, dict):
            raise _fail(path, f"{where}.state.{pid}", "state for a parameter the optimiser does not have")
        p = params[key]
        for k, v in st.items():
            if isinstance(v, Tensor) and v.numel() != 1 and v.shape != p.shape:
                raise _fail(path, f"{where}.state.{pid}.{k}", f"shape {_shape(v)}, its parameter's is {_shape(p)}")


def check_step(path: Path, payload: dict[str, Any]) -> int:
    step = payload.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise _fail(path, "step", f"expected a non-negative integer, got {step!r}")
    return step


def _json_field(path: Path, payload: dict[str, Any], key: str) -> Any:
    """The JSON text a checkpoint holds under ``key``, parsed; missing or not JSON is one error."""
    try:
        return json.loads(payload[key])
    except KeyError:
        raise _fail(path, key, "missing") from None
    except (TypeError, ValueError) as e:
        raise _fail(path, key, f"not JSON ({str(e).splitlines()[0]})") from None


def payload_config(path: Path, payload: dict[str, Any]) -> tuple[Config, dict[str, Any]]:
    """A checkpoint's config and net context, each checked."""
    raw = _json_field(path, payload, "config")
    try:
        cfg = config_from_dict(raw, f"{path}: config")
    except ConfigError as e:
        raise CheckpointError(str(e)) from None
    context = _json_field(path, payload, "context")
    ref = {"noise_dim": 0, "image_shape": [], "num_classes": 0, "output": ""}
    if not isinstance(context, dict) or any(k not in context for k in ref):
        raise _fail(path, "context", f"expected a mapping with {', '.join(ref)}")
    shape = context["image_shape"]
    if (not isinstance(shape, list) or not shape or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 1 << 16 for d in shape)
            or not isinstance(context["noise_dim"], int) or not isinstance(context["num_classes"], int)
            or context["num_classes"] < 0 or not isinstance(context["output"], str)):
        raise _fail(path, "context", f"not a net context ({context!r:.120})")
    return cfg, context


def check_payload(path: Path, payload: dict[str, Any], s: TrainState, extras: Optional[dict[str, Any]] = None) -> None:
    """Everything :func:`restore` reads, checked against the freshly built state ``s`` of the
    run's config without changing it: a checkpoint with a valid checksum but the wrong content
    (another net's tensors, a step that is not a number, a random state of the wrong size,
    non-finite numbers) is one :class:`CheckpointError` naming the file and the entry."""
    payload_config(path, payload)
    check_step(path, payload)
    for key in ("G", "D", "opt_g", "opt_d", "data", "noise", "rng"):
        if key not in payload:
            raise _fail(path, key, "missing")
    check_net_state(path, "G", payload["G"], s.G, "generator")
    check_net_state(path, "D", payload["D"], s.D, "discriminator")
    check_optimizer_state(path, "opt_g", payload["opt_g"], s.opt_g)
    check_optimizer_state(path, "opt_d", payload["opt_d"], s.opt_d)
    check_like(path, "data", payload["data"], s.data.state_dict())
    check_like(path, "noise", payload["noise"], s.noise.state_dict())
    check_like(path, "rng", payload["rng"], ckpt.rng_state())
    if "conditions" in payload:  # checkpoints of runs without conditioning inputs may lack it
        check_like(path, "conditions", payload["conditions"], s.conditions.state_dict())
    saved_extras = payload.get(EXTRAS, {})
    if not isinstance(saved_extras, dict):
        raise _fail(path, EXTRAS, f"expected a mapping, got {type(saved_extras).__name__}")
    for key, average, role in averages(s):
        ema = saved_extras.get(key)
        if average is not None and ema is not None:
            if not isinstance(ema, dict) or "weights" not in ema:
                raise _fail(path, f"{EXTRAS}.{key}", "expected the weight average's state")
            check_net_state(path, f"{EXTRAS}.{key}.weights", ema["weights"], average.module, role)
            n = ema.get("num_updates", 0)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise _fail(path, f"{EXTRAS}.{key}.num_updates", f"expected a non-negative integer, got {n!r}")
    for key in ("G", "D", "opt_g", "opt_d"):
        _check_finite(path, key, payload[key])
    for key, _, _ in averages(s):
        if saved_extras.get(key) is not None:
            _check_finite(path, f"{EXTRAS}.{key}", saved_extras[key])
