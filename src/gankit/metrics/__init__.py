"""Metrics by name (``parzen10k``, ``fid10k``, ...); each module registers its metrics on import."""
from gankit.metrics.registry import METRICS, EvalContext, Metric, evaluate, get_metric, register_metric

# The built-in metrics register themselves on import.
from gankit.metrics import classifier, fid, modes, parzen, precision_recall, ssl, translation  # noqa: F401

__all__ = ["METRICS", "EvalContext", "Metric", "evaluate", "get_metric", "register_metric"]
