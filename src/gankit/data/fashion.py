"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): MNIST's format and sizes, ten clothing classes.

Sources, in order: IDX files in ``root``; the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``, installed by scripts/setup.sh when apt-get is
available). No download: the package is the supported source. The split is MNIST's
(train 50k / valid 10k from the training file, test 10k), so recipes carry over.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from gankit.data.datasets import Dataset, register_dataset
from gankit.data.mnist import IDX_FILES, find_idx, load_idx_dir
from gankit.errors import DataError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def installed_dir() -> Optional[Path]:
    """The Debian package's folder, if it holds all four files."""
    if all(find_idx(DEBIAN_DIR, stem) for stem in IDX_FILES.values()):
        return DEBIAN_DIR
    return None


@register_dataset("fashion-mnist")
def load_fashion_mnist(root: Optional[str] = None, download: bool = True) -> Dataset:
    if root is not None:
        r = Path(root)
        if not r.is_dir():
            raise DataError(f"field 'data.root': {root} is not a directory")
        return load_idx_dir(r, "fashion-mnist")
    found = installed_dir()
    if found is None:
        raise DataError(
            f"Fashion-MNIST not found in {DEBIAN_DIR}: install it with 'apt-get install dataset-fashion-mnist' "
            "or set data.root to a folder holding its four IDX files"
        )
    return load_idx_dir(found, "fashion-mnist")
