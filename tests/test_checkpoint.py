"""Checkpoint files: round trip, checksums, refusing pickles unread, a full disk, the
divergence guard. Training here runs in-process on a tiny image folder (about a second)."""
from __future__ import annotations

import ast
import errno
import io
import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit.atomic
from gankit.config import load_config
from gankit.errors import CheckpointError, DivergenceError
from gankit.training import checkpoint as ckpt
from gankit.training.generator import load_generator
from gankit.training.run import train

SRC = Path(__file__).resolve().parents[1] / "src" / "gankit"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for i in range(60):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(root / f"{i:03d}.png")
    return root


def tiny_cfg(data_root: Path, *extra: str):
    return load_config(
        "goodfellow2014",
        [
            "data.name=folder-28", f"data.root={data_root}", "data.batch_size=20", "train.steps=12", "train.threads=1",
            "generator.args.hidden=[16]", "discriminator.args.units=8", "discriminator.args.pieces=2",
            "log.every=4", "log.checkpoint_every=4", "log.samples_every=1000", "log.keep_checkpoints=5",
            "log.tensorboard=false", "log.progress=false", "log.diagnostics=false", *extra,
        ],
    )  # fmt: skip


def quiet(_msg: str) -> None:
    pass


# ---------------------------------------------------------------------------------------
# Format


def test_round_trip_keeps_every_tensor_and_value(tmp_path):
    torch.manual_seed(0)
    payload = {
        "w": torch.randn(3, 4),
        "half": torch.randn(5).to(torch.bfloat16),
        "ints": torch.arange(6, dtype=torch.int64).view(2, 3),
        "flag": torch.tensor(True),
        "empty": torch.zeros(0, 7),
        "nested": [{"a": 1, "b": 2.5, "c": None, "d": "text"}, (1, float("inf"))],
        "rng": ckpt.rng_state(),
    }
    path = tmp_path / "c.safetensors"
    ckpt.save(path, payload)
    back = ckpt.load(path)
    for key in ("w", "half", "ints", "flag", "empty"):
        assert back[key].dtype == payload[key].dtype and torch.equal(back[key], payload[key])
    assert back["nested"] == [{"a": 1, "b": 2.5, "c": None, "d": "text"}, (1, float("inf"))]
    state = np.random.get_state()
    ckpt.set_rng_state(back["rng"])  # the restored generators continue the saved streams
    assert np.array_equal(np.random.get_state()[1], payload["rng"]["numpy"][1].numpy().astype(np.uint32))
    np.random.set_state(state)


def test_checksum_catches_any_flipped_bit_and_truncation(tmp_path):
    path = tmp_path / "c.safetensors"
    ckpt.save(path, {"w": torch.randn(64), "meta": {"step": 3}})
    raw = path.read_bytes()
    header = 8 + int.from_bytes(raw[:8], "little")
    rnd = random.Random(0)
    for pos in rnd.sample(range(header, len(raw)), 10) + [raw.index(b"step") + 1]:  # tensor bytes and the JSON tree
        bad = bytearray(raw)
        bad[pos] ^= 1 << rnd.randrange(8)
        path.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match=r"c\.safetensors: (damaged|not a)"):
            ckpt.load(path)
    for cut in (0, 5, header - 3, len(raw) - 1):
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match=r"c\.safetensors: damaged"):
            ckpt.load(path)
    path.write_bytes(raw)
    assert ckpt.load(path)["meta"] == {"step": 3}


