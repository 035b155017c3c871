"""``test_error``: a semi-supervised run's D as a classifier on the test split."""
from __future__ import annotations

from gankit.errors import ConfigError
from gankit.metrics.registry import EvalContext, register_metric

RUN_OPTION = "run"  # EvalContext.options key: the run directory or checkpoint being evaluated


@register_metric("test_error", "semi-supervised runs: share of test images D's classes get wrong",
                 directions={"test_error": "min", "test_errors": "min"})
def test_error(ctx: EvalContext) -> dict[str, float]:
    from gankit.training.classify import classify, load_classifier

    run = ctx.options.get(RUN_OPTION)
    if run is None:
        raise ConfigError("metric 'test_error' classifies with a run's discriminator; evaluate a run directory")
    D, cfg, _, _ = load_classifier(run, ctx.device)
    test = ctx.data.test.head(ctx.count(len(ctx.data.test)))
    if test.y is None:
        raise ConfigError(f"metric 'test_error': dataset '{ctx.data.name}' has no test labels")
    wrong = int((classify(D, test.x, cfg.data.pixel_range) != test.y).sum())
    return {"test_error": wrong / len(test), "test_errors": float(wrong)}
