"""Data: in-memory datasets, loaders for standard formats, shuffled minibatches."""
import importlib
import pkgutil

from gankit.data.batches import MinibatchSource
from gankit.data.datasets import DATASETS, Dataset, Split, load_dataset, register_dataset
from gankit.data.idx import read_idx, write_idx

# Loader modules register their datasets on import.
for _m in pkgutil.iter_modules(__path__):
    if _m.name not in ("batches", "datasets", "idx"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["DATASETS", "Dataset", "MinibatchSource", "Split", "load_dataset", "read_idx", "register_dataset", "write_idx"]
