"""End-to-end smoke runs of every core command through the real code path (tiny data)."""
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from gankit.cli.main import build_parser, main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["train", "goodfellow2014", "--dry-run", "--no-progress", "--out", str(out)]) == 0
    return out


def test_train_writes_a_complete_run_directory(run_dir):
    for name in ("config.yaml", "run.json", "metrics.jsonl", "samples/final.png"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").iterdir())
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 12 and {"loss_d", "loss_g", "d_real", "d_fake"} <= set(rows[-1])
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["seed"] == 0 and "torch" in meta["versions"]


def test_sample_png_and_npy(run_dir, tmp_path):
    assert main(["sample", str(run_dir), "--n", "16", "--out", str(tmp_path / "g.png")]) == 0
    img = Image.open(tmp_path / "g.png")
    assert img.size == (2 + 4 * 30, 2 + 4 * 30)  # 4x4 grid of 28px digits with 2px gaps
    assert main(["sample", str(run_dir), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    arr = np.load(tmp_path / "s.npy")
    assert arr.shape == (5, 1, 28, 28) and 0 <= arr.min() and arr.max() <= 1


def test_eval_parzen(run_dir, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["eval", str(run_dir), "--metric", "parzen10k", "--dry-run", "--out", str(out)]) == 0
    figs = json.loads(out.read_text())
    assert np.isfinite(figs["parzen10k_mean"]) and figs["parzen10k_se"] > 0 and figs["step"] == 12


def test_reproduce_goodfellow2014_dry_run(tmp_path, capsys):
    assert main(["reproduce", "goodfellow2014", "--dry-run", "--out", str(tmp_path / "r")]) == 0
    res = json.loads((tmp_path / "r" / "result.json").read_text())
    for key in ("parzen10k_mean", "parzen10k_se", "train_reference_mean", "wall_seconds", "settings"):
        assert key in res
    assert res["settings"]["dry_run"] is True
    printed = capsys.readouterr().out
    assert "Adversarial nets" in printed and "225" in printed
    assert "Table 1" in (tmp_path / "r" / "report.md").read_text()
    page = (tmp_path / "r" / "report.html").read_text()
    assert "Adversarial nets" in page and "225 ± 2" in page


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")]) == 2
    assert "missing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["sample", "x", "--n", "0", "--out", "y.png"])
    assert e.value.code == 2


def test_sample_png_of_point_data_is_one_line_error(tmp_path, capsys):
    run = tmp_path / "toy"
    assert main(["train", "toy-ring8", "--dry-run", "--no-progress", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "8", "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "not images" in err and len(err.strip().splitlines()) == 1
    assert main(["sample", str(run), "--n", "8", "--out", str(tmp_path / "p.npy")]) == 0
    assert np.load(tmp_path / "p.npy").shape[0] == 8


@pytest.mark.parametrize("order", ["overrides last", "overrides first", "overrides around"])
def test_train_overrides_before_or_after_options(tmp_path, order):
    out = str(tmp_path / "r")
    argv = {
        "overrides last": ["goodfellow2014-fast", "--dry-run", "--no-progress", "--out", out, "train.k=3", "seed=5"],
        "overrides first": ["goodfellow2014-fast", "train.k=3", "seed=5", "--dry-run", "--out", out, "--no-progress"],
        "overrides around": ["--dry-run", "goodfellow2014-fast", "train.k=3", "--out", out, "seed=5", "--no-progress"],
    }[order]
    assert main(["train", *argv]) == 0
    cfg = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert cfg["train"]["k"] == 3 and cfg["seed"] == 5 and cfg["train"]["steps"] == 12


def test_train_overrides_keep_their_order_across_options():
    a = build_parser().parse_args(["train", "p", "train.k=2", "--out", "d", "train.k=3", "--dry-run", "seed=1"])
    assert (a.preset, a.overrides, a.out, a.dry_run) == ("p", ["train.k=2", "train.k=3", "seed=1"], "d", True)


def test_bad_option_among_overrides_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "goodfellow2014", "--out", "d", "train.k=3", "--no-such-flag"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--no-such-flag" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as e:
        main(["train", "--out", "d"])  # no preset
    err = capsys.readouterr().err
    assert e.value.code == 2 and "preset" in err and len(err.strip().splitlines()) == 1
