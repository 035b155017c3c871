"""A trained generator as the metrics see it (``generator_context``, ``DryRunFeatures``).

They live in :mod:`gankit.training.evaluate`, beside the evaluation that runs during
training; this is their name for ``gankit eval``, the reproductions and users."""
from gankit.training.evaluate import DryRunFeatures, check_metrics, generator_context

__all__ = ["DryRunFeatures", "check_metrics", "generator_context"]
