"""Checkpoints: one safetensors file per checkpoint, tensors in the body and everything
else as JSON in its metadata. No pickle: loading runs no code.

A checkpoint holds the whole training state: both nets, both optimisers, the step,
every random generator (torch's global one drives dropout) and the data order.

The metadata carries a sha256 over the JSON tree and every tensor's name, dtype, shape
and bytes; :func:`load` recomputes it, so a flipped bit or a truncated file is reported
as damaged instead of resuming from silently wrong weights.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import signal
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from gankit import atomic
from gankit.errors import CheckpointError

FORMAT = "gankit-checkpoint/2"
OLD_FORMATS = ("gankit-checkpoint/1",)  # no checksum; still loadable
NAME = re.compile(r"^ckpt-(\d{8})\.safetensors$")
DAMAGED_SUFFIX = ".damaged"
MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header

# ---------------------------------------------------------------------------------------
# Fault injection for the kill tests (tests/test_resume.py, bench/*_kill.py). The
# environment variable GANKIT_FAULT holds comma-separated items:
#   kill-at-step=N          SIGKILL this process right after training step N
#   kill-in-write=N:PHASE   SIGKILL it during this process's N-th checkpoint write, at
#                           PHASE: partial (half the bytes written), written (fsynced, not
#                           renamed), renamed (in place, directory not fsynced) or
#                           pruning (new checkpoint in place, old ones not yet removed)
# Unset (always, outside those tests) it costs one dict lookup per checkpoint.
FAULT_ENV = "GANKIT_FAULT"
WRITE_PHASES = ("partial", "written", "renamed", "pruning")


def faults() -> dict[str, str]:
    spec = os.environ.get(FAULT_ENV, "")
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, _, value = item.partition("=")
        out[key] = value
    return out


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


_writes_done = 0


def write_fault_hook() -> Optional[Callable[[str], None]]:
    """The phase hook for the next checkpoint write, or None when no fault is asked for."""
    global _writes_done
    _writes_done += 1
    spec = faults().get("kill-in-write")
    if not spec:
        return None
    n, _, phase = spec.partition(":")
    if int(n) != _writes_done:
        return None
    if phase not in WRITE_PHASES:
        raise ValueError(f"{FAULT_ENV}: unknown write phase {phase!r} (expected one of {WRITE_PHASES})")

    def hook(at: str) -> None:
        if at == phase:
            kill_self()

    return hook


# ---------------------------------------------------------------------------------------
# Nested state <-> flat tensors + JSON


def _split(tree: Any, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """Move tensors out of a nested dict/list into ``tensors``; return the JSON remainder."""
    if isinstance(tree, Tensor):
        key = prefix
        # A private contiguous copy: safetensors refuses shared or strided storage.
        tensors[key] = tree.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(tree, dict):
        return {"__dict__": [[k, _split(v, f"{prefix}.{k}", tensors)] for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        out = [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(tree)]
        return {"__tuple__": out} if isinstance(tree, tuple) else out
    if isinstance(tree, float) and not np.isfinite(tree):
        return {"__float__": repr(tree)}  # JSON has no inf/nan
    if isinstance(tree, (str, int, float, bool)) or tree is None:
        return tree
    raise TypeError(f"cannot checkpoint a {type(tree).__name__} at {prefix}")


def _join(tree: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            return tensors[tree["__tensor__"]]
        if "__tuple__" in tree:
            return tuple(_join(v, tensors) for v in tree["__tuple__"])
        if "__float__" in tree:
            return float(tree["__float__"])
        return {k: _join(v, tensors) for k, v in tree["__dict__"]}
    if isinstance(tree, list):
        return [_join(v, tensors) for v in tree]
    return tree


def digest(tree_json: str, tensors: dict[str, Tensor]) -> str:
    """sha256 of the JSON tree and every tensor (name, dtype, shape, bytes), in name order."""
    h = hashlib.sha256(tree_json.encode())
    for key in sorted(tensors):
        t = tensors[key]
        h.update(f"\0{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        # CUDA's generator (dropout on the GPU), when this process has used it
        **({"cuda": torch.cuda.get_rng_state()} if torch.cuda.is_available() and torch.cuda.is_initialized() else {}),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if "cuda" in state and torch.cuda.is_available():  # a CUDA run resumed on the CPU has no use for it
        torch.cuda.set_rng_state(state["cuda"])


# ---------------------------------------------------------------------------------------
# Files


def encode(payload: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint file holding ``payload`` (nested dicts of tensors and JSON values)."""
    tensors: dict[str, Tensor] = {}
    tree = json.dumps(_split(payload, "s", tensors), allow_nan=False)
    meta = {"format": FORMAT, "tree": tree, "sha256": digest(tree, tensors)}
    return st_save(tensors, metadata=meta)


def save(path: str | Path, payload: dict[str, Any], hook: Optional[Callable[[str], None]] = None) -> None:
    """Atomically write ``payload``; a failed write (e.g. a full disk) raises
    :class:`CheckpointError` and leaves every earlier checkpoint as it was."""
    path = Path(path)
    data = encode(payload)
    try:
        atomic.write_bytes(path, data, hook=hook)
    except OSError as e:
        why = "no space left on device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise CheckpointError(f"{path}: could not write checkpoint ({why}); earlier checkpoints are untouched") from None


def load(path: str | Path) -> dict[str, Any]:
    """Read and verify a checkpoint; anything but an intact gankit checkpoint raises
    :class:`CheckpointError` (pickles are refused unread: they can run code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({e.strerror or e})") from None
    if (data[:1] == b"\x80" or data[:2] == b"PK") and data[8:9] != b"{":  # a safetensors header length may start with 0x80
        raise CheckpointError(
            f"{path}: this is a pickle or torch.save zip file, not a gankit checkpoint; "
            "refusing to load it (pickles can run code)"
        )
    if len(data) < 10:
        raise CheckpointError(f"{path}: damaged checkpoint (only {len(data)} bytes)")
    n = int.from_bytes(data[:8], "little")
    if data[8:9] != b"{" or n > MAX_HEADER:
        raise CheckpointError(f"{path}: not a safetensors checkpoint")
    if 8 + n > len(data):
        raise CheckpointError(f"{path}: damaged checkpoint (truncated: header says {n} bytes, file has {len(data) - 8})")
    try:
        meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, AttributeError, TypeError) as e:
        raise CheckpointError(f"{path}: damaged checkpoint ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    fmt = meta.get("format")
    if fmt != FORMAT and fmt not in OLD_FORMATS:
        raise CheckpointError(f"{path}: not a gankit checkpoint (format {fmt!r}, expected {FORMAT!r})")
    tree = meta.get("tree")
    if not isinstance(tree, str):
        raise CheckpointError(f"{path}: damaged checkpoint (no state tree in its metadata)")
    if fmt == FORMAT:
        want = meta.get("sha256")
        if want is None or digest(tree, tensors) != want:
            raise CheckpointError(f"{path}: damaged checkpoint (sha256 checksum does not match its contents)")
    try:
        return _join(json.loads(tree), tensors)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: damaged checkpoint metadata ({e})") from None


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if NAME.match(p.name))


def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"ckpt-{step:08d}.safetensors"


def flat_state(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a checkpoint payload by path, tensors as (dtype, shape, raw bytes):
    two payloads are the same training state exactly when these dicts are equal."""
    out: dict[str, Any] = {}
    if isinstance(tree, Tensor):
        out[prefix] = (str(tree.dtype), tuple(tree.shape), tree.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(tree, dict):
        for k, v in tree.items():
            out.update(flat_state(v, f"{prefix}.{k}"))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out.update(flat_state(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = tree
    return out
