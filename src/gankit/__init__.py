"""gankit: generative adversarial nets, from the 2014 paper to its variants.

The library's calls live at the top level and are imported on first use, so ``import
gankit`` stays light (no torch until a call needs it)::

    import gankit
    result = gankit.train(gankit.load_config("dcgan-mnist"))
    G = gankit.load_generator(result.run_dir)
    images = G.sample(16, seed=0)
    figures = gankit.evaluate(result.run_dir, ["fid2k"])

See docs/usage/api.md.
"""
from __future__ import annotations

from typing import Any

from gankit.errors import CheckpointError, ConfigError, DataError, GankitError

__version__ = "0.1.0"

# name -> module it lives in
_LAZY = {
    "load_config": "gankit.config",
    "Config": "gankit.config",
    "train": "gankit.api",
    "TrainResult": "gankit.api",
    "Generator": "gankit.api",
    "load_generator": "gankit.api",
    "evaluate": "gankit.api",
    "as_dataset": "gankit.data.convert",
    "Dataset": "gankit.data.datasets",
    "register_net": "gankit.nets.registry",
    "register_objective": "gankit.objectives.base",
    "Objective": "gankit.objectives.base",
    "register_metric": "gankit.metrics.registry",
    "export_generator": "gankit.training.export",
}

__all__ = ["CheckpointError", "ConfigError", "DataError", "GankitError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gankit' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
