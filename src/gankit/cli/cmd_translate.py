"""``gankit translate RUN --input IN --out OUT``: an image-to-image run (pix2pix) applied to
new inputs.

IN is a folder of PNG/JPEG images (OUT is then a folder: one PNG per input, same name), an
.npy array [N, C, H, W] or [N, H, W] of pixels in [0, 1] (or uint8) (OUT: an .npy array
[N, C, H, W] float32 in [0, 1]), or one image (OUT: a .png file, or a folder). Inputs must
have the size and channels the run was trained on: no silent resizing. The U-Net's dropout
stays on (the paper's test-time noise), so ``--seed`` picks one of its outputs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gankit.errors import DataError, GankitError

NPY_SUFFIX = ".npy"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("translate", help="image-to-image runs (pix2pix): translate images, a folder or an .npy array")
    p.add_argument("run", help="run directory or checkpoint file of an image-to-image run")
    p.add_argument("--input", required=True, help="folder of PNG/JPEG images, an .npy array [N, C, H, W], or one image")
    p.add_argument("--out", required=True, help="folder (for a folder or an image), .npy (for an array) or .png (for one image)")
    p.add_argument("--seed", type=int, default=0, help="seed of the dropout noise")
    p.add_argument("--dry-run", action="store_true", help="check the run and the inputs, translate one, write nothing")


def read_input_image(path: Path, shape: tuple[int, int, int]) -> Tensor:
    """One image as [C, H, W] in [0, 1]; a size or channel mismatch is a DataError naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            img = im.convert("L") if im.mode in ("1", "L", "I;16", "I", "LA") else im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: not a readable PNG/JPEG image ({e})") from None
    c, h, w = shape
    channels = 1 if img.mode == "L" else 3
    if (img.height, img.width) != (h, w):
        raise DataError(f"{path}: {img.width}x{img.height} pixels; this run translates {w}x{h} images")
    if channels != c:
        raise DataError(f"{path}: {'grayscale' if channels == 1 else 'RGB'} image; this run translates "
                        f"{'grayscale' if c == 1 else 'RGB'} images ({c} channel{'s' if c > 1 else ''})")
    a = np.array(img, dtype=np.uint8)  # a writable copy for torch
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0)


def read_npy(path: Path, shape: tuple[int, int, int]) -> Tensor:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npy array ({str(e).splitlines()[0]})") from None
    if arr.ndim == 3 and shape[0] == 1:
        arr = arr[:, None]
    if arr.ndim != 4 or tuple(arr.shape[1:]) != tuple(shape):
        raise DataError(f"{path}: array of shape {list(arr.shape)}; this run translates [N, {shape[0]}, {shape[1]}, {shape[2]}]")
    if arr.dtype == np.uint8:
        return torch.from_numpy(arr.astype(np.float32) / 255.0)
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{path}: {arr.dtype} array; expected pixels as floats in [0, 1] or uint8")
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise DataError(f"{path}: pixel values must be finite and lie in [0, 1] (or be uint8)")
    return x


def run(args: argparse.Namespace) -> int:
    from gankit.atomic import write_with
    from gankit.data.folder import image_files
    from gankit.images import make_grid, save_png
    from gankit.training.generator import load_generator
    from gankit.training.translation import translate

    src, out = Path(args.input), Path(args.out)
    if not src.exists():
        raise GankitError(f"--input {args.input}: no such file or folder")
    G, cfg, context, step = load_generator(args.run)
    cond = context.get("condition_shape")
    if not cond:
        raise GankitError(f"{args.run}: not an image-to-image run (it was trained on '{cfg.data.name}', which has no input images)")
    shape = tuple(int(v) for v in cond)
    if src.is_dir():
        files = image_files(src)
        if not files:
            raise DataError(f"--input {src}: no PNG/JPEG images in this folder")
        if out.suffix.lower() in (".png", NPY_SUFFIX):
            raise GankitError(f"--out {args.out}: a folder of inputs gives a folder of outputs; name a folder")
        names = [f.relative_to(src).with_suffix(".png") for f in files]
    elif src.suffix.lower() == NPY_SUFFIX:
        files = []
        if out.suffix.lower() != NPY_SUFFIX:
            raise GankitError(f"--out {args.out}: an .npy array of inputs gives an .npy array of outputs; name a .npy file")
    else:
        files = [src]
        names = [Path(out.name)] if out.suffix.lower() == ".png" else [Path(src.stem + ".png")]
        if out.suffix.lower() == NPY_SUFFIX:
            raise GankitError(f"--out {args.out}: one image in gives a .png file or a folder out")
    if args.dry_run:
        files = files[:1]
    a = read_npy(src, shape) if not files else torch.stack([read_input_image(f, shape) for f in files])
    if args.dry_run:
        a = a[:1]
    torch.manual_seed(args.seed)  # the dropout noise
    y = translate(G, a, cfg.data.pixel_range, context.get("noise_dim", 1))
    if args.dry_run:
        print(f"dry run: {args.run} (step {step}) translates {list(shape)} inputs; checked {src}; wrote nothing")
        return 0
    if not files:
        def write_npy(path: Path) -> None:
            with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a bare path
                np.save(f, y.numpy())

        write_with(out, write_npy)
        print(f"translated {y.shape[0]} inputs with {args.run} (step {step}) into {out}")
        return 0
    single = out.suffix.lower() == ".png"
    for img, name in zip(y, names):
        save_png(make_grid(img[None], nrow=1, pad=0), out if single else out / name)
    print(f"translated {len(names)} image(s) with {args.run} (step {step}) into {out}")
    return 0
