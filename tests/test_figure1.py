"""Figure 1 reproduction: the contract (files, keys), resumable run directories, and that
training moves p_g towards p_data."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli.main import main
from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.reproduce.figure1 import state_fns, stop_steps
from gankit.theory.oned import snapshot_1d
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state


def test_dry_run_writes_frames_gif_curves_and_result(tmp_path):
    out = tmp_path / "r"
    assert main(["reproduce", "figure1", "--dry-run", "--out", str(out)]) == 0
    saved = json.loads((out / "result.json").read_text())
    for key in ("jsd_final", "d_dev_99", "c_of_g_final", "optimal_d", "targets", "settings", "versions", "wall_seconds"):
        assert key in saved
    assert 0 <= saved["jsd_final"] <= np.log(2) + 1e-9
    assert saved["optimal_d"]["k"] == 10 and saved["optimal_d"]["steps"] == 12
    for variant in ("algorithm1", "optimal_d"):
        run_dir = out / "runs" / variant / "seed-0"
        frames = sorted((run_dir / "frames").glob("*.png"))
        # the dry run's 12 steps: frames at the steps stop_steps gives, step 0 included
        assert [int(f.stem.split("-")[1]) for f in frames] == stop_steps(12, 4) == [0, 2, 4, 8, 12]
        with Image.open(run_dir / "figure1.gif") as gif:
            assert gif.n_frames == len(frames)
        assert (run_dir / "curves.png").stat().st_size > 1000
        curves = json.loads((run_dir / "curves.json").read_text())
        assert curves["step"] == [0, 2, 4, 8, 12]
        assert (run_dir / "config.yaml").is_file() and (run_dir / "checkpoints").is_dir()  # a gankit train directory
    with Image.open(out / "figure1.gif") as gif:
        assert gif.n_frames == 5
    # Theorem 1 on the trained model's own p_g: C(G) = -log 4 + 2 JSD
    assert saved["c_of_g_final"] == pytest.approx(-np.log(4) + 2 * saved["jsd_final"], abs=1e-9)
    assert saved["optimal_d"]["c_of_g_final"] == pytest.approx(-np.log(4) + 2 * saved["optimal_d"]["jsd_final"], abs=1e-9)
    assert "Dry run" in (out / "report.md").read_text()
    # the same command again resumes the finished runs: same figures, nothing trained twice
    assert main(["reproduce", "figure1", "--dry-run", "--out", str(out)]) == 0
    again = json.loads((out / "result.json").read_text())
    assert again["jsd_final"] == saved["jsd_final"] and again["optimal_d"] == saved["optimal_d"]


def test_the_first_frame_is_the_untrained_model():
    # step 0's frame is drawn after training has started, from the nets build_state makes:
    # JSD of a freshly built state must equal what the frame callback measures there
    from gankit.reproduce.figure1 import Frames

    cfg = load_config("figure1", ["train.steps=2"])
    data = load_dataset("gauss1d", limit=500)
    state, _ = build_state(cfg, data)
    want = snapshot_1d(*state_fns(state, cfg.data.pixel_range), 0.4, 0.12, (-1, 1), (-3, 3), bins=3000).jsd
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        frames = Frames(cfg, data, Path(d), "t", 2)
        algorithm1(state, 1, [state.ema])  # the nets move before the callback first runs
        frames._initial()
        assert frames.rows[0]["step"] == 0 and frames.rows[0]["jsd"] == pytest.approx(want, abs=1e-12)


def test_a_few_hundred_steps_pull_p_g_onto_p_data():
    torch.manual_seed(0)
    cfg = load_config("figure1", ["train.steps=300", "schedule.lr_decay=1.0"])
    state, _ = build_state(cfg, load_dataset("gauss1d"))
    g, d = state_fns(state, cfg.data.pixel_range)
    snap = lambda: snapshot_1d(g, d, 0.4, 0.12, (-1, 1), (-3, 3), bins=1500, n_z=20001)  # noqa: E731
    before = snap()
    assert before.jsd > 0.5  # G starts near 0, p_data sits at 0.4 +- 0.12: little overlap
    # the preset measures p_g on the average of G's weights: keep it updated as training does
    algorithm1(state, 300, [state.ema] if state.ema is not None else [])
    after = snap()
    # a G that does not learn stays at ~0.66
    assert after.jsd < 0.5
    assert after.jsd < before.jsd - 0.15
