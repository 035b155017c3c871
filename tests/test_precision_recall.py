"""Improved precision and recall (Kynkäänniemi et al. 2019) on feature sets whose answer is
known without the estimator."""
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.precision_recall import knn_radii, precision_recall
from gankit.metrics.registry import EvalContext, evaluate
from gankit.data.datasets import Dataset, Split
from gankit.training.evaluate import DryRunFeatures


def _modes(n_modes: int, dim: int = 8, spread: float = 100.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_modes, dim, generator=g, dtype=torch.float64) * spread


def _mixture(centres: torch.Tensor, per_mode: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pts = centres.repeat_interleave(per_mode, 0)
    return pts + torch.randn(pts.shape, generator=g, dtype=torch.float64)


def test_knn_radius_is_the_distance_to_the_third_nearest_other_point():
    # points 0, 1, 3, 6, 10 on a line: for 0 the others lie at 1, 3, 6 -> radius 6
    f = torch.tensor([[0.0], [1.0], [3.0], [6.0], [10.0]])
    assert knn_radii(f, k=3).tolist() == [6.0, 5.0, 3.0, 5.0, 9.0]


def test_identical_sets_have_precision_and_recall_one():
    x = _mixture(_modes(5), 60, seed=1)
    assert precision_recall(x, x.clone()) == (1.0, 1.0)


def test_disjoint_far_apart_sets_have_precision_and_recall_zero():
    real = _mixture(_modes(5), 60, seed=1)
    fake = _mixture(_modes(5, seed=7), 60, seed=2) + 1e4  # every generated point far from every ball
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_covering_half_the_modes_gives_recall_one_half_and_full_precision():
    centres = _modes(10, dim=2)  # in 2-d the k-NN balls of 400 points cover their mode's mass but its far tail
    real = _mixture(centres, 200, seed=1)
    fake = _mixture(centres[:5], 400, seed=2)  # as many samples, all in the first five modes
    precision, recall = precision_recall(real, fake)
    # real points of the covered modes fall in the generated balls, the others (5 of 10 modes) cannot
    assert recall == pytest.approx(0.5, abs=0.03)
    assert precision > 0.95


def test_shapes_are_checked():
    with pytest.raises(GankitError, match="need shape"):
        precision_recall(torch.zeros(3, 2), torch.zeros(10, 2))
    with pytest.raises(GankitError, match="dimensions differ"):
        precision_recall(torch.zeros(10, 2), torch.zeros(10, 3))


def test_pr10k_through_the_registry_with_dry_run_features():
    x = torch.rand(400, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    data = Dataset("pr-test", Split(x), Split(x), Split(x))
    ctx = EvalContext(sample=lambda n: x[:n], data=data, scale=0.02, options={"fid_extractor": DryRunFeatures()})
    figures = evaluate(["pr10k"], ctx)
    # generated = the first 200 real images: every generated point is itself a real centre
    assert figures["pr10k_precision"] == 1.0 and figures["pr10k_recall"] == 1.0