class _WritesAFile:
    """Unpickling this calls Path.touch(marker): the stand-in for a malicious payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _malicious_files(tmp_path: Path, marker: Path) -> dict[str, bytes]:
    evil = {"state_dict": _WritesAFile(marker)}
    buf = io.BytesIO()
    torch.save(evil, buf)  # a torch zip archive holding the pickle
    return {"pickle-v4": pickle.dumps(evil, protocol=4), "pickle-v0": pickle.dumps(evil, protocol=0), "torch-zip": buf.getvalue()}


def test_malicious_pickles_are_refused_unread(tmp_path, capsys):
    marker = tmp_path / "pwned"
    files = _malicious_files(tmp_path, marker)
    # The fixtures really are malicious: unpickling one writes the marker.
    pickle.loads(files["pickle-v4"])
    assert marker.exists()
    marker.unlink()

    from gankit.cli.main import main

    for kind, blob in files.items():
        run = tmp_path / kind / "checkpoints"
        run.mkdir(parents=True)
        path = run / "ckpt-00000010.safetensors"  # even under a checkpoint's name
        path.write_bytes(blob)
        with pytest.raises(CheckpointError, match="pickle|not a safetensors"):
            ckpt.load(path)
        for target in (path, run.parent):
            assert main(["sample", str(target), "--n", "2", "--out", str(tmp_path / "x.png")]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err and "ckpt-00000010" in err
        assert not marker.exists(), kind


def test_pickle_message_names_the_danger(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"model\.pt: this is a pickle or torch\.save zip file.*pickles can run code"):
        ckpt.load(path)


def test_no_torch_load_without_weights_only():
    """Every torch.load in the package passes weights_only=True (pickles would run code)."""
    offenders = []
    for py in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text(), str(py))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
                base = node.func.value
                if isinstance(base, ast.Name) and base.id == "torch":
                    kw = {k.arg: k.value for k in node.keywords}
                    ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                    if not ok:
                        offenders.append(f"{py.relative_to(SRC)}:{node.lineno}")
    assert not offenders, offenders


# ---------------------------------------------------------------------------------------
# A full disk


class _FullDisk:
    """A file object whose writes fail with ENOSPC after ``room`` bytes, like a full disk."""

    def __init__(self, f, room: int) -> None:
        self.f, self.room = f, room

    def write(self, data) -> int:
        n = len(data) if isinstance(data, str) else len(memoryview(data).cast("B"))
        if n > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= n
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)


def test_disk_full_while_checkpointing_keeps_the_last_good_one(tmp_path, data_root, monkeypatch, capsys):
    cfg = tiny_cfg(data_root)
    out = tmp_path / "run"
    train(tiny_cfg(data_root, "train.steps=8"), out, say=quiet)
    ckdir = out / "checkpoints"
    good = ckpt.list_checkpoints(ckdir)[-1]
    before = good.read_bytes()

    def full_open(path, mode="r", *a, **k):
        f = open(path, mode, *a, **k)
        return _FullDisk(f, 1000) if "w" in mode else f

    monkeypatch.setattr(gankit.atomic, "open", full_open, raising=False)
    with pytest.raises(CheckpointError) as e:
        train(cfg, out, say=quiet)
    msg = str(e.value)
    assert "\n" not in msg and "no space left on device" in msg
    assert "ckpt-00000012.safetensors" in msg and f"last good checkpoint {good.name} is intact" in msg
    assert ckpt.list_checkpoints(ckdir)[-1] == good and good.read_bytes() == before
    assert ckpt.load(good)["step"] == 8
    assert not [p for p in ckdir.iterdir() if p.name.endswith(".tmp")]

    from gankit.cli.main import main

    args = ["train", "goodfellow2014", *[f"{k}" for k in _overrides(cfg)], "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("gankit: resuming") and "no space left on device" in err[1]
    monkeypatch.undo()
    train(cfg, out, say=quiet)  # space again: the run continues from the good checkpoint
    assert ckpt.load(ckpt.list_checkpoints(ckdir)[-1])["step"] == 12


def _overrides(cfg) -> list[str]:
    d = cfg.to_dict()
    return [f"{sec}.{k}={json.dumps(v)}" for sec in ("data", "train", "log") for k, v in d[sec].items() if v is not None] + [
        f"{net}.args={json.dumps(d[net]['args'])}" for net in ("generator", "discriminator")
    ]


# ---------------------------------------------------------------------------------------
# Divergence guard


class Poison:
    """Sets one of G's weights to NaN after step ``at`` (after the guard's check of that step)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, s, st) -> None:
        if st.step == self.at:
            with torch.no_grad():
                next(s.G.parameters()).view(-1)[0] = float("nan")


def _all_finite(path: Path) -> bool:
    p = ckpt.load(path)
    return all(bool(torch.isfinite(t).all()) for net in ("G", "D") for t in p[net].values())


