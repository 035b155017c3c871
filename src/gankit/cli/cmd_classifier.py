"""``gankit classifier DATASET``: train the digit classifier behind the classifier metrics
and write its weights (by default into the package's assets, replacing the shipped file)."""
from __future__ import annotations

import argparse
import shlex
import time

from gankit.errors import GankitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classifier", help="train the digit classifier used by the classes/cfd/cacc metrics")
    p.add_argument("dataset", help="mnist or fashion-mnist")
    p.add_argument("--out", default=None, help="weights file (default: the package's assets/classifier-DATASET.safetensors)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default=None, help="folder with the dataset's IDX files (as data.root)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images of each split (smoke runs)")


def run(args: argparse.Namespace) -> int:
    from gankit.data.datasets import load_dataset
    from gankit.nets.classifier import SUPPORTED, TrainReport, accuracy, asset_path, save_classifier, train_classifier

    if args.dataset not in SUPPORTED:
        raise GankitError(f"dataset '{args.dataset}': the classifier supports {', '.join(SUPPORTED)}")
    if args.epochs < 1:
        raise GankitError(f"--epochs {args.epochs}: expected a positive integer")
    data = load_dataset(args.dataset, args.root, download=True, limit=args.limit)
    if data.image_shape != (1, 28, 28) or data.train.y is None or data.num_classes != 10:
        raise GankitError(f"dataset '{args.dataset}': expected labelled 1x28x28 images in 10 classes")
    t0 = time.time()
    model = train_classifier(data.train.x, data.train.y, (data.valid.x, data.valid.y), epochs=args.epochs, seed=args.seed)
    report = TrainReport(
        args.dataset,
        args.epochs,
        args.seed,
        accuracy(model, data.valid.x, data.valid.y),
        accuracy(model, data.test.x, data.test.y),
        time.time() - t0,
    )
    out = args.out or asset_path(args.dataset)
    command = "gankit classifier " + " ".join(
        shlex.quote(a) for a in [args.dataset, f"--epochs={args.epochs}", f"--seed={args.seed}"] + ([f"--limit={args.limit}"] if args.limit else [])
    )
    save_classifier(model, out, report, command)
    print(
        f"{args.dataset}: test accuracy {report.test_accuracy:.4f} ({len(data.test)} images), "
        f"valid {report.valid_accuracy:.4f}; {report.seconds:.0f} s; wrote {out}"
    )
    return 0
