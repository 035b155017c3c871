"""``gankit classifier DATASET``: train the digit classifier behind the classifier metrics
and write its weights: to ``--out``, by default into the user cache
(``$GANKIT_CACHE/classifiers``); only ``--install`` replaces the file shipped in the package,
which the metrics read."""
from __future__ import annotations

import argparse
import shlex
import time

from gankit.errors import GankitError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classifier", help="train the digit classifier used by the classes/cfd/cacc metrics")
    p.add_argument("dataset", help="mnist or fashion-mnist")
    p.add_argument("--out", default=None, help="weights file (default: $GANKIT_CACHE/classifiers/classifier-DATASET.safetensors, "
                   "default cache ~/.cache/gankit); the metrics read it with the option classifier_path")
    p.add_argument("--install", action="store_true", help="overwrite the shipped weights inside the installed package (what the metrics read by default)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default=None, help="folder with the dataset's IDX files (as data.root)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images of each split (smoke runs)")


def run(args: argparse.Namespace) -> int:
    from gankit.data.datasets import load_dataset
    from gankit.nets.classifier import SUPPORTED, TrainReport, accuracy, asset_path, save_classifier, train_classifier

    if args.dataset not in SUPPORTED:
        raise GankitError(f"dataset '{args.dataset}': the classifier supports {', '.join(SUPPORTED)}")
    def user_path(dataset: str):
        from gankit.metrics.fid import cache_root

        return cache_root() / "classifiers" / f"classifier-{dataset}.safetensors"

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
    if args.install and args.out:
        raise GankitError("--install and --out: pick one (--install writes the package's own weights file)")
    out = asset_path(args.dataset) if args.install else (args.out or user_path(args.dataset))
    command = "gankit classifier " + " ".join(
        shlex.quote(a) for a in [args.dataset, f"--epochs={args.epochs}", f"--seed={args.seed}"] + ([f"--limit={args.limit}"] if args.limit else [])
    )
    save_classifier(model, out, report, command)
    print(
        f"{args.dataset}: test accuracy {report.test_accuracy:.4f} ({len(data.test)} images), "
        f"valid {report.valid_accuracy:.4f}; {report.seconds:.0f} s; wrote {out}"
    )
    return 0
