"""Toy 2-D reproduction: the contract on a dry run, and a short training run that spreads G."""
import json

import torch

from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.data.toy import toy_spec
from gankit.reproduce import Options, get_reproduction, run
from gankit.reproduce.runner import mean_se
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state, generate
from gankit.training.generator import sample_noise

KEYS = ["ring_modes_mean", "ring_hq_mean", "ring_rkl_mean", "ring_full_seeds",
        "grid_modes_mean", "grid_hq_mean", "grid_rkl_mean", "grid_full_seeds"]


def test_dry_run_writes_the_contract(tmp_path):
    run(get_reproduction("toy2d"), tmp_path, Options(dry_run=True))
    saved = json.loads((tmp_path / "result.json").read_text())
    assert all(k in saved for k in KEYS)
    assert 0 <= saved["ring_modes_mean"] <= 8 and 0 <= saved["grid_modes_mean"] <= 25
    assert saved["summary"]["gan-pacgan-arch"]["grid"]["seeds"] == 1
    assert (tmp_path / "samples.png").stat().st_size > 1000
    assert (tmp_path / "runs" / "gankit-default" / "ring8" / "seed-0" / "metrics.jsonl").exists()
    report = (tmp_path / "report.md").read_text()
    assert "6.3 ± 0.5" in report and "Dry run" in report


def test_mean_and_standard_error():
    m, se = mean_se([1.0, 2.0, 3.0, 6.0])
    assert m == 3.0
    assert abs(se - (14 / 3) ** 0.5 / 2) < 1e-12  # sample std (ddof 1) / sqrt(n)
    assert mean_se([0.1, float("inf")])[0] == float("inf")


def test_short_training_moves_samples_towards_the_ring():
    torch.manual_seed(0)
    cfg = load_config("toy-ring8", ["train.steps=300"])
    spec = toy_spec("ring8")
    state, ctx = build_state(cfg, load_dataset("ring8"))

    def radius_error():
        x = spec.to_physical(generate(state.G, 1000, sample_noise(cfg, ctx, 3), cfg.data.pixel_range))
        return (x.norm(dim=1) - 1).abs().mean().item()

    before = radius_error()
    algorithm1(state, 300)
    after = radius_error()
    assert before > 0.5  # an untrained G puts its samples near the centre
    assert after < 0.5 * before
