"""Objectives: the paper's value function and the variants that grew from it."""
from gankit.objectives.base import OBJECTIVES, Objective, build_objective, register_objective

# The built-in objectives register themselves on import.
from gankit.objectives import catgan, fgan, hinge, lsgan, reconstruction, semisupervised, value, wgan  # noqa: F401

__all__ = ["OBJECTIVES", "Objective", "build_objective", "register_objective"]
