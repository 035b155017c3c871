"""Objectives: the paper's value function and the variants that grew from it."""
import importlib
import pkgutil

from gankit.objectives.base import OBJECTIVES, Objective, build_objective, register_objective
from gankit.objectives import value  # noqa: F401

# Variant modules (f-GAN, WGAN, ...) register themselves on import.
for _m in pkgutil.iter_modules(__path__):
    if _m.name not in ("base", "value"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["OBJECTIVES", "Objective", "build_objective", "register_objective"]
