"""Paired data for image-to-image translation (pix2pix): each example is an input image A
(``Split.a``) and its target B (``Split.x``); class labels, where the source has them,
stay in ``Split.y``.

- ``edges2fashion``: Canny edge maps of Fashion-MNIST items -> the items (like the paper's
  edges2shoes). Edges are scikit-image's ``canny`` (sigma 1.0) on each 28x28 image,
  computed once and cached (bit-packed, written atomically) under
  ``$GANKIT_CACHE/pairs`` (default ``~/.cache/gankit``).
- ``sr4-fashion``: 4x super-resolution: A is the 7x7 block mean of the item, shown at
  28x28 (each block repeated 4x4), B the item.
- ``pix2pix-folder`` (256x256 halves) and ``pix2pix-folder-{28,32,64,128}``: the pix2pix
  folder format: ``train/``, ``val/`` (or ``valid/``) and ``test/`` hold images with A on
  the left half and B on the right. A missing ``val``/``test`` reuses ``train`` (no
  held-out set; say so when reporting).

``data.direction: BtoA`` swaps A and B of any paired dataset (see :func:`oriented`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from gankit.data.batches import MinibatchSource
from gankit.data.datasets import Dataset, Split, load_dataset, register_dataset
from gankit.data.folder import EXTENSIONS, SIDES, image_files
from gankit.data.mnist import cache_dir
from gankit.errors import DataError

CANNY_SIGMA = 1.0
SR_FACTOR = 4
FOLDER_SIDE = 256
# the single-domain dataset each paired one draws its targets from (classifier metrics use it)
TARGET_DATASET = {"edges2fashion": "fashion-mnist", "sr4-fashion": "fashion-mnist"}


# ---------------------------------------------------------------------------------------
# Pairs built from Fashion-MNIST


def canny_edges(x: Tensor, sigma: float = CANNY_SIGMA) -> Tensor:
    """Edge maps [N, 1, H, W] in {0, 1} of grayscale images [N, 1, H, W] in [0, 1]."""
    from skimage.feature import canny

    imgs = x[:, 0].numpy()
    return torch.from_numpy(np.stack([canny(im, sigma=sigma) for im in imgs]).astype(np.float32)).unsqueeze(1)


def cached_edges(name: str, split: str, x: Tensor, sigma: float = CANNY_SIGMA) -> Tensor:
    """``canny_edges(x)``, from the cache when an entry of the same shape exists."""
    from gankit.atomic import write_with

    path = cache_dir("pairs") / f"{name}--{split}--canny{sigma:g}--{x.shape[0]}.npy"
    shape = (x.shape[0], 1, *x.shape[2:])
    if path.is_file():
        try:
            bits = np.load(path)
            return torch.from_numpy(np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(np.float32))
        except (OSError, ValueError):
            pass  # damaged entry: recompute and overwrite it
    edges = canny_edges(x, sigma)
    packed = np.packbits(edges.numpy().astype(np.uint8).ravel())
    write_with(path, lambda p: _save_npy(p, packed))
    return edges


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # np.save on a name would append ".npy" to the temporary file
        np.save(f, array, allow_pickle=False)


def block_mean_upsampled(x: Tensor, factor: int = SR_FACTOR) -> Tensor:
    """The low-resolution view of ``x``: means of factor x factor blocks, each repeated back
    to the block's size (so A and B have the same shape)."""
    low = torch.nn.functional.avg_pool2d(x, factor)
    return low.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def _paired(base: Dataset, name: str, make_a) -> Dataset:
    def split(s: Split, part: str) -> Split:
        return Split(s.x, s.y, make_a(s.x, part))

    return Dataset(name, split(base.train, "train"), split(base.valid, "valid"), split(base.test, "test"),
                   base.num_classes, f"{base.source} (paired: {name})")


@register_dataset("edges2fashion")
def load_edges2fashion(root: Optional[str] = None, download: bool = True) -> Dataset:
    base = load_dataset("fashion-mnist", root, download)
    return _paired(base, "edges2fashion", lambda x, part: cached_edges("fashion-mnist", part, x))


@register_dataset("sr4-fashion")
def load_sr4_fashion(root: Optional[str] = None, download: bool = True) -> Dataset:
    base = load_dataset("fashion-mnist", root, download)
    return _paired(base, "sr4-fashion", lambda x, part: block_mean_upsampled(x))


# ---------------------------------------------------------------------------------------
# The pix2pix folder format


