"""Conditional nets: labels reach G and D, the projection D is the formula it claims, a
conditional GAN learns a label-dependent toy, and `gankit sample --label` uses the label."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.cli.main import main
from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.errors import ConfigError
from gankit.nets.conditional import ConcatDCGANDiscriminator, ConditionalDCGANGenerator, ProjectionDCGANDiscriminator
from gankit.nets.registry import build_net
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state, generate


@pytest.mark.parametrize("code", ["onehot", "embedding"])
def test_generator_output_depends_on_label(code) -> None:
    torch.manual_seed(0)
    G = ConditionalDCGANGenerator(8, (1, 28, 28), num_classes=10, width=4, label_code=code, init_std=0.5).eval()
    z = torch.randn(4, 8)
    a, b = G(z, torch.full((4,), 2)), G(z, torch.full((4,), 7))
    assert a.shape == (4, 1, 28, 28) and (a - b).abs().max() > 1e-3
    assert torch.equal(G(z, torch.full((4,), 2)), a)  # deterministic in eval mode
    assert G.project[0].in_features == 8 + (10 if code == "onehot" else G.code.dim)


def test_projection_discriminator_is_the_projection_formula() -> None:
    torch.manual_seed(0)
    D = ProjectionDCGANDiscriminator((1, 28, 28), num_classes=10, width=4).eval()
    x = torch.rand(6, 1, 28, 28)
    y1, y2 = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([9, 8, 7, 6, 5, 4])
    phi = D.features(x)
    # logit(x, y1) - logit(x, y2) = (v_y1 - v_y2) . phi(x); and logit(x, y) = w.phi + b + v_y.phi
    w, b, V = D.head.weight[0], D.head.bias[0], D.embed.weight
    assert torch.allclose(D(x, y1) - D(x, y2), ((V[y1] - V[y2]) * phi).sum(1), atol=1e-5)
    assert torch.allclose(D(x, y1), phi @ w + b + (V[y1] * phi).sum(1), atol=1e-5)


def test_concat_discriminator_sees_label_planes() -> None:
    torch.manual_seed(0)
    D = ConcatDCGANDiscriminator((1, 28, 28), num_classes=10, width=4).eval()
    assert D.features.body[0].in_channels == 11  # image + 10 one-hot planes
    x = torch.rand(3, 1, 28, 28)
    assert (D(x, torch.tensor([0, 0, 0])) - D(x, torch.tensor([5, 5, 5]))).abs().max() > 1e-4


@pytest.mark.parametrize("name, role", [("cdcgan", "generator"), ("cdcgan-d", "discriminator"), ("dcgan-projection", "discriminator")])
def test_conditional_nets_need_labels(name, role) -> None:
    with pytest.raises(ConfigError, match="data.conditional: true"):
        build_net(role, name, {}, num_classes=0)
    net = build_net(role, name, {"width": 4}, num_classes=3, noise_dim=8, image_shape=[1, 28, 28])
    with pytest.raises(ValueError, match="needs a label"):
        net(torch.randn(2, 8) if role == "generator" else torch.rand(2, 1, 28, 28), None)


def test_presets_resolve() -> None:
    for p in ("cgan-mnist", "cgan-projection-mnist", "cgan-fashion-mnist", "cgan-projection-fashion-mnist"):
        cfg = load_config(p)
        assert cfg.data.conditional and cfg.generator.name == "cdcgan" and cfg.data.pixel_range == "symmetric"
    assert load_config("cgan-projection-fashion-mnist").discriminator.name == "dcgan-projection"
    assert load_config("cgan-fashion-mnist").data.name == "fashion-mnist"


@pytest.mark.parametrize("preset", ["cgan-mnist", "cgan-projection-mnist"])
def test_conditional_gan_learns_label_dependent_toy(preset) -> None:
    """Class 0 images are all 0.15, class 1 all 0.85: G must follow the label it is given."""
    y = torch.arange(256) % 2
    x = (0.15 + 0.7 * y.float()).view(-1, 1, 1, 1).expand(-1, 1, 8, 8).contiguous()
    data = Dataset("two-levels", Split(x, y), Split(x[:32], y[:32]), Split(x[:32], y[:32]), num_classes=2)
    cfg = load_config(preset, ["data.batch_size=32", "noise.dim=8", "generator.args.width=8", "discriminator.args.width=8",
                               "optim_g.lr=0.002", "optim_d.lr=0.002"])
    prev = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: one thread avoids contention on shared cores
    try:
        state, ctx = build_state(cfg, data)
        assert ctx["num_classes"] == 2
        algorithm1(state, 80)
        lab = torch.tensor([0, 1]).repeat(32)
        out = generate(state.G, 64, state.noise, "symmetric", labels=lab).mean((1, 2, 3))
    finally:
        torch.set_num_threads(prev)
    dark, bright = out[lab == 0].mean().item(), out[lab == 1].mean().item()
    assert abs(dark - 0.15) < 0.12 and abs(bright - 0.85) < 0.12, (dark, bright)


def test_sample_label_through_the_cli(tmp_path) -> None:
    from gankit.training.generator import load_generator, sample_noise

    run = tmp_path / "run"
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "cgan-projection-mnist", "data.limit=64", "data.batch_size=16", "train.steps=2",
                     "generator.args.width=4", "generator.args.init_std=0.5", "discriminator.args.width=4",
                     "log.tensorboard=false", "--out", str(run), "--no-progress"]) == 0
    finally:
        torch.set_num_threads(prev)
    for label in (3, 7):
        assert main(["sample", str(run), "--label", str(label), "--n", "5", "--seed", "1", "--out", str(tmp_path / f"s{label}.npy")]) == 0
    s3, s7 = np.load(tmp_path / "s3.npy"), np.load(tmp_path / "s7.npy")
    G, cfg, ctx, _ = load_generator(run)
    z, _ = sample_noise(cfg, ctx, 1).sample(5)
    want = (G(z, torch.full((5,), 7)) + 1) / 2
    assert np.allclose(s7, want.detach().clamp(0, 1).numpy(), atol=1e-5)
    assert np.abs(s3 - s7).max() > 1e-3
    assert main(["sample", str(run), "--label", "10", "--n", "2", "--out", str(tmp_path / "x.npy")]) == 2
