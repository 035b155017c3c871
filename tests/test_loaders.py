"""Loaders: Fashion-MNIST (Debian package), CIFAR-10 python batches, image folders."""
from __future__ import annotations

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import load_dataset
from gankit.data import cifar10, fashion
from gankit.errors import ConfigError, DataError


# ---------------------------------------------------------------------------------------
# Fashion-MNIST


@pytest.mark.skipif(fashion.installed_dir() is None, reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package() -> None:
    d = load_dataset("fashion-mnist")
    assert d.name == "fashion-mnist" and d.num_classes == 10
    assert d.train.x.shape == (50_000, 1, 28, 28) and d.valid.x.shape == (10_000, 1, 28, 28)
    assert d.test.x.shape == (10_000, 1, 28, 28)
    assert d.train.x.dtype == torch.float32 and 0.0 == d.train.x.min() and d.train.x.max() == 1.0
    # The published test set holds exactly 1,000 images of each class.
    assert torch.bincount(d.test.y, minlength=10).tolist() == [1000] * 10
    # Train + valid is the 60k training file: 6,000 per class.
    assert torch.bincount(torch.cat([d.train.y, d.valid.y]), minlength=10).tolist() == [6000] * 10


def test_fashion_mnist_missing_package_is_one_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_fashion_mnist_root_missing_files(tmp_path) -> None:
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte"):
        load_dataset("fashion-mnist", root=str(tmp_path))


# ---------------------------------------------------------------------------------------
# CIFAR-10: small files in the real format (Python-2 pickles: byte strings as BINSTRING,
# numpy 1's module name for the array reconstructor), written by a pickler that emits them.


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:  # Python 2's str opcodes
        n = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_global(self, obj, name=None) -> None:
        module = {"numpy._core.multiarray": "numpy.core.multiarray"}.get(obj.__module__, obj.__module__)
        if obj is np.ndarray or obj is np.dtype:
            module = "numpy"
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__name__}\n".encode())
        self.memoize(obj)

    dispatch[type] = save_global


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def cifar_batch(n: int, start: int) -> tuple[dict, np.ndarray]:
    """n images whose R, G, B planes are constant start+i, 100+start+i, 200+start+i (mod 256)."""
    img = np.zeros((n, 3, 32, 32), np.uint8)
    for i in range(n):
        for c in range(3):
            img[i, c] = (100 * c + start + i) % 256
    img[:, 0, 0, 1] = 7  # one marked pixel: row 0, column 1 of the red plane
    data = img.reshape(n, 3072)
    return {b"batch_label": b"testing batch", b"labels": [(start + i) % 10 for i in range(n)], b"data": data,
            b"filenames": [f"img{start + i}.png".encode() for i in range(n)]}, img


def write_cifar(folder: Path, n: int = 3) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    images = {}
    for k, name in enumerate([*cifar10.TRAIN_BATCHES, *cifar10.VALID_BATCHES, *cifar10.TEST_BATCHES]):
        batch, img = cifar_batch(n, 10 * k)
        (folder / name).write_bytes(py2_pickle(batch))
        images[name] = img
    return images


def test_py2_pickler_writes_the_real_format(tmp_path) -> None:
    raw = py2_pickle(cifar_batch(2, 0)[0])
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw and pickle.SHORT_BINSTRING + b"\x04data" in raw


def test_cifar10_reads_batches_in_the_right_layout(tmp_path) -> None:
    images = write_cifar(tmp_path / "cifar-10-batches-py")
    d = load_dataset("cifar10", root=str(tmp_path))  # the parent folder works too
    assert d.train.x.shape == (12, 3, 32, 32) and d.valid.x.shape == (3, 3, 32, 32) and d.test.x.shape == (3, 3, 32, 32)
    expected = np.concatenate([images[n] for n in cifar10.TRAIN_BATCHES]).astype(np.float32) / 255
    assert torch.equal(d.train.x, torch.from_numpy(expected))
    assert d.train.x[0, 0, 0, 1] == pytest.approx(7 / 255) and d.train.x[0, 1, 0, 1] == pytest.approx(100 / 255)
    assert d.train.y.tolist() == [(10 * k + i) % 10 for k in range(4) for i in range(3)]
    assert d.test.y.tolist() == [(50 + i) % 10 for i in range(3)] and d.num_classes == 10