def test_nan_loss_stops_at_that_step_and_keeps_the_last_good_checkpoint(tmp_path, data_root):
    out = tmp_path / "run"
    with pytest.raises(DivergenceError) as e:
        train(tiny_cfg(data_root), out, callbacks=[Poison(5)], say=quiet)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("diverged at step 6: the ") and "loss is nan" in msg
    assert "ckpt-00000004.safetensors is kept" in msg and "learning rate" in msg
    assert [p.name for p in ckpt.list_checkpoints(out / "checkpoints")] == ["ckpt-00000004.safetensors"]
    assert _all_finite(out / "checkpoints" / "ckpt-00000004.safetensors")


def test_nan_weights_are_never_checkpointed(tmp_path, data_root):
    # Poisoned at step 8 after the guard ran, before the checkpoint of step 8: the save refuses.
    out = tmp_path / "run"
    with pytest.raises(DivergenceError, match=r"step 8: the generator's weights are not finite \(first: net\.0\.weight\)"):
        train(tiny_cfg(data_root), out, callbacks=[Poison(8)], say=quiet)
    assert [p.name for p in ckpt.list_checkpoints(out / "checkpoints")] == ["ckpt-00000004.safetensors"]


def test_cli_reports_divergence_in_one_line(tmp_path, data_root, capsys):
    from gankit.cli.main import main

    cfg = tiny_cfg(data_root)
    args = ["train", "goodfellow2014", *_overrides(cfg), "optim_d.lr=1e30", "optim_g.lr=1e30", "--out", str(tmp_path / "r")]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gankit: error: diverged at step ") and "Traceback" not in err
    with pytest.raises(DivergenceError):
        main(args + ["--debug"])  # --debug shows the real exception


def test_sample_from_a_checkpoint_without_optimiser_or_data(tmp_path, data_root):
    out = tmp_path / "run"
    train(tiny_cfg(data_root, "train.steps=4"), out, say=quiet)
    p = ckpt.load(ckpt.list_checkpoints(out / "checkpoints")[-1])
    lone = tmp_path / "g.safetensors"
    ckpt.save(lone, {k: p[k] for k in ("step", "config", "context", "G")})
    G, cfg, context, step = load_generator(lone)
    assert step == 4 and not G.training
    for k, v in G.state_dict().items():
        assert torch.equal(v, p["G"][k])


def test_wall_clock_interval_and_keep_last_n(tmp_path, data_root):
    # checkpoint_seconds tiny: every step is "due" by time although checkpoint_every is far off
    out = tmp_path / "run"
    train(tiny_cfg(data_root, "train.steps=6", "log.checkpoint_every=1000", "log.checkpoint_seconds=1e-9", "log.keep_checkpoints=3"), out, say=quiet)
    assert [p.name for p in ckpt.list_checkpoints(out / "checkpoints")] == [f"ckpt-0000000{i}.safetensors" for i in (4, 5, 6)]
    out2 = tmp_path / "run2"
    train(tiny_cfg(data_root, "train.steps=6", "log.checkpoint_every=1000", "log.checkpoint_seconds=1e9"), out2, say=quiet)
    assert [p.name for p in ckpt.list_checkpoints(out2 / "checkpoints")] == ["ckpt-00000006.safetensors"]  # only the final one


def test_disk_full_while_logging_is_one_line_and_resumable(tmp_path, data_root, monkeypatch, capsys):
    import gankit.training.callbacks as callbacks_mod
    from gankit.cli.main import main

    cfg = tiny_cfg(data_root)
    out = tmp_path / "run"
    calls = {"n": 0}

    def full_open(path, mode="r", *a, **k):  # metrics.jsonl appends fail from the 3rd on
        f = open(path, mode, *a, **k)
        if "a" in mode:
            calls["n"] += 1
            if calls["n"] >= 3:
                return _FullDisk(f, 0)
        return f

    monkeypatch.setattr(callbacks_mod, "open", full_open, raising=False)
    assert main(["train", "goodfellow2014", *_overrides(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.jsonl: could not write (no space left on device) at step 8" in err
    assert "last good checkpoint ckpt-00000004.safetensors is intact" in err  # step 8 logs before it checkpoints
    monkeypatch.undo()
    train(cfg, out, say=quiet)
    assert ckpt.load(ckpt.list_checkpoints(out / "checkpoints")[-1])["step"] == 12
