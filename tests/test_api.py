"""The library API at the top level: gankit.train / load_generator / evaluate, your own
nets by import path or class, your own data as tensors, torch datasets or folders."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli.main import main
from gankit.data.convert import as_dataset
from gankit.errors import ConfigError, DataError, GankitError
from gankit.nets.registry import build_net

from tinynets import FAST, TinyG, images


def test_import_gankit_is_light_and_lists_the_calls():
    code = "import sys, gankit; assert 'torch' not in sys.modules, 'torch imported'; print(sorted(gankit.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in ("train", "load_config", "load_generator", "evaluate", "Generator", "TrainResult"):
        assert f"'{name}'" in out
    with pytest.raises(AttributeError):
        gankit.no_such_call


def test_net_by_import_path_and_clear_errors():
    G = build_net("generator", "tinynets:TinyG", {"hidden": 5}, noise_dim=3, image_shape=[1, 2, 2])
    assert isinstance(G, TinyG) and G.net[0].out_features == 5
    with pytest.raises(ConfigError, match=r"field 'generator.name': cannot import module 'no_such_pkg.nets' of 'no_such_pkg.nets:G' \(No module named 'no_such_pkg'\)"):
        build_net("generator", "no_such_pkg.nets:G", {})
    with pytest.raises(ConfigError, match=r"field 'discriminator.name': module 'tinynets' has no 'Nope'"):
        build_net("discriminator", "tinynets:Nope", {})
    with pytest.raises(ConfigError, match=r"field 'generator.name': 'tinynets:' is not an import path"):
        build_net("generator", "tinynets:", {})
    with pytest.raises(ConfigError, match=r"field 'generator.name': 'tinynets:images' returned a Tensor"):
        build_net("generator", "tinynets:images", {})


def test_cli_sees_a_net_by_import_path(tmp_path, capsys):
    out = tmp_path / "run"
    # the CLI trains a user's net named in the config, with no registration code
    assert main(["train", "goodfellow2014", "--out", str(out), "--dry-run", "--no-progress", *FAST]) == 0
    assert "tinynets:TinyG" in (out / "config.yaml").read_text()


def test_as_dataset_accepts_tensors_pairs_torch_datasets_loaders_and_folders(tmp_path):
    x = images(40)
    y = torch.arange(40) % 4
    d = as_dataset(x)
    assert torch.equal(d.train.x, x) and d.num_classes == 0 and d.image_shape == (1, 8, 8)
    d = as_dataset((x, y))
    assert torch.equal(d.train.y, y) and d.num_classes == 4
    td = torch.utils.data.TensorDataset(x, y)
    d = as_dataset(td)
    assert torch.equal(d.train.x, x) and torch.equal(d.train.y, y)
    d = as_dataset(torch.utils.data.DataLoader(td, batch_size=7))
    assert torch.equal(d.train.x, x) and torch.equal(d.train.y, y)
    assert torch.equal(as_dataset((x * 255).round().to(torch.uint8)).train.x, (x * 255).round() / 255)
    for i in range(3):
        Image.fromarray(np.full((10, 10), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    d = as_dataset(tmp_path, side=28)
    assert d.image_shape == (1, 28, 28) and len(d.train) == 3
    with pytest.raises(DataError, match=r"pixels must lie in \[0, 1\]"):
        as_dataset(x * 3)
    with pytest.raises(DataError, match="expected examples"):
        as_dataset(torch.rand(5))
    with pytest.raises(DataError, match="integer class labels"):
        as_dataset((x, torch.rand(40)))


def test_train_in_a_temporary_directory_returns_a_typed_result(tmp_path):
    r = gankit.train("goodfellow2014", data=images(), overrides=FAST, dry_run=True)
    try:
        assert isinstance(r, gankit.TrainResult) and isinstance(r.generator, gankit.Generator)
        assert r.step == 6 and (r.run_dir / "config.yaml").is_file() and r.run_dir.name.startswith("gankit-run-")
        x = r.generator.sample(10, seed=3)
        assert x.shape == (10, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1
        assert torch.equal(x, r.generator.sample(10, seed=3))
        assert not torch.equal(x, r.generator.sample(10, seed=4))
        # the same samples as `gankit sample` for the same seed
        assert main(["sample", str(r.run_dir), "--n", "10", "--seed", "3", "--out", str(tmp_path / "s.npy")]) == 0
        assert torch.equal(torch.from_numpy(np.load(tmp_path / "s.npy")), x)
        z, _ = r.generator.noise(10, seed=3)
        assert torch.equal(r.generator(z), x)
    finally:
        import shutil

        shutil.rmtree(r.run_dir)


def test_train_with_a_class_records_its_import_path(tmp_path):
    r = gankit.train("goodfellow2014", tmp_path / "run", data=images(), generator=TinyG, overrides=FAST[1:], dry_run=True)
    assert r.generator.config.generator.name == "tinynets:TinyG"
    assert isinstance(gankit.load_generator(tmp_path / "run").module, TinyG)
    with pytest.raises(ConfigError, match="pass the class"):
        gankit.train("goodfellow2014", tmp_path / "run2", data=images(), generator=TinyG(4, [1, 8, 8]), overrides=FAST[1:])


def test_dry_run_keeps_explicit_settings(tmp_path):
    r = gankit.train("goodfellow2014", tmp_path / "run", data=images(), overrides=FAST + ["train.steps=7"], dry_run=True)
    assert r.step == 7 and r.generator.config.dry_run and r.generator.config.data.limit == 500


def test_evaluate_a_tensor_needs_the_reference_data_and_says_dry_run():
    x = images(300, side=16)
    with pytest.raises(ConfigError, match="needs the reference data"):
        gankit.evaluate(x, ["fid2k"])
    figures = gankit.evaluate(x, ["fid2k"], data=x, dry_run=True)
    # the same images as samples and as reference: the Fréchet distance is 0 (to rounding)
    assert figures["dry_run"] is True and abs(figures["fid2k"]) < 1e-6
    with pytest.raises(GankitError, match="needs 40 samples, 10 were given"):  # 2% of 2,000 in a dry run
        gankit.evaluate(x[:10], ["fid2k"], data=x, dry_run=True)
