"""The reproduce contract for dcgan-mnist and cgan-mnist, on their --dry-run paths."""
from __future__ import annotations

import json

import pytest
import torch

from gankit.errors import GankitError
from gankit.evaluation import DryRunFeatures
from gankit.reproduce import Options, get_reproduction, run


@pytest.fixture
def one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs on shared cores: one thread is faster
    yield
    torch.set_num_threads(prev)


def test_dcgan_mnist_dry_run_writes_result_and_report(tmp_path, one_thread, capsys) -> None:
    result = run(get_reproduction("dcgan-mnist"), tmp_path, Options(dry_run=True, seed=1))
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["reproduction"] == "dcgan-mnist" and saved["settings"]["dry_run"] is True
    assert saved["fid10k"] > 0 and saved["settings"]["fid_extractor"] == DryRunFeatures.name
    assert 0 <= saved["class_kl"] <= 2.31  # KL from uniform over 10 classes is at most log 10
    assert saved["settings"]["steps"] == 12 and "torch" in saved["versions"]
    assert saved["settings"]["preset"] == "dcgan-mnist" and saved["settings"]["overrides"][0] == "seed=1"
    report = (tmp_path / "report.md").read_text()
    assert "Dry run" in report and "6.8 ± 0.5" in report
    assert "fid10k" in capsys.readouterr().out
    assert (tmp_path / "train" / "checkpoints").is_dir()


def test_missing_metric_fails_before_training(tmp_path) -> None:
    from dataclasses import replace

    broken = replace(get_reproduction("cgan-mnist"), metrics=("no_such_metric",))
    with pytest.raises(GankitError, match="unknown metric 'no_such_metric'"):
        run(broken, tmp_path, Options(dry_run=True))
    assert not (tmp_path / "train").exists()


def test_cgan_mnist_dry_run(tmp_path, one_thread) -> None:
    run(get_reproduction("cgan-mnist"), tmp_path, Options(dry_run=True))
    result = json.loads((tmp_path / "result.json").read_text())
    assert 0.0 <= result["label_accuracy"] <= 1.0 and result["settings"]["samples"] == 200
    # the cGAN's own recipe: the preset's width-32 nets without dcgan-mnist's FC layers
    cfg = json.loads(json.dumps(__import__("yaml").safe_load((tmp_path / "train" / "config.yaml").read_text())))
    assert cfg["generator"]["args"]["width"] == 32 and "hidden" not in cfg["discriminator"]["args"]


def test_eval_passes_labels_to_conditional_metrics(tmp_path, one_thread, capsys) -> None:
    """A registered metric sees sample_labels for a conditional run and gets the asked labels' images."""
    from gankit.cli.main import main
    from gankit.metrics.registry import METRICS, register_metric

    seen = {}

    @register_metric("test_e7_labels", "test only")
    def _probe(ctx):
        labels = torch.tensor([1, 2, 3])
        x = ctx.sample_labels(labels)
        seen["shape"] = tuple(x.shape)
        return {"test_e7_labels": float(x.min() >= 0 and x.max() <= 1)}

    try:
        assert main(["train", "cgan-mnist", "data.limit=64", "data.batch_size=16", "train.steps=1", "generator.args.width=4",
                     "discriminator.args.width=4", "log.tensorboard=false", "--out", str(tmp_path / "r"), "--no-progress"]) == 0
        capsys.readouterr()
        assert main(["eval", str(tmp_path / "r"), "--metric", "test_e7_labels"]) == 0
    finally:
        METRICS.remove("test_e7_labels")
    assert json.loads(capsys.readouterr().out) == {"test_e7_labels": 1.0, "step": 1, "dry_run": False, "weights": "average"} and seen["shape"] == (3, 1, 28, 28)


def test_recalibrate_batchnorm_replaces_stale_statistics() -> None:
    """The averaged G's copied running statistics (here: a stale 5.0) give way to the
    cumulative average of its own batch statistics; momentum and eval mode come back."""
    from torch import nn

    from gankit.nets.dcgan import DCGANGenerator
    from gankit.training.ema import recalibrate_batchnorm
    from gankit.training.noise import NoiseSampler

    torch.manual_seed(0)
    G = DCGANGenerator(noise_dim=8, image_shape=(1, 16, 16), width=4).train()  # 4x4 -> 8 -> 16: two BN layers
    bn1 = G.project[1]
    bn1.running_mean.fill_(5.0)
    assert recalibrate_batchnorm(G, NoiseSampler(8, "gaussian", 1.0, 0, seed=3), n=400, batch=200) == 2
    assert not G.training and bn1.momentum == 0.1
    z, _ = NoiseSampler(8, "gaussian", 1.0, 0, seed=3).sample(400)
    with torch.no_grad():
        h = G.project[0](z)  # the first BN's input: two batches of 200, averaged equally
    torch.testing.assert_close(bn1.running_mean, h.mean(0), rtol=1e-4, atol=1e-5)
    assert int(bn1.num_batches_tracked) == 2
    assert recalibrate_batchnorm(nn.Linear(2, 2), NoiseSampler(2, "gaussian", 1.0, 0, seed=0)) == 0


def test_dcgan_fashion_mnist_dry_run(tmp_path, one_thread) -> None:
    run(get_reproduction("dcgan-fashion-mnist"), tmp_path, Options(dry_run=True))
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["reproduction"] == "dcgan-fashion-mnist" and saved["fid10k"] > 0 and "class_kl" not in saved
    assert saved["settings"]["preset"] == "dcgan-fashion-mnist" and saved["settings"]["dry_run"] is True
    assert (tmp_path / "report.html").is_file()
