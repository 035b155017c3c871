"""Latent tools: interpolation against closed forms, arithmetic by hand, and the two
commands on a tiny trained run."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli.main import main
from gankit.errors import GankitError
from gankit.latent import combine, decode, group_mean, interpolate, jitter, lerp, parse_expression, pick_by_class, slerp


def test_lerp_endpoints_and_midpoint() -> None:
    a, b = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([3.0, 2.0, -1.0])
    p = lerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(p, torch.tensor([[1.0, -2.0, 3.0], [2.0, 0.0, 1.0], [3.0, 2.0, -1.0]]))


def test_slerp_orthogonal_unit_vectors_closed_form() -> None:
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    t = torch.tensor([0.0, 1 / 3, 0.5, 1.0])
    p = slerp(a, b, t)
    # On the unit circle: (cos(t pi/2), sin(t pi/2)).
    expect = torch.stack([torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)], 1)
    assert torch.allclose(p, expect, atol=1e-6)


def test_slerp_keeps_norm_and_constant_angular_speed() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(100, generator=g), torch.randn(100, generator=g)
    b = b / b.norm() * a.norm()  # equal norms: the path stays on the sphere
    p = interpolate(a, b, 9, "spherical")
    assert torch.allclose(p.norm(dim=1), a.norm().expand(9), rtol=1e-5)
    cos = torch.nn.functional.cosine_similarity(p[:-1], p[1:], dim=1).clamp(-1, 1)
    step = torch.arccos(cos.double())
    total = torch.arccos(torch.dot(a, b).double() / (a.norm() * b.norm()).double())
    assert torch.allclose(step, (total / 8).expand(8), atol=1e-4)
    # A straight line through the same ends dips inside the sphere.
    assert (interpolate(a, b, 9, "linear").norm(dim=1)[4] < 0.8 * a.norm())
    assert torch.allclose(p[0], a, atol=1e-5) and torch.allclose(p[-1], b, atol=1e-5)


def test_slerp_parallel_vectors_fall_back_to_lerp() -> None:
    a = torch.tensor([1.0, 2.0])
    p = slerp(a, 3 * a, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(p, torch.stack([a, 2 * a, 3 * a]))


def test_interpolate_bad_arguments() -> None:
    z = torch.zeros(3)
    with pytest.raises(GankitError, match="method 'cubic'"):
        interpolate(z, z, 4, "cubic")
    with pytest.raises(GankitError, match="at least 2 steps"):
        interpolate(z, z, 1)


def test_arithmetic_by_hand() -> None:
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 4.0], [10.0, 10.0]])
    means = {"A": group_mean(z, [0, 1]), "B": group_mean(z, [2]), "C": group_mean(z, [3])}
    assert torch.equal(means["A"], torch.tensor([2.0, 0.0]))
    assert torch.equal(combine(means, "A - B + C"), torch.tensor([12.0, 6.0]))
    assert torch.equal(combine(means, "-A+C"), torch.tensor([8.0, 10.0]))
    assert parse_expression(" A -B+ C ") == [(1, "A"), (-1, "B"), (1, "C")]
    for bad in ("A B", "A +", "A - 3", ""):
        with pytest.raises(GankitError):
            combine(means, bad)
    with pytest.raises(GankitError, match="no group named Q"):
        combine(means, "A - Q")
    with pytest.raises(GankitError, match="at least one member"):
        group_mean(z, [])


def test_jitter_and_pick_by_class() -> None:
    z = torch.zeros(5)
    j = jitter(z, 4, 0.25, torch.Generator().manual_seed(0))
    assert j.shape == (4, 5) and torch.equal(j[0], z) and j[1:].abs().max() <= 0.25 and j[1:].abs().max() > 0
    images = torch.tensor([0.1, 0.9, 0.8, 0.2, 0.95]).view(5, 1, 1, 1).expand(5, 1, 2, 2)
    bright = lambda x: (x.mean((1, 2, 3)) > 0.5).long()  # noqa: E731  a classifier we can reason about
    assert pick_by_class(images, bright, 1, 2).tolist() == [1, 2]
    with pytest.raises(GankitError, match="only 2 of 5"):
        pick_by_class(images, bright, 0, 3)


# ---------------------------------------------------------------------------------------
# The commands on a tiny trained run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("e7latent") / "run"
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(["train", "dcgan-mnist", "data.limit=64", "data.batch_size=16", "train.steps=2", "generator.args.width=4",
                   "generator.args.init_std=0.5",  # outputs that vary with z, so tiles can be told apart
                   "discriminator.args.width=4", "log.tensorboard=false", "--out", str(out), "--no-progress"])
    finally:
        torch.set_num_threads(prev)
    assert rc == 0
    return str(out)


def _tiles(path, rows: int, cols: int, side: int = 28, pad: int = 2) -> np.ndarray:
    a = np.asarray(Image.open(path))
    assert a.shape == (pad + rows * (side + pad), pad + cols * (side + pad))
    return np.stack([[a[pad + r * (side + pad): pad + r * (side + pad) + side, pad + c * (side + pad): pad + c * (side + pad) + side]
                      for c in range(cols)] for r in range(rows)])


def test_interpolate_command_writes_strip_and_gif(tiny_run, tmp_path) -> None:
    from gankit.training.generator import load_generator, sample_noise

    out = tmp_path / "walk.png"
    assert main(["interpolate", tiny_run, "--out", str(out), "--steps", "5", "--paths", "2", "--seed", "3"]) == 0
    t = _tiles(out, rows=4, cols=5).astype(int)  # rows: pair 0 linear, pair 0 spherical, pair 1 ...
    # Both methods start and end at the same latent points, and differ in between.
    assert np.abs(t[0, 0] - t[1, 0]).max() <= 1 and np.abs(t[0, 4] - t[1, 4]).max() <= 1
    assert np.abs(t[0, 2] - t[1, 2]).max() > 1
    # The first tile is G(z0) for the command's seed.
    G, cfg, ctx, _ = load_generator(tiny_run)
    z0, _ = sample_noise(cfg, ctx, 3).sample(2)
    x = decode(G, z0[:1], None, cfg.data.pixel_range)[0, 0].numpy()
    assert np.abs(t[0, 0] - np.round(x * 255)).max() <= 1
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 2 * 5 - 2  # forwards then backwards


def test_arithmetic_command_decodes_the_combination(tiny_run, tmp_path) -> None:
    from gankit.training.generator import load_generator, sample_noise

    out = tmp_path / "arith.png"
    cand = tmp_path / "pool.png"
    assert main(["arithmetic", tiny_run, "--pool", "32", "--seed", "5", "--group", "A=1,2,3", "--group", "B=4,5",
                 "--group", "C=9", "--expr", "A - B + C", "--neighbours", "3", "--out", str(out), "--candidates", str(cand)]) == 0
    t = _tiles(out, rows=4, cols=4).astype(int)
    G, cfg, ctx, _ = load_generator(tiny_run)
    z, _ = sample_noise(cfg, ctx, 5).sample(32)
    want = z[[1, 2, 3]].mean(0) - z[[4, 5]].mean(0) + z[9]  # by hand
    x = decode(G, want[None], None, cfg.data.pixel_range)[0, 0].numpy()
    assert np.abs(t[3, 0] - np.round(x * 255)).max() <= 1
    xa = decode(G, z[[1, 2, 3]].mean(0)[None], None, cfg.data.pixel_range)[0, 0].numpy()
    assert np.abs(t[0, 3] - np.round(xa * 255)).max() <= 1  # group A's mean after its 3 members
    assert Image.open(cand).size == (2 + 16 * 30, 2 + 2 * 30)


@pytest.mark.parametrize("argv, message", [
    (["--group", "A=1,99", "--out", "x.png"], "outside the pool"),
    (["--group", "A", "--out", "x.png"], "NAME=i,j,k"),
    (["--group", "A=1", "--expr", "A - B", "--out", "x.png"], "no group named B"),
    (["--group", "A=1"], "--out"),
    (["--group", "A=1", "--out", "x.jpg"], "expected a .png"),
    (["--group", "A=1", "--label", "3", "--out", "x.png"], "not a conditional model"),
])
def test_arithmetic_bad_arguments_are_one_line(tiny_run, tmp_path, capsys, argv, message) -> None:
    argv = [a if a not in ("x.png", "x.jpg") else str(tmp_path / a) for a in argv]
    assert main(["arithmetic", tiny_run, "--pool", "8", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_interpolate_bad_arguments(tiny_run, tmp_path, capsys) -> None:
    assert main(["interpolate", tiny_run, "--out", str(tmp_path / "w.gif")]) == 2
    assert main(["interpolate", tiny_run, "--out", str(tmp_path / "w.png"), "--steps", "1"]) == 2
    assert main(["interpolate", str(tmp_path / "missing"), "--out", str(tmp_path / "w.png")]) == 2
    err = capsys.readouterr().err
    assert "expected a .png" in err and "--steps 1" in err and "missing" in err
