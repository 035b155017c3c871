"""A trained generator as the metrics see it: one place that builds the ``EvalContext`` for
``gankit eval``, the reproductions and evaluation during training."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from gankit.config import DRY_RUN_SCALE, Config
from gankit.data.datasets import Dataset
from gankit.metrics.registry import EvalContext, get_metric
from gankit.data.paired import oriented
from gankit.metrics.translation import translation_context
from gankit.training.build import generate
from gankit.training.noise import NoiseSampler
from gankit.training.translation import translate


class DryRunFeatures(nn.Module):
    """A fixed random conv net standing in for Inception in dry runs only: the FID code path
    runs end to end in seconds, and the figure says nothing."""

    name = "dry-run-random-features"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(16, 3, 5, 5, generator=g) * 0.2, requires_grad=False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        h = torch.nn.functional.conv2d(x * 2 - 1, self.w, stride=2).relu()
        return torch.nn.functional.adaptive_avg_pool2d(h, 4).flatten(1)


def generator_context(
    G: nn.Module,
    cfg: Config,
    num_classes: int,
    data: Dataset,
    noise_seed: int,
    seed: int = 0,
    dry_run: bool = False,
) -> EvalContext:
    """Metrics' view of generator ``G``: unconditional samples and, for a conditional model,
    samples for requested labels; for paired data, G's outputs for the test inputs. A dry run shrinks every sample count and swaps Inception
    for :class:`DryRunFeatures`."""
    options: dict[str, Any] = {"fid_extractor": DryRunFeatures()} if dry_run else {}
    if data.test.a is not None:  # image-to-image: G's outputs for the test inputs, in order
        return translation_context(oriented(data, cfg.data.direction), lambda a: _translate(G, cfg, a, noise_seed),
                                   seed, DRY_RUN_SCALE if dry_run else 1.0, options)
    noise = NoiseSampler(cfg.noise.dim, cfg.noise.distribution, cfg.noise.scale, num_classes, noise_seed)
    labelled: Optional[Any] = None
    if num_classes:
        labelled = lambda labels: generate(G, labels.shape[0], noise, cfg.data.pixel_range, labels)  # noqa: E731
    return EvalContext(
        sample=lambda n: generate(G, n, noise, cfg.data.pixel_range),
        data=data,
        seed=seed,
        scale=DRY_RUN_SCALE if dry_run else 1.0,
        options=options,
        sample_labels=labelled,
    )


def _translate(G: nn.Module, cfg: Config, a: Tensor, seed: int) -> Tensor:
    with torch.random.fork_rng():  # the dropout noise: seeded, without moving anyone else's stream
        torch.manual_seed(seed)
        return translate(G, a, cfg.data.pixel_range, cfg.noise.dim)


def check_metrics(names: list[str]) -> None:
    """Fail before any training when a metric is not registered (runs take minutes)."""
    for n in names:
        get_metric(n)
