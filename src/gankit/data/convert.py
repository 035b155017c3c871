"""The user's own data as a gankit in-memory :class:`Dataset`, converted once.

Accepted: a gankit ``Dataset``; a tensor or numpy array of examples (images
[N, C, H, W] in [0, 1], or uint8 pixels; or points [N, d]); a pair ``(x, y)`` adding
integer class labels; a ``torch.utils.data.Dataset`` or ``DataLoader`` whose items are
``x`` or ``(x, y, ...)`` tensors; or a folder of PNG/JPEG images (``gankit.data.folder``).

Training needs every example in memory anyway (shuffled minibatches by index), so a torch
dataset is read once, item by item. Without separate held-out data the valid and test
splits are the training examples themselves: metrics then compare with training data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from gankit.data.datasets import Dataset, Split, as_unit
from gankit.errors import DataError

MAX_UNLABELLED_CLASSES = 1000  # labels above this are not class indices


def _tensor(x: Any, what: str) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise DataError(f"{what}: expected a tensor or numpy array, got {type(x).__name__}")
    return x


def _examples(x: Any, what: str) -> Tensor:
    x = as_unit(_tensor(x, what))
    if x.ndim not in (2, 4) or x.shape[0] < 2:
        raise DataError(f"{what}: expected examples [N, C, H, W] (images) or [N, d] (points), N >= 2; got shape {list(x.shape)}")
    if x.ndim == 4 and x.shape[1] not in (1, 3):
        raise DataError(f"{what}: images need 1 or 3 channels first ([N, C, H, W]); got shape {list(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise DataError(f"{what}: examples hold non-finite values")
    if x.ndim == 4 and (float(x.min()) < 0 or float(x.max()) > 1):
        raise DataError(f"{what}: image pixels must lie in [0, 1] (or be uint8); got [{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return x.contiguous()


def _labels(y: Any, n: int, what: str) -> tuple[Tensor, int]:
    y = _tensor(y, what)
    if y.ndim != 1 or y.shape[0] != n or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise DataError(f"{what}: expected {n} integer class labels [N], got {list(y.shape)} of {y.dtype}")
    y = y.long()
    if int(y.min()) < 0 or int(y.max()) >= MAX_UNLABELLED_CLASSES:
        raise DataError(f"{what}: class labels must lie in 0..{MAX_UNLABELLED_CLASSES - 1}")
    return y, int(y.max()) + 1


def _from_items(items: Any, what: str) -> tuple[Tensor, Optional[Tensor]]:
    """Stack a torch Dataset's items (or a DataLoader's batches): ``x`` or ``(x, y, ...)``."""
    xs, ys = [], []
    batched = isinstance(items, torch.utils.data.DataLoader)
    for item in items:
        if isinstance(item, (tuple, list)):
            if not item:
                raise DataError(f"{what}: an empty item")
            xs.append(_tensor(item[0], what))
            if len(item) > 1:
                ys.append(torch.as_tensor(item[1]))
        else:
            xs.append(_tensor(item, what))
    if not xs:
        raise DataError(f"{what}: no examples")
    x = torch.cat(xs) if batched else torch.stack(xs)
    y = None
    if ys and len(ys) == len(xs):
        y = torch.cat([v.reshape(-1) for v in ys]) if batched else torch.stack([v.reshape(()) for v in ys])
    return x, y


def as_dataset(data: Any, name: Optional[str] = None, side: int = 64) -> Dataset:
    """``data`` (see the module doc) as an in-memory :class:`Dataset` called ``name``."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        from gankit.data.folder import load_folder

        return load_folder(Path(data), side)
    what = name or type(data).__name__
    if isinstance(data, (torch.utils.data.Dataset, torch.utils.data.DataLoader)) and not isinstance(data, Tensor):
        x, y = _from_items(data, what)
        source = f"{type(data).__module__}.{type(data).__qualname__}"
    elif isinstance(data, tuple) and len(data) == 2:
        x, y = data
        source = "tensors (x, y)"
    else:
        x, y = data, None
        source = "tensor"
    x = _examples(x, what)
    classes = 0
    if y is not None:
        y, classes = _labels(y, x.shape[0], f"{what} labels")
    split = Split(x, y)
    return Dataset(name or "user-data", split, split, split, num_classes=classes, source=source)
