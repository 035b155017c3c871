"""Datasets as in-memory tensors: images [N, C, H, W] in [0, 1] float32, labels int64."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from gankit.errors import ConfigError
from gankit.registry import Registry


@dataclass
class Split:
    x: Tensor  # [N, C, H, W], float32 in [0, 1]
    y: Optional[Tensor] = None  # [N] int64 class labels, if the data have them
    a: Optional[Tensor] = None  # [N, C', H, W] in [0, 1]: paired data's input images, x their targets

    def __len__(self) -> int:
        return self.x.shape[0]

    def head(self, n: Optional[int]) -> "Split":
        if n is None:
            return self
        return Split(self.x[:n], None if self.y is None else self.y[:n], None if self.a is None else self.a[:n])


@dataclass
class Dataset:
    name: str
    train: Split
    valid: Split
    test: Split
    num_classes: int = 0
    source: str = ""  # where the data came from, recorded in runs

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    @property
    def condition_shape(self) -> Optional[tuple[int, ...]]:
        """Shape of one input image of paired (image-to-image) data; None for other data."""
        return None if self.train.a is None else tuple(self.train.a.shape[1:])

    def split(self, name: str) -> Split:
        if name not in ("train", "valid", "test"):
            raise ConfigError(f"unknown split '{name}' (expected train, valid or test)")
        return getattr(self, name)

    def head(self, n: Optional[int]) -> "Dataset":
        return Dataset(self.name, self.train.head(n), self.valid.head(n), self.test.head(n), self.num_classes, self.source)


# name -> loader(root, download) -> Dataset
DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset")
register_dataset = DATASETS.register


def load_dataset(name: str, root: Optional[str] = None, download: bool = True, limit: Optional[int] = None) -> Dataset:
    return DATASETS.get(name, field="data.name")(root=root, download=download).head(limit)


def to_images(flat: Tensor, shape: tuple[int, ...]) -> Tensor:
    return flat.reshape(flat.shape[0], *shape).contiguous()


def as_unit(x: Tensor) -> Tensor:
    """float32 copy of ``x``; uint8 pixels become [0, 1]."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()
