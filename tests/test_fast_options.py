"""The fast training options (train.precision, train.channels_last, train.compile,
train.joint_d_batch): validated
like every key, really in effect when on, close to fp32 where they change numerics, and
exact resume still holds with them on."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.errors import ConfigError
from gankit.training import checkpoint as ckpt
from gankit.training import parallel
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state
from gankit.training.run import train


def tiny_images(n: int = 40, side: int = 28) -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, side, side, generator=g)
    return Dataset("tiny", Split(x), Split(x[:8]), Split(x[:8]))


MLP = ["data.batch_size=10", "noise.dim=8", "generator.args.hidden=[32,32]",
       "discriminator.args.units=16", "discriminator.args.pieces=2", "train.threads=1"]  # fmt: skip
CONV = ["data.batch_size=8", "noise.dim=8", "generator.args.width=8", "discriminator.args.width=8", "train.threads=1"]


@pytest.mark.parametrize(
    "override, field",
    [("train.precision=fp8", "train.precision"), ("train.channels_last=maybe", "train.channels_last"),
     ("train.compile=[1]", "train.compile"), ("train.joint_d_batch=2", "train.joint_d_batch")],
)  # fmt: skip
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        load_config("goodfellow2014", [override])


def test_defaults_are_off():
    t = load_config("goodfellow2014").train
    assert (t.precision, t.channels_last, t.compile, t.joint_d_batch) == ("fp32", False, False, False)


def _linear_output_dtypes(state) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
             for net in (state.G, state.D) for m in net.modules() if isinstance(m, nn.Linear)]  # fmt: skip
    algorithm1(state, state.step + 1)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("native, dtype", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_precision_takes_bf16_only_where_the_hardware_has_it(monkeypatch, native, dtype):
    monkeypatch.setattr(parallel, "native_bf16", lambda device: native)
    state, _ = build_state(load_config("goodfellow2014", MLP + ["train.precision=auto"]), tiny_images())
    assert set(_linear_output_dtypes(state)) == {dtype}


def test_a_run_records_the_precision_it_used_and_says_when_bf16_is_emulated(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "native_bf16", lambda device: False)
    said: list[str] = []
    for precision in ("auto", "bf16"):
        cfg = load_config("goodfellow2014", MLP + [f"train.precision={precision}", "train.steps=1"])
        train(cfg, tmp_path / precision, progress=False, say=said.append, data=tiny_images())
    assert json.loads((tmp_path / "auto" / "run.json").read_text())["precision"] == "fp32"
    assert json.loads((tmp_path / "bf16" / "run.json").read_text())["precision"] == "bf16"
    emulated = [m for m in said if "emulated" in m]
    assert len(emulated) == 1 and "train.precision=bf16" in emulated[0]


def test_bf16_runs_the_forward_passes_in_bf16_and_keeps_weights_and_losses_fp32():
    data = tiny_images()
    fp32, _ = build_state(load_config("goodfellow2014", MLP), data)
    assert set(_linear_output_dtypes(fp32)) == {torch.float32}
    bf16, _ = build_state(load_config("goodfellow2014", MLP + ["train.precision=bf16"]), data)
    assert set(_linear_output_dtypes(bf16)) == {torch.bfloat16}
    losses = []
    algorithm1(bf16, bf16.step + 1, [lambda s, st: losses.append((st.d_loss, st.g_loss))])
    assert all(t.dtype == torch.float32 for pair in losses for t in pair)
    for p in (*bf16.G.parameters(), *bf16.D.parameters()):
        assert p.dtype == torch.float32 and (p.grad is None or p.grad.dtype == torch.float32)
    for opt in (bf16.opt_g, bf16.opt_d):
        assert all(v.dtype == torch.float32 for st in opt.state.values() for v in st.values() if v.dim())


def test_bf16_stays_close_to_fp32_over_a_few_steps():
    # Same seed, same batches and noise: bf16 changes only rounding, so after a few SGD
    # steps the weights differ a little (not at all would mean the option did nothing).
    # SGD, not Adam: Adam's first steps move each weight by ~lr * sign(gradient), so a
    # rounding that flips the sign of a near-zero gradient shows up at full step size.
    # (Each state is built right before it runs: build_state seeds the global RNG dropout uses.)
    data = tiny_images()
    sgd = ["optim_g.name=sgd", "optim_d.name=sgd", "optim_g.lr=0.1", "optim_d.lr=0.1"]
    a, _ = build_state(load_config("goodfellow2014", MLP + sgd), data)
    w0 = torch.cat([p.detach().flatten().clone() for p in a.G.parameters()])
    algorithm1(a, 3)
    b, _ = build_state(load_config("goodfellow2014", MLP + sgd + ["train.precision=bf16"]), data)
    algorithm1(b, 3)
    wa = torch.cat([p.detach().flatten() for p in a.G.parameters()])
    wb = torch.cat([p.detach().flatten() for p in b.G.parameters()])
    moved = (wa - w0).norm()
    assert not torch.equal(wa, wb)
    assert (wa - wb).norm() < 0.1 * moved  # bf16's difference is small next to the update itself


def test_channels_last_keeps_conv_weights_and_batches_nhwc_and_matches_fp32():
    data = tiny_images(side=32)
    nchw, _ = build_state(load_config("dcgan-mnist", CONV), data)
    nhwc, _ = build_state(load_config("dcgan-mnist", CONV + ["train.channels_last=true"]), data)
    convs = [m.weight for m in nhwc.D.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not all(w.is_contiguous() for w in convs)
    assert nhwc.data.x.is_contiguous(memory_format=torch.channels_last)
    algorithm1(nchw, 2)
    algorithm1(nhwc, 2)
    for p, q in zip(nchw.D.parameters(), nhwc.D.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)  # same maths, another memory layout


def test_joint_d_batch_makes_one_pass_of_d_and_computes_the_same_step():
    # Without dropout D is a deterministic function of each example, so one pass over real
    # and generated examples stacked must give the separate passes' logits, losses and
    # updates (to rounding: the products are summed in another order).
    data = tiny_images()
    nodrop = MLP + ["discriminator.args.input_dropout=0", "discriminator.args.hidden_dropout=0",
                    "optim_g.name=sgd", "optim_d.name=sgd", "optim_g.lr=0.1", "optim_d.lr=0.1"]  # fmt: skip
    runs = {}
    for joint in (False, True):
        s, _ = build_state(load_config("goodfellow2014", nodrop + [f"train.joint_d_batch={str(joint).lower()}"]), data)
        batches: list[int] = []
        hook = s.D.register_forward_hook(lambda m, i, o: batches.append(i[0].shape[0]))
        losses: list[float] = []
        algorithm1(s, 3, [lambda st, stats: losses.append(stats.d_loss.item())])
        hook.remove()
        runs[joint] = (s, batches, losses)
    (a, batches_a, losses_a), (b, batches_b, losses_b) = runs[False], runs[True]
    assert batches_a == [10, 10, 10] * 3  # D step: real, generated; G step: generated
    assert batches_b == [20, 10] * 3  # D step: both at once
    assert np.allclose(losses_a, losses_b, rtol=1e-5)
    for p, q in zip([*a.D.parameters(), *a.G.parameters()], [*b.D.parameters(), *b.G.parameters()]):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "preset, extra, why",
    [("dcgan-mnist", CONV, "batch norm"), ("toy-ring8", ["data.batch_size=8", "discriminator.args.pack=4"], "packs 4 examples")],
)  # fmt: skip
def test_joint_d_batch_refuses_a_d_that_mixes_examples(preset, extra, why):
    data = tiny_images(side=32) if preset.startswith("dcgan") else None
    if data is None:
        from gankit.data.datasets import load_dataset

        cfg = load_config(preset, extra)
        data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, 64)
    with pytest.raises(ConfigError, match=f"field 'train.joint_d_batch'.*{why}"):
        build_state(load_config(preset, extra + ["train.joint_d_batch=true"]), data)


def _folder(root: Path, n: int = 40, side: int = 28) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8), mode="L").save(root / f"{i:04d}.png")
    return root


@pytest.mark.parametrize(
    "preset, extra",
    [("goodfellow2014", MLP + ["train.precision=bf16"]),
     ("goodfellow2014", MLP + ["train.precision=bf16", "train.joint_d_batch=true"]),
     ("dcgan-mnist", CONV + ["train.precision=bf16", "train.channels_last=true"])],
)  # fmt: skip
def test_resume_is_exact_with_the_fast_options_on(tmp_path, preset, extra):
    root = _folder(tmp_path / "images")
    common = extra + [f"data.root={root}", "data.name=folder-28", "log.every=3", "log.checkpoint_every=3",
                      "log.samples_every=1000", "log.tensorboard=false", "log.progress=false", "log.diagnostics=false"]  # fmt: skip
    say = lambda m: None  # noqa: E731
    whole = train(load_config(preset, common + ["train.steps=9"]), tmp_path / "whole", say=say)
    train(load_config(preset, common + ["train.steps=5"]), tmp_path / "cut", say=say)
    again = train(load_config(preset, common + ["train.steps=9"]), tmp_path / "cut", say=say)
    assert whole.step == again.step == 9
    a = ckpt.flat_state(ckpt.load(ckpt.checkpoint_path(tmp_path / "whole" / "checkpoints", 9)))
    b = ckpt.flat_state(ckpt.load(ckpt.checkpoint_path(tmp_path / "cut" / "checkpoints", 9)))
    assert a.keys() == b.keys() and any(k.startswith(".G.") for k in a)
    assert [k for k in a if a[k] != b[k]] == []


def test_compile_does_not_recompile_across_epochs(monkeypatch):
    # Dynamo's guards (shapes, grad mode, requires_grad) decide recompilation whatever the
    # backend; "eager" skips inductor's C++ build so the test takes seconds.
    import torch._dynamo
    from torch._dynamo.utils import counters

    from gankit.training import build

    monkeypatch.setattr(build, "COMPILE_BACKEND", "eager")
    torch._dynamo.reset()
    counters.clear()
    data = tiny_images(n=44)  # batch 10: 4 full batches an epoch, a tail of 4 never used
    s, _ = build_state(load_config("goodfellow2014", MLP + ["train.compile=true"]), data)
    algorithm1(s, 2)  # first D step, G step: the graphs of each grad mode get compiled
    compiled = counters["stats"]["unique_graphs"]
    assert compiled > 0
    batches = []
    algorithm1(s, 12, [lambda st, _: batches.append(st.data.epoch)])  # crosses two epoch ends
    assert batches[-1] >= 2
    assert counters["stats"]["unique_graphs"] == compiled, "recompiled after warm-up"
    with torch.no_grad():
        s.G(torch.randn(3, 8))  # a partial batch would recompile: the counter does see it
    assert counters["stats"]["unique_graphs"] > compiled
    # compiled in eager mode computes what the plain modules compute (built after the run:
    # build_state reseeds the global RNG that dropout draws from)
    plain, _ = build_state(load_config("goodfellow2014", MLP), data)
    algorithm1(plain, 12)
    for p, q in zip(s.G.parameters(), plain.G.parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6)
    torch._dynamo.reset()
