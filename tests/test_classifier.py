"""Digit-classifier metrics: histogram statistics by hand, and the metrics end to end with a
classifier trained here on a synthetic 10-class set whose answers we know."""
import math

import pytest
import torch

from gankit.cli.main import main
from gankit.data.datasets import Dataset, Split
from gankit.errors import CheckpointError, ConfigError, DataError
from gankit.metrics.classifier import class_histogram_stats
from gankit.metrics.registry import EvalContext, evaluate
from gankit.nets.classifier import (
    DigitClassifier,
    TrainReport,
    accuracy,
    asset_path,
    load_classifier,
    read_classifier,
    save_classifier,
    train_classifier,
)


def test_histogram_stats_by_hand():
    uniform = torch.arange(1000) % 10
    s = class_histogram_stats(uniform)
    assert s["covered"] == 10 and s["kl"] == pytest.approx(0, abs=1e-12)
    s = class_histogram_stats(torch.full((500,), 7))
    assert s["covered"] == 1 and s["kl"] == pytest.approx(math.log(10))
    half = torch.tensor([2] * 300 + [5] * 300 + [9] * 3)  # 9 has 0.5% < 1%: not covered
    s = class_histogram_stats(half)
    p = torch.tensor([300, 300, 3], dtype=torch.float64) / 603
    assert s["covered"] == 2
    assert s["kl"] == pytest.approx(math.log(10) + float((p * p.log()).sum()))


def bars(labels: torch.Tensor, noise: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Class c = a bright horizontal bar on rows 2c+3..2c+4, plus uniform noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(labels.shape[0], 1, 28, 28, generator=g) * noise
    for i, c in enumerate(labels.tolist()):
        x[i, 0, 2 * c + 3 : 2 * c + 5, 4:24] = 1.0
    return x


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    y = torch.arange(600) % 10
    yv = torch.arange(100) % 10
    model = train_classifier(bars(y), y, (bars(yv, seed=1), yv), epochs=1, batch_size=30, seed=0, log=lambda m: None)
    acc = accuracy(model, bars(yv, seed=2), yv)
    path = tmp_path_factory.mktemp("cls") / "bars.safetensors"
    save_classifier(model, path, TrainReport("bars", 2, 0, acc, acc, 1.0), "test")
    return path, acc


def _data():
    y = torch.arange(400) % 10
    sp = Split(bars(y, seed=3), y)
    return Dataset("mnist", sp, sp, sp, num_classes=10)


def test_training_learns_the_synthetic_classes(trained):
    _, acc = trained
    assert acc > 0.95


def test_roundtrip_and_metadata(trained):
    path, acc = trained
    model, meta = read_classifier(path)
    assert meta["dataset"] == "bars" and float(meta["test_accuracy"]) == pytest.approx(acc, abs=1e-4)
    assert len(meta["sha256"]) == 64
    y = torch.arange(50) % 10
    assert accuracy(model, bars(y, seed=5), y) > 0.9  # the trained weights, not a fresh net's
    assert accuracy(DigitClassifier().eval(), bars(y, seed=5), y) < 0.5


def test_metrics_on_collapsed_balanced_and_real_samples(trained):
    path, _ = trained
    data = _data()
    opts = {"classifier_path": str(path)}
    collapsed = EvalContext(sample=lambda n: bars(torch.full((n,), 3)), data=data, scale=0.02, options=opts)
    out = evaluate(["classes10k", "cfd10k"], collapsed)
    assert out["classes10k_covered"] == 1
    assert out["classes10k_kl"] == pytest.approx(math.log(10), abs=0.05)
    balanced = EvalContext(sample=lambda n: bars(torch.arange(n) % 10, seed=9), data=data, scale=0.02, options=opts)
    out2 = evaluate(["classes10k", "cfd10k"], balanced)
    assert out2["classes10k_covered"] == 10 and out2["classes10k_kl"] < 0.05
    assert out2["cfd10k"] < 0.1 * out["cfd10k"]  # same distribution as the test set vs one class
    real = EvalContext(sample=lambda n: data.test.x[:n], data=data, scale=0.02, options=opts)
    assert evaluate(["cfd10k"], real)["cfd10k"] == pytest.approx(0, abs=1e-4 * out2["cfd10k"] + 1e-4)


def test_conditional_accuracy_through_the_sample_labels_hook(trained):
    path, _ = trained
    data = _data()
    opts = {"classifier_path": str(path)}
    right = EvalContext(sample=lambda n: None, data=data, scale=0.02, options=opts, sample_labels=lambda y: bars(y))
    out = evaluate(["cacc10k"], right)
    assert out["cacc10k"] > 0.95 and all(out[f"cacc10k_class{c}"] > 0.8 for c in range(10))
    shifted = EvalContext(sample=lambda n: None, data=data, scale=0.02, options=opts, sample_labels=lambda y: bars((y + 1) % 10))
    assert evaluate(["cacc10k"], shifted)["cacc10k"] < 0.05
    with pytest.raises(ConfigError, match="conditional"):
        evaluate(["cacc10k"], EvalContext(sample=lambda n: None, data=data, options=opts))


def test_bad_weights_and_datasets_are_one_line_errors(tmp_path, trained):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        read_classifier(bad)
    with pytest.raises(CheckpointError, match="no such"):
        read_classifier(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="not a gankit classifier"):
        read_classifier(other)
    with pytest.raises(DataError, match="no digit classifier"):
        load_classifier("cifar10")
    data = Dataset("mnist", Split(torch.rand(4, 3, 32, 32)), Split(torch.rand(4, 3, 32, 32)), Split(torch.rand(4, 3, 32, 32)))
    with pytest.raises(DataError, match=r"\[N, 1, 28, 28\]"):
        evaluate(["classes10k"], EvalContext(sample=lambda n: torch.rand(n, 3, 32, 32), data=data, scale=0.001, options={"classifier_path": str(trained[0])}))


def test_cli_rejects_unknown_dataset(capsys):
    assert main(["classifier", "cifar10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cifar10" in err


@pytest.mark.skipif(not asset_path("mnist").is_file(), reason="MNIST classifier weights not built yet")
def test_shipped_mnist_classifier():
    from gankit.data.datasets import load_dataset

    model, meta = load_classifier("mnist")
    assert float(meta["test_accuracy"]) >= 0.99 and "gankit classifier mnist" in meta["command"]
    assert asset_path("mnist").stat().st_size < 1_000_000
    test = load_dataset("mnist").test
    assert accuracy(model, test.x[:500], test.y[:500]) >= 0.97  # re-measured here, not read back