def read_pair(path: Path, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) halves of one A|B image, each resized to side x side, as [C, side, side] uint8."""
    try:
        with Image.open(path) as im:
            im.load()
            img = im.convert("L") if im.mode in ("1", "L", "I;16", "I") else im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: not a readable PNG/JPEG image ({e})") from None
    w, h = img.size
    if w < 2 or w % 2:
        raise DataError(f"{path}: {w}x{h} pixels; the pix2pix format needs an even width (A on the left half, B on the right)")
    halves = [img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))]
    out = []
    for half in halves:
        a = np.asarray(half.resize((side, side), Image.Resampling.BICUBIC), dtype=np.uint8)
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return out[0], out[1]


def load_pair_split(folder: Path, side: int) -> Split:
    files = image_files(folder)
    if not files:
        raise DataError(f"{folder}: no PNG/JPEG images found (looked for {', '.join(EXTENSIONS)})")
    pairs = [read_pair(p, side) for p in files]
    channels = {a.shape[0] for a, _ in pairs}
    if len(channels) > 1:  # a mix of grayscale and colour files: make every one RGB
        pairs = [(np.repeat(a, 3, 0) if a.shape[0] == 1 else a, np.repeat(b, 3, 0) if b.shape[0] == 1 else b) for a, b in pairs]
    a = torch.from_numpy(np.stack([p[0] for p in pairs])).float().div_(255.0)
    b = torch.from_numpy(np.stack([p[1] for p in pairs])).float().div_(255.0)
    return Split(b, None, a)


def load_pix2pix_folder(root: Path, side: int) -> Dataset:
    if not root.is_dir():
        raise DataError(f"field 'data.root': {root} is not a directory")
    if not (root / "train").is_dir():
        raise DataError(f"field 'data.root': {root} has no train/ folder (the pix2pix format: train/, val/, test/ of A|B images)")
    train = load_pair_split(root / "train", side)
    splits = []
    for names in (("val", "valid"), ("test",)):
        folder = next((root / n for n in names if (root / n).is_dir()), None)
        s = train if folder is None else load_pair_split(folder, side)
        if s.x.shape[1:] != train.x.shape[1:]:
            raise DataError(f"{folder}: images have {s.x.shape[1]} channel(s), training images {train.x.shape[1]}")
        splits.append(s)
    return Dataset(f"pix2pix-folder-{side}", train, splits[0], splits[1], 0, str(root))


def _register_folder(name: str, side: int) -> None:
    @register_dataset(name)
    def _load(root: Optional[str] = None, download: bool = True) -> Dataset:
        if root is None:
            raise DataError(f"dataset '{name}': set data.root to a folder in the pix2pix format (train/, val/, test/ of A|B images)")
        return load_pix2pix_folder(Path(root), side)


_register_folder("pix2pix-folder", FOLDER_SIDE)
for _side in SIDES:
    _register_folder(f"pix2pix-folder-{_side}", _side)


# ---------------------------------------------------------------------------------------
# Direction


def oriented(data: Dataset, direction: str) -> Dataset:
    """``data`` with A and B swapped for ``BtoA`` (labels, if any, stay with their example)."""
    if direction == "AtoB" or data.train.a is None:
        return data

    def swap(s: Split) -> Split:
        return Split(s.a, s.y, s.x)

    return Dataset(data.name, swap(data.train), swap(data.valid), swap(data.test), data.num_classes, data.source)


# ---------------------------------------------------------------------------------------
# Augmentation that keeps pairs aligned


class AlignedAugment(MinibatchSource):
    """Minibatches of pairs (x, y) with the same random jitter and mirroring applied to
    both images of each pair (the paper's jitter: a random crop of an enlarged image; here
    the image is edge-padded by ``jitter`` pixels and cropped back at a random offset)."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, seed: int, flip: bool = False, jitter: int = 0) -> None:
        super().__init__(x, y, batch_size, seed)
        self.flip, self.jitter = flip, jitter
        self.augment_generator = torch.Generator().manual_seed(seed + 104729)

    def next(self) -> tuple[Tensor, Optional[Tensor]]:
        x, y = super().next()
        assert y is not None
        m = x.shape[0]
        if self.jitter:
            off = torch.randint(2 * self.jitter + 1, (m, 2), generator=self.augment_generator)
            x, y = shift(x, off, self.jitter), shift(y, off, self.jitter)
        if self.flip:
            mirror = torch.rand(m, generator=self.augment_generator) < 0.5
            x = torch.where(mirror[:, None, None, None], x.flip(3), x)
            y = torch.where(mirror[:, None, None, None], y.flip(3), y)
        return x, y

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "augment_generator": self.augment_generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.augment_generator.set_state(state["augment_generator"])


def shift(x: Tensor, offsets: Tensor, pad: int) -> Tensor:
    """Each image of ``x`` edge-padded by ``pad`` and cropped back at its (row, col) offset."""
    h, w = x.shape[2:]
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    return torch.stack([padded[i, :, r : r + h, c : c + w] for i, (r, c) in enumerate(offsets.tolist())])


def pair_sources(a: Tensor, b: Tensor, batch_size: int, seed: int, flip: bool, jitter: int) -> tuple[MinibatchSource, MinibatchSource]:
    """(real minibatches x = B with y = A for D's step, pairs x = A with y = B for G's
    conditions): two independent shuffles of the same pairs."""
    if flip or jitter:
        return (AlignedAugment(b, a, batch_size, seed, flip, jitter), AlignedAugment(a, b, batch_size, seed + 1000003, flip, jitter))
    return MinibatchSource(b, a, batch_size, seed), MinibatchSource(a, b, batch_size, seed + 1000003)
