"""pix2pix: paired data, U-Net skips, PatchGAN receptive fields, the L1 term in Algorithm 1's
generator step, and ``gankit translate``."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli.main import main
from gankit.data.batches import MinibatchSource
from gankit.data.paired import AlignedAugment, load_pix2pix_folder, oriented
from gankit.errors import DataError
from gankit.nets.pix2pix import PatchDiscriminator, UNetGenerator
from gankit.objectives.reconstruction import with_l1
from gankit.objectives.value import non_saturating_generator_loss
from gankit.objectives.base import build_objective
from gankit.training.algorithm1 import generator_step
from gankit.training.optim import Schedule
from gankit.config import ScheduleConfig, OptimizerConfig
from gankit.training.noise import NoiseSampler
from gankit.training.state import PairedMinibatches, TrainState


# ---------------------------------------------------------------------------------------
# U-Net


def _footprint_ratio(skips: bool, seed: int) -> float:
    """Perturb one cell of the first encoder feature map (14x14 of a 28x28 input) and return
    mean |output change| inside the transposed convolution's footprint of that cell divided
    by the mean change elsewhere."""
    torch.manual_seed(seed)
    G = UNetGenerator([1, 28, 28], [1, 28, 28], base=8, skips=skips, dropout=0.0).eval()
    a = torch.rand(2, 1, 28, 28)
    i, j = 7, 7

    def bump(module, inputs, output):
        output = output.clone()
        output[:, :, i, j] += 3.0
        return output

    with torch.no_grad():
        base = G(None, a)
        handle = G.down[0].register_forward_hook(bump)
        changed = G(None, a)
        handle.remove()
    delta = (changed - base).abs()[:, 0]
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[2 * i - 1 : 2 * i + 3, 2 * j - 1 : 2 * j + 3] = True  # ConvTranspose2d(4, 2, 1) of cell (i, j)
    return float(delta[:, inside].mean() / delta[:, ~inside].mean().clamp_min(1e-12))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unet_skips_carry_encoder_features_to_their_place(seed):
    # With skips the first encoder map reaches the last decoder layer directly: its change
    # shows up where that cell lies; without, it only passes the 1x1 bottleneck and spreads.
    with_skips, without = _footprint_ratio(True, seed), _footprint_ratio(False, seed)
    assert with_skips > 5.0
    assert without < 2.0


def test_unet_dropout_is_the_noise_at_test_time():
    torch.manual_seed(0)
    a = torch.rand(4, 1, 28, 28)
    G = UNetGenerator([1, 28, 28], [1, 28, 28], base=8).eval()
    assert not torch.equal(G(None, a), G(None, a))
    G = UNetGenerator([1, 28, 28], [1, 28, 28], base=8, test_dropout=False).eval()
    assert torch.equal(G(None, a), G(None, a))
    assert torch.equal(G(torch.randn(4, 1), a), G(torch.randn(4, 1), a))  # z is ignored


def test_unet_can_normalise_by_the_test_batch_as_the_paper_and_keeps_its_running_averages():
    torch.manual_seed(0)
    G = UNetGenerator([1, 28, 28], [1, 28, 28], base=8, dropout=0.0, test_batch_stats=True)
    with torch.no_grad():
        G(None, torch.rand(16, 1, 28, 28) * 3)  # training moves the running averages away from (0, 1)
    running = {k: v.clone() for k, v in G.state_dict().items() if "running" in k}
    a = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        in_train_mode = copy.deepcopy(G)(None, a)  # normalised by this batch's statistics
        G.eval()
        whole, part = G(None, a), G(None, a[:3])
    assert torch.allclose(whole, in_train_mode, atol=1e-6)
    assert (whole[:3] - part).abs().max() > 1e-3  # an output depends on the batch it is translated in
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in running.items())

    G_running = UNetGenerator([1, 28, 28], [1, 28, 28], base=8, dropout=0.0)  # running averages (the default)
    G_running.load_state_dict(G.state_dict())  # the same checkpoint loads either way
    G_running.eval()
    with torch.no_grad():
        whole, part = G_running(None, a), G_running(None, a[:3])
    assert torch.allclose(whole[:3], part, atol=1e-6)  # running averages: each output on its own
    assert (whole - in_train_mode).abs().max() > 1e-3


@pytest.mark.parametrize("side", [28, 32, 64])
def test_unet_sizes(side):
    G = UNetGenerator([3, side, side], [1, side, side], base=4).eval()
    assert G(None, torch.rand(2, 1, side, side)).shape == (2, 3, side, side)


# ---------------------------------------------------------------------------------------
# PatchGAN


@pytest.mark.parametrize("patch,side", [(1, 20), (7, 24), (16, 32), (34, 48), (70, 96)])
def test_patchgan_receptive_field_is_its_patch(patch, side):
    torch.manual_seed(0)
    D = PatchDiscriminator([1, side, side], [1, side, side], patch=patch, base=4).eval()
    x = torch.rand(1, 1, side, side, requires_grad=True)
    y = torch.rand(1, 1, side, side, requires_grad=True)
    cells = D.cells(x, y)
    h, w = cells.shape[2:]
    assert D(x, y).shape == (h * w,) and D.logits_per_example == h * w
    cells[0, 0, h // 2, w // 2].backward()
    touched = (x.grad.abs() + y.grad.abs())[0, 0] > 0
    rows, cols = touched.any(1).nonzero().flatten(), touched.any(0).nonzero().flatten()
    assert int(rows[-1] - rows[0] + 1) == patch and int(cols[-1] - cols[0] + 1) == patch
    assert int(touched.sum()) == patch * patch  # every pixel inside the patch counts
    assert 0 < int(rows[0]) and int(rows[-1]) < side - 1  # the cell's window lies inside the image


def test_imagegan_sees_the_whole_image():
    D = PatchDiscriminator([1, 28, 28], [1, 28, 28], patch="image", base=4).eval()
    x = torch.rand(1, 1, 28, 28, requires_grad=True)
    D(x, torch.rand(1, 1, 28, 28)).sum().backward()
    assert D.logits_per_example == 1 and bool((x.grad != 0).all())


def test_unconditional_patchgan_ignores_the_input():
    D = PatchDiscriminator([1, 28, 28], [1, 28, 28], patch=16, base=4, conditional=False).eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(D(x, torch.rand(2, 1, 28, 28)), D(x, torch.rand(2, 1, 28, 28)))


# ---------------------------------------------------------------------------------------
# Paired data


def test_augmentation_keeps_pairs_aligned_and_resumes_exactly():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(40, 1, 12, 12, generator=g)
    b = torch.cat([1 - a, a.pow(2)], 1)  # a pixelwise function of a: aligned iff it still holds
    src = AlignedAugment(a, b, batch_size=8, seed=3, flip=True, jitter=3)
    moved = 0
    for _ in range(12):
        x, y = src.next()
        assert torch.allclose(y, torch.cat([1 - x, x.pow(2)], 1))
        idx = src.order[src.position - 8 : src.position]
        moved += int((x != a[idx]).flatten(1).any(1).sum())
    assert moved > 48  # the augmentation does change most images
    saved = copy.deepcopy(src.state_dict())
    expected = src.next()
    src.next()
    src.load_state_dict(saved)
    got = src.next()
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def _write_pairs(folder, n, side, seed, rgb=False):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    pairs = []
    for i in range(n):
        shape = (side, side, 3) if rgb else (side, side)
        a, b = rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / f"{i:03d}.png")
        pairs.append((a, b))
    return pairs


def test_pix2pix_folder_format(tmp_path):
    train = _write_pairs(tmp_path / "train", 3, 28, 0)
    test = _write_pairs(tmp_path / "test", 2, 28, 1)
    data = load_pix2pix_folder(tmp_path, 28)
    assert data.image_shape == (1, 28, 28) and data.condition_shape == (1, 28, 28)
    for split, pairs in ((data.train, train), (data.test, test)):
        for k, (a, b) in enumerate(pairs):
            assert torch.equal(split.a[k, 0], torch.from_numpy(a).float() / 255)
            assert torch.equal(split.x[k, 0], torch.from_numpy(b).float() / 255)
    assert data.valid.x is data.train.x  # no val/: the training pairs stand in, as documented
    flipped = oriented(data, "BtoA")
    assert torch.equal(flipped.test.a, data.test.x) and torch.equal(flipped.test.x, data.test.a)


def test_pix2pix_folder_bad_files(tmp_path):
    (tmp_path / "train").mkdir()
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(tmp_path / "train" / "odd.png")
    with pytest.raises(DataError, match="odd.png.*even width"):
        load_pix2pix_folder(tmp_path, 28)
    with pytest.raises(DataError, match="no train/"):
        load_pix2pix_folder(tmp_path / "train", 28)


# ---------------------------------------------------------------------------------------
# The L1 term in the generator step


def _tiny_state(l1: float) -> TrainState:
    torch.manual_seed(0)
    G = UNetGenerator([1, 8, 8], [1, 8, 8], base=4, norm="none", dropout=0.0)
    D = PatchDiscriminator([1, 8, 8], [1, 8, 8], patch=7, base=4, norm="none")
    g = torch.Generator().manual_seed(1)
    a = torch.rand(16, 1, 8, 8, generator=g) * 2 - 1
    b = torch.rand(16, 1, 8, 8, generator=g) * 2 - 1
    noise = NoiseSampler(1, "gaussian", 1.0, 0, seed=2)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 2e-4), torch.optim.Adam(D.parameters(), 2e-4)
    cfg = OptimizerConfig()
    schedule = Schedule(ScheduleConfig(), {"g": opt_g, "d": opt_d}, {"g": cfg, "d": cfg})
    objective = with_l1(build_objective("non-saturating"), l1)
    return TrainState(G, D, opt_g, opt_d, objective, MinibatchSource(b, a, 4, seed=3), noise, schedule,
                      conditions=PairedMinibatches(noise, MinibatchSource(a, b, 4, seed=4)))


@pytest.mark.parametrize("lam", [0.0, 100.0])
def test_generator_step_is_cgan_loss_plus_lambda_l1(lam):
    s = _tiny_state(lam)
    assert (s.objective.reconstruction is None) == (lam == 0)
    saved_noise, saved_cond = copy.deepcopy(s.noise.state_dict()), copy.deepcopy(s.conditions.state_dict())
    with torch.no_grad():  # the expected loss, computed by hand from the same draws
        z, c = s.conditions.sample(4)
        fake = s.G(z, c.y)
        expected = non_saturating_generator_loss(s.D(fake, c.y)) + lam * (fake - c.target).abs().mean()
    s.noise.load_state_dict(saved_noise)
    s.conditions.load_state_dict(saved_cond)
    loss, _ = generator_step(s, 4)
    assert torch.allclose(loss, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------
# Training on folder data and `gankit translate`


def _folder_args(root, steps):
    return ["train", "pix2pix-edges-fashion", "data.name=pix2pix-folder-28", f"data.root={root}", "data.batch_size=4",
            "data.flip=true", "data.jitter=2", "generator.args.base=4", "discriminator.args.base=4", f"train.steps={steps}",
            "log.tensorboard=false", "log.checkpoint_every=2", "--no-progress"]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    _write_pairs(root / "train", 8, 28, 0)
    _write_pairs(root / "test", 4, 28, 1)
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(_folder_args(root, 2) + ["--out", str(out)]) == 0
    grid = np.asarray(Image.open(out / "samples" / "final.png"))
    assert grid.shape[:2] == (2 + 3 * 30, 2 + 9 * 30)  # 8 training pairs: rows of three input | output | target triplets
    return out, root


def test_resumed_pix2pix_run_matches_an_uninterrupted_one(folder_run, tmp_path):
    from gankit.training import checkpoint as ckpt
    from gankit.training.resume import CHECKPOINTS

    _, root = folder_run
    assert main(_folder_args(root, 4) + ["--out", str(tmp_path / "straight")]) == 0
    assert main(_folder_args(root, 2) + ["--out", str(tmp_path / "resumed")]) == 0
    assert main(_folder_args(root, 4) + ["--out", str(tmp_path / "resumed")]) == 0
    a, b = (ckpt.load(ckpt.list_checkpoints(tmp_path / d / CHECKPOINTS)[-1]) for d in ("straight", "resumed"))
    assert a["step"] == b["step"] == 4
    for net in ("G", "D"):
        for k, v in a[net].items():
            assert torch.equal(v, b[net][k]), (net, k)


def test_weight_average_of_a_translator_recomputes_batch_norm_on_its_training_inputs(folder_run, tmp_path):
    from gankit.data.paired import load_pix2pix_folder
    from gankit.training.generator import load_generator

    _, root = folder_run
    run = tmp_path / "ema"
    assert main(_folder_args(root, 2) + ["train.ema_decay=0.9", "--out", str(run)]) == 0
    G, cfg, _, _ = load_generator(run)  # the average: its batch norm is recomputed
    bn = next(m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    probe = copy.deepcopy(G).train()
    next(m for m in probe.modules() if isinstance(m, torch.nn.BatchNorm2d)).register_forward_hook(
        lambda m, inp, out: seen.append(inp[0]))
    a = load_pix2pix_folder(root, 28).train.a  # the 8 training inputs, in [0, 1]
    with torch.no_grad():
        probe(torch.zeros(a.shape[0], cfg.noise.dim), a * 2 - 1)  # pixel_range symmetric
    torch.testing.assert_close(bn.running_mean, seen[0].mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    raw, _, _, _ = load_generator(run, weights="raw")  # the live G keeps its own statistics
    assert not torch.allclose(next(m for m in raw.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_mean,
                              bn.running_mean)


def test_translate_round_trips_a_folder(folder_run, tmp_path):
    from gankit.training.generator import load_generator
    from gankit.training.translation import translate

    run, root = folder_run
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(5)
    arrays = {f"x{i}.png": rng.integers(0, 256, (28, 28), dtype=np.uint8) for i in range(3)}
    for name, arr in arrays.items():
        Image.fromarray(arr).save(inputs / name)
    assert main(["translate", str(run), "--input", str(inputs), "--out", str(tmp_path / "out"), "--seed", "7"]) == 0
    G, cfg, _, _ = load_generator(run)
    torch.manual_seed(7)
    a = torch.stack([torch.from_numpy(arrays[n]).float().div(255)[None] for n in sorted(arrays)])
    want = translate(G, a, cfg.data.pixel_range)
    for k, name in enumerate(sorted(arrays)):
        got = np.asarray(Image.open(tmp_path / "out" / name), dtype=np.float32) / 255
        assert got.shape == (28, 28)
        assert np.abs(got - want[k, 0].numpy()).max() <= 0.5 / 255 + 1e-6

    np.save(tmp_path / "in.npy", a.numpy())
    assert main(["translate", str(run), "--input", str(tmp_path / "in.npy"), "--out", str(tmp_path / "out.npy")]) == 0
    assert np.load(tmp_path / "out.npy").shape == (3, 1, 28, 28)
    assert main(["translate", str(run), "--input", str(inputs), "--out", str(tmp_path / "dry"), "--dry-run"]) == 0
    assert not (tmp_path / "dry").exists()


@pytest.mark.parametrize("make,message", [
    (lambda p: Image.fromarray(np.zeros((32, 32), np.uint8)).save(p / "big.png"), "big.png: 32x32 pixels; this run translates 28x28"),
    (lambda p: Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(p / "rgb.png"), "rgb.png: RGB image; this run translates grayscale"),
    (lambda p: np.save(p / "bad.npy", np.zeros((2, 3, 28, 28), np.float32)), r"bad.npy: array of shape \[2, 3, 28, 28\]"),
    (lambda p: np.save(p / "range.npy", np.full((2, 1, 28, 28), 3.0, np.float32)), "range.npy: pixel values must"),
])
def test_translate_bad_inputs_give_one_line(folder_run, tmp_path, capsys, make, message):
    run, _ = folder_run
    make(tmp_path)
    src = next(p for p in tmp_path.iterdir())
    out = tmp_path / ("o.npy" if src.suffix == ".npy" else "o")
    assert main(["translate", str(run), "--input", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert __import__("re").search(message, err)


# ---------------------------------------------------------------------------------------
# The reproduction


@pytest.mark.parametrize("full", [False, True])
def test_reproduce_pix2pix_dry_run(tmp_path, full):
    import json

    out = tmp_path / "r"
    assert main(["reproduce", "pix2pix", "--dry-run", "--out", str(out)] + (["--full"] if full else [])) == 0
    res = json.loads((out / "result.json").read_text())
    # the first 1,000 test pairs by default, all 10,000 under --full (the dry run scores 2% of them)
    assert res["settings"]["metrics"] == (["fid10k", "l1_10k", "class_acc10k"] if full else ["fid1k", "l1_1k", "class_acc1k"])
    assert res["settings"]["pairs"] == (200 if full else 20)
    for key in ("fid_l1", "fid_cgan", "fid_l1_cgan", "l1_error_l1_cgan", "class_acc_l1_cgan", "class_acc_real", "wall_seconds",
                "fid_l1_cgan_lambda10", "class_acc_l1_cgan_lambda10"):
        assert isinstance(res[key], float), key
    assert 0 <= res["class_acc_l1_cgan"] <= 1 and res["l1_error_l1_cgan"] >= 0
    assert res["settings"]["dry_run"] is True and len(res["settings"]["runs"]) == 5
    picture = np.asarray(Image.open(out / "pix2pix.png"))
    assert picture.shape[1] == 2 + 6 * 30  # six 28-pixel columns with 2-pixel gaps: input, four outputs, target


@pytest.mark.parametrize("command", [["sample", "--out", "x.png"], ["interpolate", "--out", "x.png"]])
def test_noise_only_commands_refuse_a_translator(folder_run, tmp_path, capsys, command):
    run, _ = folder_run
    args = [command[0], str(run), command[1], str(tmp_path / command[2])]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gankit translate" in err


# ---------------------------------------------------------------------------------------
# Translation metrics at 1,000 and 10,000 pairs


def test_translation_metrics_score_output_i_against_target_i_over_their_count():
    from gankit.data.datasets import Dataset, Split
    from gankit.metrics.classifier import predict
    from gankit.metrics.registry import evaluate
    from gankit.metrics.translation import translation_context
    from gankit.nets.classifier import load_classifier

    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 1, 28, 28, generator=g)
    model, _ = load_classifier("fashion-mnist", None)
    y = predict(model, x)  # the classifier's own labels: its accuracy on the real targets is 1
    split = Split(x, y, a=x.clone())
    data = Dataset("edges2fashion", split, split, split, num_classes=10)
    names = ["l1_1k", "l1_10k", "class_acc1k", "class_acc10k"]
    # scale 0.001: the "1k" metrics score the first pair, the "10k" ones the first ten
    same = evaluate(names, translation_context(data, lambda a: a, scale=0.001))
    assert same["l1_1k"] == 0 and same["l1_10k"] == 0
    assert same["class_acc1k"] == same["class_acc10k"] == same["class_acc10k_real"] == 1.0
    flipped = evaluate(names, translation_context(data, lambda a: 1 - a, scale=0.001))
    assert flipped["l1_1k"] == pytest.approx(float((1 - 2 * x[0].double()).abs().mean()))
    assert flipped["l1_10k"] == pytest.approx(float((1 - 2 * x[:10].double()).abs().mean()))
    want = float((predict(model, 1 - x[:10]) == y[:10]).double().mean())
    assert flipped["class_acc10k"] == pytest.approx(want) and flipped["class_acc10k_real"] == 1.0
