"""Data: in-memory datasets, loaders for standard formats, shuffled minibatches."""
from gankit.data.batches import MinibatchSource
from gankit.data.datasets import DATASETS, Dataset, Split, load_dataset, register_dataset
from gankit.data.idx import read_idx, write_idx

# The built-in loaders register their datasets on import.
from gankit.data import cifar10, fashion, folder, mixture, mnist, paired, toy  # noqa: F401

__all__ = ["DATASETS", "Dataset", "MinibatchSource", "Split", "load_dataset", "read_idx", "register_dataset", "write_idx"]
