"""Any folder of PNG/JPEG images, resized to a square side and held in memory.

``data.name: folder`` gives 64x64 images; ``folder-28``, ``folder-32``, ``folder-48``,
``folder-64`` and ``folder-128`` pick the side (the DCGAN nets take 28, 32 and 64; 48 is
the Toronto Face Database's, whose faces are grayscale and so load as one channel). ``data.root`` is the
folder. Each image is scaled so its shorter side fits and then centre-cropped
(Pillow's ``ImageOps.fit``): DCGAN nets need square inputs. If every image is grayscale
the data have one channel, otherwise three (RGB).

Splits: subfolders ``train/`` (and optionally ``valid/``, ``test/``) are used as given.
Otherwise every image is training data and valid/test are the same images (a plain folder
has no held-out set: metrics then compare with training images; say so when reporting).
Labels: when every image of a split lies in a direct subfolder, the sorted subfolder names
are the classes (so ``data.conditional`` works); otherwise there are none.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gankit.data.datasets import Dataset, Split, register_dataset
from gankit.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg")
SIDES = (28, 32, 48, 64, 128)  # 48: the Toronto Face Database
DEFAULT_SIDE = 64


def image_files(folder: Path) -> list[Path]:
    """PNG/JPEG files under ``folder`` (recursively, sorted; hidden files skipped)."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith(".")
    )


def read_image(path: Path, side: int) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()  # decode now, so a truncated file fails here with its name
            img = im.convert("L") if im.mode in ("1", "L", "I;16", "I") else im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: not a readable PNG/JPEG image ({e})") from None
    return ImageOps.fit(img, (side, side), method=Image.Resampling.BICUBIC)


def _available_bytes() -> Optional[int]:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def load_split(folder: Path, side: int, class_names: Optional[list[str]] = None) -> tuple[Split, list[str]]:
    files = image_files(folder)
    if not files:
        raise DataError(f"{folder}: no PNG/JPEG images found (looked for {', '.join(EXTENSIONS)})")
    need = len(files) * 3 * side * side * 4  # float32, at most 3 channels
    avail = _available_bytes()
    if avail is not None and need > avail // 2:
        raise DataError(
            f"{folder}: {len(files)} images at {side}x{side} need {need / 2**30:.1f} GiB in memory, "
            f"more than half of the {avail / 2**30:.1f} GiB free; use a smaller side or fewer images"
        )
    images = [read_image(p, side) for p in files]
    gray = all(im.mode == "L" for im in images)
    arrays = [np.asarray(im if gray or im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8) for im in images]
    if not gray:
        arrays = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=2) for a in arrays]
    x = np.stack(arrays)
    x = x[:, None] if gray else x.transpose(0, 3, 1, 2)
    xt = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    parents = [p.parent for p in files]
    labelled = all(par.parent == folder for par in parents)
    if not labelled:
        return Split(xt), []
    names = class_names if class_names is not None else sorted({par.name for par in parents})
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({par.name for par in parents} - set(index))
    if unknown:
        raise DataError(f"{folder}: class folder(s) {', '.join(unknown)} do not appear in the training split")
    y = torch.tensor([index[par.name] for par in parents], dtype=torch.int64)
    return Split(xt, y), names


def load_folder(root: Path, side: int) -> Dataset:
    if not root.is_dir():
        raise DataError(f"field 'data.root': {root} is not a directory")
    if (root / "train").is_dir():
        train, classes = load_split(root / "train", side)
        splits = []
        for part in ("valid", "test"):
            if (root / part).is_dir():
                s, _ = load_split(root / part, side, classes or None)
                if s.x.shape[1:] != train.x.shape[1:]:
                    raise DataError(f"{root / part}: images have {s.x.shape[1]} channel(s), training images {train.x.shape[1]}")
                if classes and s.y is None:
                    raise DataError(f"{root / part}: images must lie in the class folders of train/")
                splits.append(s if classes else Split(s.x))
            else:
                splits.append(train)
        valid, test = splits
    else:
        train, classes = load_split(root, side)
        valid = test = train
    return Dataset(f"folder-{side}", train, valid, test, num_classes=len(classes), source=str(root))


def _register(name: str, side: int) -> None:
    @register_dataset(name)
    def _load(root: Optional[str] = None, download: bool = True) -> Dataset:
        if root is None:
            raise DataError(f"dataset '{name}': set data.root to a folder of PNG/JPEG images")
        return load_folder(Path(root), side)


_register("folder", DEFAULT_SIDE)
for _side in SIDES:
    _register(f"folder-{_side}", _side)
