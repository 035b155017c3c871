"""``test_error``: a semi-supervised run's D as a classifier on the test split."""
from __future__ import annotations

from gankit.errors import ConfigError
from gankit.metrics.registry import EvalContext, register_metric

# EvalContext.options key: images [N, C, H, W] in [0, 1] -> int64 labels, from the evaluated
# run's discriminator (gankit.training.classify.run_classifier; `gankit eval` and the
# reproduction runner supply it)
CLASSIFY_OPTION = "classify"


@register_metric("test_error", "semi-supervised runs: share of test images D's classes get wrong",
                 directions={"test_error": "min", "test_errors": "min"})
def test_error(ctx: EvalContext) -> dict[str, float]:
    classify = ctx.options.get(CLASSIFY_OPTION)
    if classify is None:
        raise ConfigError("metric 'test_error' classifies with a run's discriminator; evaluate a run directory")
    test = ctx.data.test.head(ctx.count(len(ctx.data.test)))
    if test.y is None:
        raise ConfigError(f"metric 'test_error': dataset '{ctx.data.name}' has no test labels")
    wrong = int((classify(test.x).cpu() != test.y).sum())
    return {"test_error": wrong / len(test), "test_errors": float(wrong)}
