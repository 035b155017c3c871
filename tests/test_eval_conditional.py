"""gankit eval wires per-class metrics to conditional models only."""
import json

from gankit.cli.main import main


def test_cacc_from_the_cli_for_conditional_runs_only(tmp_path, capsys):
    cond, plain = tmp_path / "c", tmp_path / "p"
    assert main(["train", "cgan-mnist", "--dry-run", "--no-progress", "--out", str(cond)]) == 0
    out = tmp_path / "e.json"
    assert main(["eval", str(cond), "--metric", "cacc10k", "--dry-run", "--out", str(out)]) == 0
    figs = json.loads(out.read_text())
    per_class = [figs[f"cacc10k_class{k}"] for k in range(10)]
    assert all(0.0 <= v <= 1.0 for v in per_class)
    assert abs(figs["cacc10k"] - sum(per_class) / 10) < 0.05  # the mean over (nearly equal) class counts
    assert main(["train", "goodfellow2014", "--dry-run", "--no-progress", "--out", str(plain)]) == 0
    capsys.readouterr()
    assert main(["eval", str(plain), "--metric", "cacc10k", "--dry-run"]) == 2
    assert "conditional" in capsys.readouterr().err
