"""DCGAN nets: the paper's architecture guidelines, shapes, init, and that they learn."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.errors import ConfigError
from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator, halvings
from gankit.nets.registry import build_net
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state, generate


@pytest.mark.parametrize("side, n, base", [(28, 2, 7), (32, 3, 4), (64, 4, 4), (8, 1, 4)])
def test_halvings(side, n, base) -> None:
    assert halvings(side) == (n, base)


@pytest.mark.parametrize("bad", [3, 7, 5])
def test_halvings_rejects_sizes_no_stride_reaches(bad) -> None:
    with pytest.raises(ValueError):
        halvings(bad)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_shapes_and_output_ranges(shape) -> None:
    torch.manual_seed(0)
    G = DCGANGenerator(noise_dim=16, image_shape=shape, width=8, output="tanh")
    D = DCGANDiscriminator(image_shape=shape, width=8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, *shape) and x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)
    Gs = DCGANGenerator(noise_dim=16, image_shape=shape, width=8, output="sigmoid")
    xs = Gs(torch.randn(5, 16))
    assert xs.min() >= 0 and xs.max() <= 1


def _layers(m: nn.Module) -> list[nn.Module]:
    return [l for l in m.modules() if not isinstance(l, (nn.Sequential, DCGANGenerator, DCGANDiscriminator)) and not list(l.children())]


def test_paper_guidelines_64px() -> None:
    """Strided convs, no pooling; BN except G's output and D's input; ReLU/LeakyReLU 0.2."""
    G = DCGANGenerator(100, (3, 64, 64), width=128)
    D = DCGANDiscriminator((3, 64, 64), width=128)
    g = _layers(G)
    assert not any(isinstance(l, (nn.MaxPool2d, nn.AvgPool2d)) for l in g + _layers(D))
    convs = [l for l in g if isinstance(l, nn.ConvTranspose2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 4
    # The paper's 64x64 G: 1024 channels at 4x4, halving to 128 at 32x32, then 3 channels.
    assert [c.in_channels for c in convs] == [1024, 512, 256, 128] and convs[-1].out_channels == 3
    assert isinstance(g[-1], nn.ConvTranspose2d)  # nothing (no BN) after G's output layer
    assert sum(isinstance(l, nn.BatchNorm2d) for l in g) == 3 and sum(isinstance(l, nn.ReLU) for l in g) == 4
    d = _layers(D.features)
    assert isinstance(d[0], nn.Conv2d) and isinstance(d[1], nn.LeakyReLU)  # input layer: no BN
    assert sum(isinstance(l, nn.BatchNorm2d) for l in d) == 3
    assert all(l.negative_slope == 0.2 for l in d if isinstance(l, nn.LeakyReLU))
    assert [c.stride for c in d if isinstance(c, nn.Conv2d)] == [(2, 2)] * 4


def test_hidden_layer_gives_the_infogan_mnist_nets() -> None:
    """hidden=1024 with width 64 on 28x28: G z -> FC 1024 -> FC 7x7x128 -> deconv 64 -> deconv 1,
    D conv 64 -> conv 128 -> FC 1024 -> FC 1 (the nets Lucic et al. 2018 use on MNIST)."""
    G = DCGANGenerator(62, (1, 28, 28), width=64, hidden=1024)
    D = DCGANDiscriminator((1, 28, 28), width=64, hidden=1024)
    fc = [l for l in _layers(G.project) if isinstance(l, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in fc] == [(62, 1024), (1024, 128 * 7 * 7)]
    assert [type(l) for l in _layers(G.project)] == [nn.Linear, nn.BatchNorm1d, nn.ReLU] * 2
    head = _layers(D.head)
    assert [type(l) for l in head] == [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU, nn.Linear]
    assert (head[0].in_features, head[0].out_features, head[-1].out_features) == (128 * 7 * 7, 1024, 1)
    x = G(torch.randn(4, 62))
    assert x.shape == (4, 1, 28, 28) and D(x).shape == (4,)
    # hidden=0 keeps plain DCGAN's parameter names and shapes, so older checkpoints still load.
    plain = DCGANGenerator(62, (1, 28, 28), width=64)
    assert plain.project[0].weight.shape == (128 * 7 * 7, 62) and isinstance(DCGANDiscriminator(width=64).head, nn.Linear)
    with pytest.raises(ConfigError, match="hidden"):
        build_net("discriminator", "dcgan-d", {"hidden": -1}, image_shape=[1, 28, 28])


def test_init_is_normal_0_02() -> None:
    torch.manual_seed(0)
    G = DCGANGenerator(100, (3, 64, 64), width=64)
    w = G.body[0].weight.detach().flatten()  # 512*256*16 = 2M draws: std known to ~0.1%
    assert abs(float(w.mean())) < 1e-3 and abs(float(w.std()) - 0.02) < 4e-4
    bn = G.body[1].weight.detach()
    assert abs(float(bn.mean()) - 1.0) < 0.01 and 0.01 < float(bn.std()) < 0.03


def test_registry_builds_from_presets_with_context() -> None:
    cfg = load_config("dcgan-mnist")
    assert cfg.data.pixel_range == "symmetric" and cfg.optim_g.lr == 2e-4 and cfg.optim_g.betas[0] == 0.5
    G = build_net("generator", cfg.generator.name, cfg.generator.args, noise_dim=100, image_shape=[1, 28, 28], output="tanh")
    assert isinstance(G, DCGANGenerator) and G.output == "tanh"
    with pytest.raises(ConfigError, match="generator.args.depth"):
        build_net("generator", "dcgan", {"depth": 3})
    with pytest.raises(ConfigError, match="square"):
        build_net("discriminator", "dcgan-d", {}, image_shape=[1, 28, 32])
    assert load_config("dcgan-fashion-mnist").data.name == "fashion-mnist"


def test_dcgan_learns_a_constant_image() -> None:
    """Real images are all 0.85; D tells anything else apart, so G must move there from 0.5."""
    cfg = load_config("dcgan-mnist", [
        "data.batch_size=32", "noise.dim=8", "generator.args.width=8",
        "discriminator.args.width=8", "optim_g.lr=0.002", "optim_d.lr=0.002",
        # the plain DCGAN nets in fp32, not the preset's MNIST recipe (FC layers, bf16)
        "generator.args.hidden=0", "discriminator.args.hidden=0", "train.precision=fp32", "train.channels_last=false",
    ])
    prev = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: one thread avoids contention on shared cores
    try:
        state, _ = build_state(cfg, Dataset("constant", *[Split(torch.full((256, 1, 8, 8), 0.85))] * 3))
        before = generate(state.G, 64, state.noise, "symmetric").mean().item()
        algorithm1(state, 60)
        after = generate(state.G, 64, state.noise, "symmetric")
    finally:
        torch.set_num_threads(prev)
    assert abs(before - 0.5) < 0.1
    assert abs(after.mean().item() - 0.85) < 0.08, after.mean().item()
