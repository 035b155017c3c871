"""A semi-supervised run's discriminator as a classifier: load it, label images."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.errors import CheckpointError, DataError, GankitError
from gankit.training import checkpoint as ckpt
from gankit.training.build import build_nets, to_net_range
from gankit.training.generator import resolve_checkpoint
from gankit.training.resume import (
    CHECKPOINTS,
    D_EMA_KEY,
    EXTRAS,
    check_net_state,
    check_step,
    newest_good_checkpoint,
    payload_config,
)


def load_classifier(path: str | Path, device: torch.device | str = "cpu",
                    weights: str = "average") -> tuple[nn.Module, Config, dict[str, Any], int]:
    """(D in eval mode on ``device``, config, net context, step) from a run directory or checkpoint of a
    run whose D is a classifier (``data.labels_per_class``: k-plus-one, catgan). ``weights``: the
    run's average of D's weights where it keeps one (``train.d_ema_decay``) or D's own ("raw")."""
    p = Path(path)
    if p.is_dir():
        problems: list[str] = []
        found = newest_good_checkpoint(p / CHECKPOINTS if (p / CHECKPOINTS).is_dir() else p, problems.append)
        if found is None:
            raise CheckpointError(f"{p}: no loadable checkpoint in this run directory")
        for line in problems:
            print(line, file=sys.stderr)
        path_, payload = found
    else:
        path_ = resolve_checkpoint(p)
        payload = ckpt.load(path_)
    cfg, context = payload_config(path_, payload)
    step = check_step(path_, payload)
    _, D = build_nets(cfg, context)
    if not getattr(D, "classes", 0):
        raise GankitError(f"{path_}: discriminator '{cfg.discriminator.name}' is not a classifier (train a "
                          "semi-supervised preset such as ssl-mnist-fm or catgan-mnist)")
    saved_extras = payload.get(EXTRAS, {})
    average = saved_extras.get(D_EMA_KEY) if isinstance(saved_extras, dict) and weights == "average" else None
    if average is not None:
        if not (isinstance(average, dict) and "weights" in average):
            raise CheckpointError(f"{path_}: {EXTRAS}.{D_EMA_KEY}: expected the weight average's state")
        where, state = f"{EXTRAS}.{D_EMA_KEY}.weights", average["weights"]
    else:
        where, state = "D", payload.get("D")
    if state is None:
        raise CheckpointError(f"{path_}: D: missing")
    check_net_state(path_, where, state, D, "discriminator")
    D.load_state_dict(state)
    return D.to(device).eval(), cfg, context, step


@torch.no_grad()
def classify(D: nn.Module, x: Tensor, pixel_range: str = "unit", batch: int = 1000) -> Tensor:
    """int64 labels of images ``x`` [N, C, H, W] in [0, 1]: the argmax of D's class logits (eval mode: no noise)."""
    was = D.training
    D.eval()
    device = next(D.parameters()).device
    try:
        out = [D(to_net_range(x[i:i + batch].to(device).float(), pixel_range)).argmax(1).cpu() for i in range(0, x.shape[0], batch)]
    finally:
        D.train(was)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)


def run_classifier(path: str | Path, device: torch.device | str = "cpu", weights: str = "average") -> Callable[[Tensor], Tensor]:
    """Images [N, C, H, W] in [0, 1] -> labels, by the discriminator of run ``path`` (its
    weight average or its own weights, as ``load_classifier``), loaded at the first call (a
    run whose D is no classifier fails only when asked to classify)."""
    loaded: list[tuple[nn.Module, Config]] = []

    def labels(x: Tensor) -> Tensor:
        if not loaded:
            D, cfg, _, _ = load_classifier(path, device, weights)
            loaded.append((D, cfg))
        D, cfg = loaded[0]
        return classify(D, x, cfg.data.pixel_range)

    return labels


def read_images(path: str | Path, image_shape: tuple[int, ...]) -> Tensor:
    """Images [N, *image_shape] in [0, 1] from a .npy file (uint8 0-255 or floats in [0, 1];
    [N, *image_shape] or flattened [N, prod]) or a folder of PNG/JPEG files (sorted by name)."""
    p = Path(path)
    if p.is_dir():
        from gankit.data.folder import image_files, read_image

        files = image_files(p)
        if not files:
            raise DataError(f"{p}: no PNG/JPEG images found")
        side = image_shape[-1]
        arrays = [np.asarray(read_image(f, side), dtype=np.uint8) for f in files]
        x = torch.from_numpy(np.stack(arrays)).float().div_(255.0)
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    else:
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{p}: not a readable .npy file ({str(e).splitlines()[0]})") from None
        if a.dtype == np.uint8:
            x = torch.from_numpy(a.astype(np.float32) / 255.0)
        elif np.issubdtype(a.dtype, np.floating):
            x = torch.from_numpy(a.astype(np.float32))
            if x.numel() and (x.min() < 0 or x.max() > 1 or not torch.isfinite(x).all()):
                raise DataError(f"{p}: float pixels must lie in [0, 1]")
        else:
            raise DataError(f"{p}: expected uint8 or float pixels, got {a.dtype}")
    n = x.shape[0] if x.dim() else 0
    if x.dim() < 2 or x[0].numel() != int(np.prod(image_shape)):
        raise DataError(f"{p}: expected images of shape {list(image_shape)} (or flattened), got {list(x.shape)}")
    return x.reshape(n, *image_shape)


def read_labels(path: str | Path, n: int, classes: int) -> Tensor:
    """int64 labels [n] in [0, classes) from a .npy file of integers: the true classes of the
    images a classifier labels."""
    p = Path(path)
    try:
        a = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: not a readable .npy file ({str(e).splitlines()[0]})") from None
    if not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"{p}: expected integer labels, got {a.dtype}")
    if a.shape != (n,):
        raise DataError(f"{p}: expected {n} labels (one per image), got shape {list(a.shape)}")
    if n and (a.min() < 0 or a.max() >= classes):
        raise DataError(f"{p}: labels must lie in 0..{classes - 1}, got {int(a.min())}..{int(a.max())}")
    return torch.from_numpy(a.astype(np.int64))


def confusion_matrix(predicted: Tensor, truth: Tensor, classes: int) -> Tensor:
    """int64 [classes, classes]: entry (i, j) counts the images of class i labelled j."""
    return torch.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def confusion_report(matrix: Tensor, top: int = 5) -> str:
    """The error, the matrix (rows: true class, columns: predicted) and its largest off-diagonal cells."""
    k, n = matrix.shape[0], int(matrix.sum())
    wrong = n - int(matrix.trace())
    width = max(4, len(str(int(matrix.max()))) + 1) if n else 4
    lines = [f"error: {wrong} of {n} ({100.0 * wrong / max(n, 1):.2f}%)",
             "rows: true class, columns: predicted",
             " " * 6 + "".join(f"{j:>{width}}" for j in range(k))]
    lines += [f"{i:>5} " + "".join(f"{int(v):>{width}}" for v in matrix[i]) for i in range(k)]
    cells = sorted(((int(matrix[i, j]), i, j) for i in range(k) for j in range(k) if i != j and matrix[i, j] > 0),
                   reverse=True)[:top]
    if cells:
        lines.append("most confused: " + ", ".join(f"{i} as {j}: {c}" for c, i, j in cells))
    return "\n".join(lines)
