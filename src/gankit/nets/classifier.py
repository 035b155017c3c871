"""A small digit classifier for fast, offline quality metrics on MNIST and Fashion-MNIST.

Three conv blocks (16, 32, 64 channels; 3x3, batch norm, ReLU, 2x2 max-pool) and a
128-unit feature layer (the features of the classifier Fréchet distance) before 10 logits:
about 100k parameters, a ~400 KB safetensors file per dataset shipped in gankit/assets.
``gankit classifier DATASET`` retrains one (the command is stored in the file's metadata).
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import CheckpointError, DataError

FEATURES = 128
SUPPORTED = ("mnist", "fashion-mnist")


class DigitClassifier(nn.Module):
    """Images [N, 1, 28, 28] in [0, 1] -> 10 logits; ``features`` gives the 128-d layer."""

    def __init__(self, num_classes: int = 10, features: int = FEATURES) -> None:
        super().__init__()

        def block(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]

        # 28 -> 14 -> 7 -> 3
        self.body = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(64 * 3 * 3, features), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(features, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.fc(self.body((x - 0.5) * 2))  # centre the [0, 1] pixels

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))


# ---------------------------------------------------------------------------------------
# Training


@dataclass
class TrainReport:
    dataset: str
    epochs: int
    seed: int
    valid_accuracy: float
    test_accuracy: float
    seconds: float


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 1000) -> float:
    was = model.training
    model.eval()
    correct = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, x.shape[0], batch))
    model.train(was)
    return correct / max(x.shape[0], 1)


def train_classifier(
    x: Tensor,
    y: Tensor,
    valid: tuple[Tensor, Tensor],
    epochs: int = 4,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> DigitClassifier:
    """Adam with a cosine learning-rate decay over all steps; in-memory minibatches."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    steps = epochs * math.ceil(x.shape[0] / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for epoch in range(epochs):
        t0 = time.time()
        order = torch.randperm(x.shape[0], generator=g)
        total = 0.0
        for i in range(0, x.shape[0], batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * idx.shape[0]
        log(
            f"epoch {epoch + 1}/{epochs}: train loss {total / x.shape[0]:.4f}, "
            f"valid accuracy {accuracy(model, *valid):.4f} ({time.time() - t0:.0f} s)"
        )
    model.eval()
    return model


# ---------------------------------------------------------------------------------------
# Shipped weights


def asset_path(dataset: str) -> Path:
    return Path(str(resources.files("gankit") / "assets" / f"classifier-{dataset}.safetensors"))


def save_classifier(model: DigitClassifier, path: str | Path, report: TrainReport, command: str) -> None:
    from safetensors.torch import save_file

    from gankit.atomic import write_with

    meta = {
        "gankit_classifier": "1",
        "dataset": report.dataset,
        "epochs": str(report.epochs),
        "seed": str(report.seed),
        "valid_accuracy": f"{report.valid_accuracy:.4f}",
        "test_accuracy": f"{report.test_accuracy:.4f}",
        "train_seconds": f"{report.seconds:.0f}",
        "command": command,
        "versions": json.dumps({"torch": torch.__version__, "python": platform.python_version()}),
    }
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    write_with(path, lambda p: save_file(tensors, str(p), metadata=meta))


def read_classifier(path: str | Path) -> tuple[DigitClassifier, dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such classifier weights file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    meta = {**meta, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}  # keys cached features
    if meta.get("gankit_classifier") != "1":
        raise CheckpointError(f"{path}: not a gankit classifier (no 'gankit_classifier' metadata)")
    model = DigitClassifier()
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the classifier ({str(e).splitlines()[0]})") from None
    return model.eval(), meta


_LOADED: dict[str, tuple[DigitClassifier, dict[str, str]]] = {}


def load_classifier(dataset: str, path: Optional[str | Path] = None) -> tuple[DigitClassifier, dict[str, str]]:
    """The shipped classifier for ``dataset`` (or the weights at ``path``), in eval mode."""
    if path is None:
        if dataset not in SUPPORTED:
            raise DataError(f"no digit classifier for dataset '{dataset}' (classifier metrics support: {', '.join(SUPPORTED)})")
        path = asset_path(dataset)
        if not path.is_file():
            raise DataError(f"{path}: classifier weights for '{dataset}' are not installed; build them with 'gankit classifier {dataset}'")
    key = str(path)
    if key not in _LOADED:
        _LOADED[key] = read_classifier(path)
    return _LOADED[key]
