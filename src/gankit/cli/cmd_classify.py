"""``gankit classify RUN --input x.npy|DIR [--out labels.npy] [--labels y.npy]`` or ``gankit classify RUN --split
test``: a semi-supervised run's D labels images; with their true labels (``--labels``, or a split of the run's
own dataset) it prints its error and confusion matrix instead of the labels."""
from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import TYPE_CHECKING

from gankit.config import GENERATOR_WEIGHTS
from gankit.errors import GankitError

if TYPE_CHECKING:
    from torch import Tensor

    from gankit.config import Config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="label images with a semi-supervised run's discriminator")
    p.add_argument("run", help="run directory or checkpoint of a semi-supervised run (ssl-mnist-fm, catgan-mnist, ...)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help=".npy images (uint8 or [0, 1] floats; [N, H, W], [N, C, H, W] or "
                                                  "flattened) or a folder of PNG/JPEG files (sorted by name)")
    source.add_argument("--split", choices=("test", "valid"), help="a split of the run's own dataset with its labels "
                                                                  "(as --input and --labels)")
    p.add_argument("--out", default=None, help="write the labels here as an int64 .npy (else print one per line)")
    p.add_argument("--labels", default=None, help="the images' true classes (.npy of integers): print the error, the "
                                                   "confusion matrix and the most confused pairs instead of the labels")
    p.add_argument("--weights", choices=GENERATOR_WEIGHTS, default="average",
                   help="classify with the run's average of D's weights (default; D's own where it keeps none, "
                        "see train.d_ema_decay) or D's own weights")
    p.add_argument("--dry-run", action="store_true", help="load the classifier and the images, label nothing")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from gankit.atomic import write_bytes
    from gankit.training.classify import classify, confusion_matrix, confusion_report, load_classifier, read_images, read_labels

    if args.out is not None and Path(args.out).suffix != ".npy":
        raise GankitError(f"--out {args.out}: expected a .npy file name")
    D, cfg, context, step = load_classifier(args.run, weights=args.weights)
    shape = tuple(int(s) for s in context["image_shape"])
    if args.split is not None:
        if args.labels is not None:
            raise GankitError("--labels: the split's own labels are used with --split")
        x, truth = split_with_labels(cfg, args.split)
        source = f"the {args.split} split of '{cfg.data.name}'"
    else:
        x = read_images(args.input, shape)
        truth = read_labels(args.labels, x.shape[0], D.classes) if args.labels is not None else None
        source = args.input
    if args.dry_run:
        print(f"dry run: would label {x.shape[0]} images of {source} with the discriminator of step {step} "
              f"({D.classes} classes)")
        return 0
    predicted = classify(D, x, cfg.data.pixel_range)
    labels = predicted.numpy().astype(np.int64)
    if truth is not None:
        print(confusion_report(confusion_matrix(predicted, truth, D.classes)))
    elif args.out is None:
        print("\n".join(str(int(v)) for v in labels))
    if args.out is None:
        return 0
    buf = io.BytesIO()
    np.save(buf, labels, allow_pickle=False)
    write_bytes(args.out, buf.getvalue())
    print(f"wrote {labels.shape[0]} labels to {args.out}")
    return 0


def split_with_labels(cfg: Config, split: str) -> tuple[Tensor, Tensor]:
    """Images [N, C, H, W] in [0, 1] and their labels from a split of the run's dataset."""
    from gankit.data.datasets import load_dataset

    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download)
    part = data.test if split == "test" else data.valid
    if part is None or len(part) == 0 or part.y is None:
        raise GankitError(f"--split {split}: dataset '{cfg.data.name}' has no labelled {split} split")
    return part.x, part.y
