"""Toy mixtures, their nets and the mode metrics, against counts derived by hand."""
import math

import pytest
import torch

from gankit.data.datasets import load_dataset
from gankit.data.toy import TOY_SPECS, toy_spec
from gankit.metrics.modes import mode_stats
from gankit.metrics.registry import EvalContext, evaluate
from gankit.nets.registry import build_net


def test_ring_and_grid_data_follow_the_protocol():
    ring, grid = toy_spec("ring8"), toy_spec("grid25")
    assert ring.num_modes == 8 and grid.num_modes == 25
    assert torch.allclose(ring.centers.norm(dim=1), torch.ones(8, dtype=torch.float64))
    assert sorted(set(grid.centers[:, 0].tolist())) == [-4, -2, 0, 2, 4]
    d = load_dataset("grid25")
    assert d.train.x.shape == (100_000, 2) and d.train.x.dtype == torch.float32
    assert d.train.x.min() >= 0 and d.train.x.max() <= 1  # stored in [0, 1] like every gankit dataset
    x = grid.to_physical(d.train.x)
    # residuals from the nearest centre have the protocol's sigma
    res = x - grid.centers[torch.cdist(x, grid.centers).argmin(1)]
    assert res.std().item() == pytest.approx(0.05, rel=0.02)
    assert torch.equal(load_dataset("grid25").train.x, d.train.x)  # deterministic


def test_mode_stats_on_true_samples_and_on_collapsed_ones():
    spec = TOY_SPECS["grid25"]
    g = torch.Generator().manual_seed(0)
    s = mode_stats(spec.sample(2500, g), spec)
    assert s.modes == 25
    # P(|N(0, I_2)| <= 3) = 1 - exp(-9/2) for a 2-D Gaussian
    assert s.hq_fraction == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert s.reverse_kl < 0.02
    # all samples on 5 of the 25 modes, evenly: 5 modes, reverse KL = log(25/5)
    only5 = spec.centers[torch.arange(2500) % 5]
    s5 = mode_stats(only5, spec)
    assert s5.modes == 5 and s5.hq_fraction == 1.0
    assert s5.reverse_kl == pytest.approx(math.log(5), abs=1e-9)
    # points halfway between modes are not high quality and capture nothing
    mid = spec.centers[:24] + torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert mode_stats(mid, spec).hq_fraction == 0.0 and mode_stats(mid, spec).modes == 0


def test_one_high_quality_sample_captures_a_mode_as_veegan_and_pacgan_count():
    spec = TOY_SPECS["ring8"]
    n = 800  # uniform share 100
    idx = torch.cat([torch.zeros(1, dtype=torch.long), torch.ones(19, dtype=torch.long),
                     torch.full((780,), 2, dtype=torch.long)])
    x = spec.centers[idx].clone()
    x[0, 0] += 2.9 * spec.sigma  # inside 3 sigma: still high quality
    s = mode_stats(x, spec)
    assert s.counts[:3] == [1, 19, 780]
    assert s.modes == 3  # a single high-quality sample captures its mode
    # the stricter variant: at least a fifth of the uniform share (20 of 100)
    assert mode_stats(x, spec, min_fraction=0.2).modes == 1
    # a sample just outside 3 sigma is not high quality and captures nothing
    y = spec.centers[:1].clone()
    y[0, 1] += 3.01 * spec.sigma
    out = mode_stats(y, spec)
    assert out.modes == 0 and out.hq_fraction == 0.0


def test_mode_metrics_through_the_registry_on_data_samples():
    data = load_dataset("ring8")
    ctx = EvalContext(sample=lambda n: data.test.x[:n], data=data)
    out = evaluate(["modes2500", "hq_fraction2500", "reverse_kl2500"], ctx)
    assert out["modes2500"] == 8
    assert out["hq_fraction2500"] == pytest.approx(1 - math.exp(-4.5), abs=0.015)
    assert out["reverse_kl2500"] < 0.01


def test_mode_metrics_refuse_image_data():
    from gankit.data.datasets import Dataset, Split
    from gankit.errors import ConfigError

    d = Dataset("tiny", Split(torch.rand(4, 1, 2, 2)), Split(torch.rand(4, 1, 2, 2)), Split(torch.rand(4, 1, 2, 2)))
    with pytest.raises(ConfigError, match="toy mixture"):
        evaluate(["modes2500"], EvalContext(sample=lambda n: torch.rand(n, 2), data=d))


def test_toy_nets_shapes_and_packing():
    G = build_net("generator", "toy-mlp", {"hidden": [8, 8], "batch_norm": True}, noise_dim=3, image_shape=[2])
    assert G(torch.randn(6, 3)).shape == (6, 2)
    D = build_net("discriminator", "toy-mlp-d", {"hidden": [8], "pieces": 3, "pack": 2}, image_shape=[2])
    x = torch.randn(6, 2)
    out = D(x)
    assert out.shape == (3,)
    # a pack is the concatenation of consecutive examples
    assert torch.allclose(out[1], D(x[2:4])[0])
    with pytest.raises(ValueError, match="multiple of 2"):
        D(torch.randn(5, 2))
