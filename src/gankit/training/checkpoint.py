"""Checkpoints: one safetensors file per checkpoint, tensors in the body and everything
else as JSON in its metadata. No pickle: loading runs no code.

A checkpoint holds the whole training state: both nets, both optimisers, the step,
every random generator (torch's global one drives dropout) and the data order.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from gankit.atomic import atomic_path
from gankit.errors import CheckpointError

FORMAT = "gankit-checkpoint/1"
NAME = re.compile(r"^ckpt-(\d{8})\.safetensors$")


def _split(tree: Any, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """Move tensors out of a nested dict/list into ``tensors``; return the JSON remainder."""
    if isinstance(tree, Tensor):
        key = prefix
        tensors[key] = tree.detach().contiguous().clone() if tree.numel() else tree.detach().clone()
        return {"__tensor__": key}
    if isinstance(tree, dict):
        return {"__dict__": [[k, _split(v, f"{prefix}.{k}", tensors)] for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        out = [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(tree)]
        return {"__tuple__": out} if isinstance(tree, tuple) else out
    if isinstance(tree, (str, int, float, bool)) or tree is None:
        return tree
    raise TypeError(f"cannot checkpoint a {type(tree).__name__} at {prefix}")


def _join(tree: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            return tensors[tree["__tensor__"]]
        if "__tuple__" in tree:
            return tuple(_join(v, tensors) for v in tree["__tuple__"])
        return {k: _join(v, tensors) for k, v in tree["__dict__"]}
    if isinstance(tree, list):
        return [_join(v, tensors) for v in tree]
    return tree


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def save(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` (nested dicts of tensors and JSON values)."""
    tensors: dict[str, Tensor] = {}
    tree = _split(payload, "s", tensors)
    meta = {"format": FORMAT, "tree": json.dumps(tree)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise CheckpointError(f"{path}: this is a pickle/zip file, not a gankit checkpoint; refusing to load it (pickles can run code)")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: damaged or not a safetensors checkpoint ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gankit checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})")
    try:
        return _join(json.loads(meta["tree"]), tensors)
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
