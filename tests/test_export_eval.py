"""Export of G alone, `gankit sample --out DIR/`, evaluation during training with a best
checkpoint, and `gankit eval` keeping its figures in the run directory."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

import gankit
from gankit.cli.main import main
from gankit.errors import ConfigError

from tinynets import FAST, images

EVAL = ["log.eval_every=2", "log.eval_metrics=[fid2k]", "log.best_metric=fid2k", "log.tensorboard=true"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("evalrun") / "run"
    with pytest.MonkeyPatch.context() as mp:  # module scope: set up before the per-test cache fixture
        mp.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        gankit.train("goodfellow2014", out, data=images(), overrides=FAST + EVAL + ["train.ema_decay=0.9", "noise.distribution=gaussian", "noise.scale=1.0"], dry_run=True)
    return out


def test_exported_generator_loads_with_plain_torch_and_matches_gankit_sample(run, tmp_path):
    g = tmp_path / "g.safetensors"
    assert main(["export", str(run), "--out", str(g)]) == 0
    # plain safetensors + the JSON in its metadata: keys are G's own, kwargs rebuild the net
    with safe_open(str(g), "pt") as f:
        meta = f.metadata()
    net, noise = json.loads(meta["net"]), json.loads(meta["noise"])
    assert net["name"] == "tinynets:TinyG" and net["kwargs"] == {"noise_dim": 8, "image_shape": [1, 8, 8]}
    from tinynets import TinyG

    G = TinyG(**net["kwargs"])
    G.load_state_dict(load_file(str(g)))  # strict: exactly G's keys, no prefixes
    G.eval()
    assert main(["sample", str(run), "--n", "6", "--seed", "5", "--out", str(tmp_path / "s.npy")]) == 0
    want = torch.from_numpy(np.load(tmp_path / "s.npy"))
    # the noise `gankit sample --seed 5` draws: a torch Generator seeded 5, N(0, scale^2)
    assert noise == {"dim": 8, "distribution": "gaussian", "scale": 1.0, "num_classes": 0}
    z = torch.randn(6, noise["dim"], generator=torch.Generator().manual_seed(5)) * noise["scale"]
    with torch.no_grad():
        assert torch.allclose(G(z), want, atol=1e-6)
    # gankit reads its own export too, and samples the same
    assert torch.equal(gankit.load_generator(g).sample(6, seed=5), want)
    assert main(["sample", str(g), "--n", "6", "--seed", "5", "--out", str(tmp_path / "s2.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "s2.npy"), want.numpy())


def test_export_rejects_other_names_and_dry_run_writes_nothing(run, tmp_path, capsys):
    assert main(["export", str(run), "--out", str(tmp_path / "g.pt")]) == 2
    assert "expected a .safetensors file name" in capsys.readouterr().err
    assert main(["export", str(run), "--out", str(tmp_path / "g.safetensors"), "--dry-run"]) == 0
    assert not (tmp_path / "g.safetensors").exists()


def test_sample_folder_writes_one_png_per_sample(run, tmp_path):
    out = tmp_path / "pngs"
    assert main(["sample", str(run), "--n", "7", "--seed", "2", "--out", f"{out}/"]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(7)]
    x = gankit.load_generator(run).sample(7, seed=2)
    pixels = np.stack([np.asarray(Image.open(f)) for f in files])
    assert np.array_equal(pixels, (x[:, 0].numpy() * 255 + 0.5).astype(np.uint8))


def test_eval_during_training_logs_fid2k_and_keeps_the_best_checkpoint(run):
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("eval")]
    assert [r["step"] for r in evals] == [2, 4, 6]
    assert all(r["dry_run"] is True and r["fid2k"] > 0 for r in evals)
    best = min(evals, key=lambda r: r["fid2k"])
    info = json.loads((run / "best.json").read_text())
    assert info["step"] == best["step"] and info["value"] == best["fid2k"] and info["direction"] == "min"
    G = gankit.load_generator(run / "best.safetensors")
    assert G.step == best["step"]
    # the best checkpoint's G scores what the log says, on the evaluation's fixed noise
    from gankit.training.evaluate import EVAL_NOISE_SEED, generator_context
    from gankit.metrics.registry import evaluate
    from gankit.data.convert import as_dataset

    data = as_dataset(images()).head(500)
    ctx = generator_context(G.module, G.config, 0, data, EVAL_NOISE_SEED, G.config.seed, True)
    assert evaluate(["fid2k"], ctx)["fid2k"] == pytest.approx(best["fid2k"], rel=1e-5)


def test_tensorboard_tags_are_grouped_and_the_last_grid_is_logged_once(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()
    assert {"Loss/D", "Loss/G", "D/real", "D/fake", "LR/D", "LR/G", "Eval/fid2k"} <= set(tags["scalars"])
    assert not {"loss_d", "d_real"} & set(tags["scalars"])
    steps = [e.step for e in acc.Images("Samples/grid")]
    assert steps == sorted(set(steps)) == [3, 6]  # every samples_every steps; the final grid (step 6) not again


def test_best_metric_must_be_a_rankable_figure(tmp_path):
    with pytest.raises(ConfigError, match=r"field 'log.best_metric': 'fid' is not a rankable figure .*rankable: fid2k"):
        gankit.train("goodfellow2014", tmp_path / "r", data=images(),
                     overrides=FAST + ["log.eval_every=2", "log.eval_metrics=[fid2k]", "log.best_metric=fid"], dry_run=True)
    with pytest.raises(ConfigError, match="log.eval_every needs log.eval_metrics"):
        gankit.load_config("goodfellow2014", ["log.eval_every=2"])
    with pytest.raises(ConfigError, match=r"field 'log.eval_metrics': Value error, unknown metric\(s\) 'nope'"):
        gankit.train("goodfellow2014", tmp_path / "r2", data=images(),
                     overrides=FAST + ["log.eval_every=2", "log.eval_metrics=[nope]"], dry_run=True)


@pytest.fixture
def tiny_dataset():
    from gankit.data.datasets import DATASETS, Dataset, Split

    x = images(300)
    DATASETS.add("tiny-images", lambda root=None, download=True: Dataset("tiny-images", Split(x), Split(x), Split(x)))
    yield "tiny-images"
    DATASETS.remove("tiny-images")


def test_gankit_eval_merges_its_figures_into_run_eval_json(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "goodfellow2014", "--dry-run", "--out", str(out), f"data.name={tiny_dataset}", *FAST]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--metric", "fid2k", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dry_run"] is True and printed["step"] == 6
    ckpt3 = out / "checkpoints" / "ckpt-00000003.safetensors"
    assert main(["eval", str(ckpt3), "--metric", "pr10k", "--dry-run"]) == 0
    assert main(["eval", str(out), "--metric", "pr10k", "--dry-run"]) == 0
    kept = json.loads((out / "eval.json").read_text())
    assert list(kept) == ["3", "6"]  # by step, each step's metrics merged
    assert set(kept["6"]) == {"fid2k", "pr10k_precision", "pr10k_recall", "dry_run"} and kept["6"]["fid2k"] == printed["fid2k"]
    assert set(kept["3"]) == {"pr10k_precision", "pr10k_recall", "dry_run"}


def test_a_run_of_in_memory_data_cannot_be_evaluated_by_name(run, capsys):
    assert main(["eval", str(run), "--metric", "fid2k", "--dry-run"]) == 2
    assert "unknown dataset 'user-data'" in capsys.readouterr().err


def test_eval_scores_the_raw_weights_or_the_average_on_request(tiny_dataset, tmp_path, capsys):
    from gankit.training import checkpoint as ckpt
    from gankit.training.generator import load_generator
    from gankit.training.resume import EMA_KEY, EXTRAS

    out = tmp_path / "run"
    assert main(["train", "goodfellow2014", "--dry-run", "--out", str(out), f"data.name={tiny_dataset}", *FAST, "train.ema_decay=0.5"]) == 0
    payload = ckpt.load(out / "checkpoints" / "ckpt-00000006.safetensors")
    raw, _, _, _ = load_generator(out, weights="raw")
    avg, _, _, _ = load_generator(out)
    for name, p in raw.state_dict().items():  # raw: the trained G's own tensors; default: the average's
        assert torch.equal(p, payload["G"][name])
        assert torch.equal(avg.state_dict()[name], payload[EXTRAS][EMA_KEY]["weights"][name])
    assert any(not torch.equal(raw.state_dict()[n], avg.state_dict()[n]) for n in raw.state_dict())
    capsys.readouterr()
    assert main(["eval", str(out), "--metric", "fid2k", "--dry-run"]) == 0
    avg_fid = json.loads(capsys.readouterr().out)["fid2k"]
    assert main(["eval", str(out), "--metric", "fid2k", "--dry-run", "--weights", "raw"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["weights"] == "raw" and printed["fid2k"] != avg_fid
    kept = json.loads((out / "eval.json").read_text())["6"]  # both kept, the raw one under its own name
    assert kept["fid2k"] == avg_fid and kept["raw_fid2k"] == printed["fid2k"]
    g = tmp_path / "g.safetensors"
    assert main(["export", str(out), "--out", str(g)]) == 0
    capsys.readouterr()
    assert main(["eval", str(g), "--metric", "fid2k", "--dry-run", "--weights", "raw"]) == 2
    assert "holds one set of weights" in capsys.readouterr().err
