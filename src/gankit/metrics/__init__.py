"""Metrics registry; each module registers its metrics on import."""
import importlib
import pkgutil

from gankit.metrics.registry import METRICS, EvalContext, Metric, evaluate, get_metric, register_metric

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "registry":
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["METRICS", "EvalContext", "Metric", "evaluate", "get_metric", "register_metric"]
