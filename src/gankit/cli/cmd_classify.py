"""``gankit classify RUN --input x.npy|DIR [--out labels.npy]``: a semi-supervised run's D labels images."""
from __future__ import annotations

import argparse
import io
from pathlib import Path

from gankit.config import GENERATOR_WEIGHTS
from gankit.errors import GankitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="label images with a semi-supervised run's discriminator")
    p.add_argument("run", help="run directory or checkpoint of a semi-supervised run (ssl-mnist-fm, catgan-mnist, ...)")
    p.add_argument("--input", required=True, help=".npy images (uint8 or [0, 1] floats; [N, H, W], [N, C, H, W] or "
                                                  "flattened) or a folder of PNG/JPEG files (sorted by name)")
    p.add_argument("--out", default=None, help="write the labels here as an int64 .npy (else print one per line)")
    p.add_argument("--weights", choices=GENERATOR_WEIGHTS, default="average",
                   help="classify with the run's average of D's weights (default; D's own where it keeps none, "
                        "see train.d_ema_decay) or D's own weights")
    p.add_argument("--dry-run", action="store_true", help="load the classifier and the images, label nothing")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from gankit.atomic import write_bytes
    from gankit.training.classify import classify, load_classifier, read_images

    if args.out is not None and Path(args.out).suffix != ".npy":
        raise GankitError(f"--out {args.out}: expected a .npy file name")
    D, cfg, context, step = load_classifier(args.run, weights=args.weights)
    shape = tuple(int(s) for s in context["image_shape"])
    x = read_images(args.input, shape)
    if args.dry_run:
        print(f"dry run: would label {x.shape[0]} images of {args.input} with the discriminator of step {step} "
              f"({D.classes} classes)")
        return 0
    labels = classify(D, x, cfg.data.pixel_range).numpy().astype(np.int64)
    if args.out is None:
        print("\n".join(str(int(v)) for v in labels))
        return 0
    buf = io.BytesIO()
    np.save(buf, labels, allow_pickle=False)
    write_bytes(args.out, buf.getvalue())
    print(f"wrote {labels.shape[0]} labels to {args.out}")
    return 0

