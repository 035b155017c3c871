"""CIFAR-10 from its "python version" (Krizhevsky 2009): pickled batches read safely.

Each of ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` is a Python-2 pickle of a
dict with ``data`` (uint8 array [10000, 3072], the red, green and blue planes of a 32x32
image in turn) and ``labels`` (list of ints 0..9). A pickle can run any code, so these are
read with an unpickler that admits only the numpy array and dtype constructors.

``data.root`` names the ``cifar-10-batches-py`` folder, its parent, or the
``cifar-10-python.tar.gz`` archive (read in memory, never extracted). Split: batches 1-4
train (40k), batch 5 valid (10k), ``test_batch`` test (10k), like MNIST's held-out
validation images. No copy ships here and nothing is downloaded.
"""
from __future__ import annotations

import importlib
import io
import pickle
import tarfile
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from gankit.data.datasets import Dataset, Split, register_dataset
from gankit.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 5))
VALID_BATCHES = ("data_batch_5",)
TEST_BATCHES = ("test_batch",)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class _ArrayUnpickler(pickle.Unpickler):
    """Admits exactly what the CIFAR-10 batches reference: numpy's array reconstructor,
    ``ndarray`` and ``dtype`` (under numpy 1's and numpy 2's module names)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":
            return importlib.import_module("numpy._core.multiarray")._reconstruct
        return getattr(np, name)


def read_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (images uint8 [N, 3, 32, 32], labels int64 [N])."""
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{source}: not a CIFAR-10 batch ({e})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DataError(f"{source}: damaged or truncated pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{source}: expected a pickled dict with 'data' and 'labels', got {type(obj).__name__}")
    batch = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} array {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{source}: 'data' must be a uint8 array [N, 3072], got {got}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{source}: 'labels' must be a list of integers") from None
    if y.ndim != 1 or y.shape[0] != data.shape[0]:
        raise DataError(f"{source}: expected {data.shape[0]} labels, got {y.size}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{source}: labels must lie in 0..9, found {int(y.min())}..{int(y.max())}")
    return data.reshape(-1, 3, 32, 32), y


def _reader(root: Path) -> tuple[Callable[[str], bytes], str]:
    """A function from batch name to its bytes, for a folder or a .tar.gz archive."""
    if root.is_file():
        try:
            tar = tarfile.open(root, "r:*")
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{root}: not a readable CIFAR-10 archive ({e})") from None

        def read_member(name: str) -> bytes:
            if name not in members:
                raise DataError(f"{root}: archive has no {name}")
            f = tar.extractfile(members[name])
            assert f is not None  # members holds regular files only
            try:
                return f.read()
            except (tarfile.TarError, OSError, EOFError) as e:
                raise DataError(f"{root}: cannot read {name} ({e})") from None

        return read_member, str(root)
    folder = root / FOLDER if (root / FOLDER).is_dir() else root

    def read_file(name: str) -> bytes:
        p = folder / name
        if not p.is_file():
            raise DataError(f"{folder}: missing {name} (expected the CIFAR-10 python batches data_batch_1..5, test_batch)")
        try:
            return p.read_bytes()
        except OSError as e:
            raise DataError(f"{p}: cannot read ({e.strerror})") from None

    return read_file, str(folder)


def load_cifar10_dir(root: Path) -> Dataset:
    read, source = _reader(root)

    def split(names: tuple[str, ...]) -> Split:
        xs, ys = zip(*(read_batch(read(n), f"{source}/{n}") for n in names))
        x = torch.from_numpy(np.concatenate(xs)).float().div_(255.0)
        return Split(x, torch.from_numpy(np.concatenate(ys)))

    return Dataset("cifar10", split(TRAIN_BATCHES), split(VALID_BATCHES), split(TEST_BATCHES), 10, source)


@register_dataset("cifar10")
def load_cifar10(root: Optional[str] = None, download: bool = True) -> Dataset:
    if root is None:
        raise DataError(
            "CIFAR-10: set data.root to the cifar-10-batches-py folder or cifar-10-python.tar.gz "
            "(no copy is installed and none is downloaded)"
        )
    r = Path(root)
    if not r.exists():
        raise DataError(f"field 'data.root': {root} does not exist")
    return load_cifar10_dir(r)