def test_cifar10_reads_the_tar_archive(tmp_path) -> None:
    write_cifar(tmp_path / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    a = load_dataset("cifar10", root=str(archive))
    b = load_dataset("cifar10", root=str(tmp_path / "cifar-10-batches-py"))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_cifar10_refuses_code_in_pickles(tmp_path, monkeypatch) -> None:
    write_cifar(tmp_path / "c")
    (tmp_path / "c" / "data_batch_2").write_bytes(pickle.dumps({"data": _Evil()}, protocol=2))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"data_batch_2: not a CIFAR-10 batch \(refusing to load .*system"):
        load_dataset("cifar10", root=str(tmp_path / "c"))
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: raw[: len(raw) // 2], "truncated"),
        (lambda raw: py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), r"uint8 array \[N, 3072\]"),
        (lambda raw: py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "expected 2 labels"),
        (lambda raw: py2_pickle({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}), r"labels must lie in 0\.\.9"),
        (lambda raw: py2_pickle([1, 2]), "expected a pickled dict"),
    ],
)
def test_cifar10_bad_batches_name_the_file(tmp_path, damage, message) -> None:
    write_cifar(tmp_path / "c")
    p = tmp_path / "c" / "test_batch"
    p.write_bytes(damage(p.read_bytes()))
    with pytest.raises(DataError, match=f"test_batch: .*{message}"):
        load_dataset("cifar10", root=str(tmp_path / "c"))


def test_cifar10_missing_root_and_files(tmp_path) -> None:
    with pytest.raises(DataError, match="set data.root"):
        load_dataset("cifar10")
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="missing data_batch_1"):
        load_dataset("cifar10", root=str(tmp_path / "c"))


# ---------------------------------------------------------------------------------------
# Image folders


def _png(path: Path, array: np.ndarray, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def test_folder_with_class_subfolders_resizes_and_labels(tmp_path) -> None:
    # 40x80 RGB: left half black, right half white; fit() to 32x32 keeps the central 40x40.
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 40:] = 255
    _png(tmp_path / "cats" / "a.png", img)
    _png(tmp_path / "dogs" / "b.jpg", np.full((50, 50, 3), 128, np.uint8), fmt="JPEG")
    _png(tmp_path / "dogs" / "c.png", np.full((64, 64, 3), 255, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    d = load_dataset("folder-32", root=str(tmp_path))
    assert d.train.x.shape == (3, 3, 32, 32) and d.num_classes == 2
    assert d.train.y.tolist() == [0, 1, 1]
    a = d.train.x[0, 0]
    assert a[:, :12].max() < 0.05 and a[:, 20:].min() > 0.95  # black left, white right of the crop
    assert abs(float(d.train.x[1].mean()) - 128 / 255) < 0.02  # JPEG grey stays grey
    assert d.test.x is d.train.x  # a plain folder has no held-out images


def test_folder_grayscale_and_split_folders(tmp_path) -> None:
    for part, n in (("train", 3), ("test", 2)):
        for i in range(n):
            _png(tmp_path / part / f"{i}.png", np.full((28, 28), 10 * i, np.uint8))
    d = load_dataset("folder-28", root=str(tmp_path))
    assert d.train.x.shape == (3, 1, 28, 28) and d.test.x.shape == (2, 1, 28, 28) and d.num_classes == 0
    assert d.valid.x is d.train.x
    assert d.test.x[1].max() == pytest.approx(10 / 255)


def test_folder_bad_files_name_the_file(tmp_path) -> None:
    _png(tmp_path / "ok.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match="broken.png: not a readable PNG/JPEG"):
        load_dataset("folder", root=str(tmp_path))


def test_folder_truncated_png_is_caught(tmp_path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError, match="cut.png"):
        load_dataset("folder", root=str(tmp_path))


def test_folder_empty_and_missing(tmp_path) -> None:
    with pytest.raises(DataError, match="no PNG/JPEG images"):
        load_dataset("folder", root=str(tmp_path))
    with pytest.raises(DataError, match="not a directory"):
        load_dataset("folder", root=str(tmp_path / "nope"))
    with pytest.raises(DataError, match="set data.root"):
        load_dataset("folder")
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("folder-33", root=str(tmp_path))
