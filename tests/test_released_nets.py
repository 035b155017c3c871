"""The CIFAR-10 and TFD nets of Goodfellow et al. (2014) as the released code builds them,
and their presets on tiny files in the real formats."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_loaders import write_cifar

from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.errors import DataError
from gankit.nets.goodfellow2014 import CifarGenerator, CifarMaxoutConvDiscriminator, MaxoutConv, TFDGenerator


def cifar_root(tmp: Path) -> Path:
    """The CIFAR-10 python batches, 16 images each, as Python-2 pickles like the real ones."""
    write_cifar(tmp / "cifar-10-batches-py", n=16)
    return tmp


def face_folder(tmp: Path, n: int = 60) -> Path:
    """n grayscale 48x48 PNGs, as TFD's faces."""
    root = tmp / "faces"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8), mode="L").save(root / f"{i:03d}.png")
    return root


# the data each preset needs, made in a temporary folder
PRESET_DATA = {"goodfellow2014-cifar10": cifar_root, "goodfellow2014-tfd": face_folder}


def test_cifar_generator_maps_10x10_maps_to_32x32_images_with_untied_bias():
    torch.manual_seed(0)
    G = CifarGenerator(noise_dim=8, hidden=16, output="tanh")
    x = G(torch.randn(5, 8))
    assert x.shape == (5, 3, 32, 32) and x.abs().max() <= 1
    assert G.bias.shape == (3, 32, 32)  # one bias per output pixel
    assert G.deconv.weight.abs().max() <= 0.05
    with pytest.raises(ValueError, match="give 32x32 images, not 28x28"):
        CifarGenerator(image_shape=(1, 28, 28))


def test_maxout_conv_takes_the_max_over_consecutive_pieces_and_pools_rounding_up():
    layer = MaxoutConv(1, channels=2, pieces=3, kernel=1, pad=0, pool=2, pool_stride=2)
    with torch.no_grad():
        layer.conv.weight.copy_(torch.tensor([1.0, -1.0, 2.0, -3.0, 0.5, 0.0]).view(6, 1, 1, 1))
        layer.conv.bias.zero_()
    x = torch.arange(9.0).view(1, 1, 3, 3) - 4  # 3x3 maps, pool 2 stride 2: 2x2 out (rounded up)
    got = layer(x)
    unit0 = torch.maximum(torch.maximum(x, -x), 2 * x)  # pieces 0-2
    unit1 = torch.maximum(torch.maximum(-3 * x, 0.5 * x), torch.zeros_like(x))  # pieces 3-5
    want = torch.nn.functional.max_pool2d(torch.cat([unit0, unit1], 1), 2, 2, ceil_mode=True)
    assert got.shape == (1, 2, 2, 2)
    assert torch.equal(got, want)
    assert got[0, 0, 1, 1] == unit0[0, 0, 2, 2]  # the last window holds only the corner


def test_cifar_discriminator_map_sizes_follow_the_yaml():
    D = CifarMaxoutConvDiscriminator().eval()
    h, sizes = torch.zeros(2, 3, 32, 32), []
    for m in D.net:
        h = m(h)
        if isinstance(m, MaxoutConv):
            sizes.append(tuple(h.shape[1:]))
    # conv 32+8-8+1 = 33, pool 4/2 -> 16; 16+6-8+1 = 15 -> 7; 7+6-5+1 = 9, pool 2/2 -> 5
    assert sizes == [(32, 16, 16), (32, 7, 7), (192, 5, 5)]
    assert h.shape == (2, 1)
    assert all(p.abs().max() <= 0.005 for p in D.parameters())


def test_tfd_generator_starts_as_the_yaml():
    torch.manual_seed(0)
    G = TFDGenerator(noise_dim=8, hidden=300, sparse_init=100)
    out = G.net[-1].weight
    assert ((out != 0).sum(1) == 100).all()  # 100 nonzero weights into each output unit
    assert 0.8 < out[out != 0].std() < 1.2  # drawn from N(0, 1)
    assert torch.equal(G.net[2].bias, torch.full((300,), -2.0))
    x = torch.rand(10, 1, 48, 48)
    G.init_from_data(x)
    assert torch.allclose(torch.sigmoid(G.net[-1].bias), x.mean(0).flatten().clamp(1e-3, 1 - 1e-3), atol=1e-5)
    assert G(torch.randn(3, 8)).shape == (3, 1, 48, 48)


def test_folder_48_loads_grayscale_faces_as_one_channel(tmp_path):
    data = load_dataset("folder-48", str(face_folder(tmp_path, n=4)), False)
    assert data.train.x.shape == (4, 1, 48, 48)
    raw = np.asarray(Image.open(tmp_path / "faces" / "002.png"), dtype=np.float32) / 255
    assert torch.allclose(data.train.x[2, 0], torch.from_numpy(raw))  # no resampling at the native size


def test_cifar10_splits_as_the_yaml(tmp_path):
    # train[0:40000] = batches 1-4, valid train[40000:50000] = batch 5
    data = load_dataset("cifar10", str(cifar_root(tmp_path)), False)
    assert data.train.x.shape == (64, 3, 32, 32) and data.valid.x.shape == (16, 3, 32, 32)
    assert data.valid.x[0, 0, 5, 5] * 255 == pytest.approx(40)  # batch 5's first image: red plane 10 * 4


@pytest.mark.parametrize("preset", sorted(PRESET_DATA))
def test_missing_data_root_is_one_error_naming_it(preset):
    cfg = load_config(preset)
    assert cfg.data.root is None
    with pytest.raises(DataError, match="data.root"):
        load_dataset(cfg.data.name, cfg.data.root, cfg.data.download)


def test_weight_norm_limit_projects_updated_rows_before_they_are_used():
    from gankit.nets.mlp import MaxoutDiscriminator

    torch.manual_seed(0)
    D = MaxoutDiscriminator(image_shape=(1, 4, 4), units=3, pieces=2, input_dropout=0.0, hidden_dropout=0.0,
                            init_range=0.005, max_norm=0.5)
    first = D.net[2].linear.weight
    with torch.no_grad():
        first[0] *= 1000  # one piece's weights pushed far past the limit, as a big update would
        before = first[1:].clone()
    x = torch.rand(4, 1, 4, 4)
    loss = D(x).sum() + D(x).sum()  # two passes in one step, as D's step makes
    loss.backward()  # no in-place change between the passes
    assert float(torch.linalg.vector_norm(first[0].detach())) == pytest.approx(0.5, rel=1e-6)
    assert torch.equal(first[1:], before)  # rows under the limit are left alone
