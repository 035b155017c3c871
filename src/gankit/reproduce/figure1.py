"""Figure 1 of Goodfellow et al. (2014) in 1-D, with Theorem 1 measured along the way.

p_data = N(0.4, 0.12²) (dataset ``gauss1d``), z ~ U[−1, 1], x = G(z); small MLPs trained by
Algorithm 1 (presets ``figure1``, k = 3, and ``figure1-optimal-d``, k = 10: D kept near
its optimum as in Proposition 2). At each frame p_g is measured exactly enough from G
(gankit.theory.oned: the push-forward of a fine z grid) to compute JSD(p_data ‖ p_g),
C(G) = V(D*, G) and max |D(x) − ½| over the central 99% of p_data's mass.

Writes, per variant, ``DIR/<variant>/frames/*.png`` and ``DIR/<variant>/figure1.gif``
(p_data dotted, p_g solid, D(x) dashed, arrows from the z line to the x line),
``DIR/<variant>/curves.png`` (JSD, C(G) + log 4 and max |D − ½| over training), and the
reproduce contract's ``DIR/result.json`` and ``DIR/report.md``.
"""
from __future__ import annotations

import io
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from gankit.atomic import atomic_path, write_json
from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.data.toy import toy_spec
from gankit.reproduce.registry import register_reproduction
from gankit.reproduce.report import table, write_result
from gankit.theory.oned import Snapshot1D, snapshot_1d
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state, sampling_description
from gankit.training.callbacks import default_callbacks
from gankit.training.state import TrainState

# (key, preset, title); the first is the reproduction's headline. k comes from each preset.
VARIANTS = [("algorithm1", "figure1", "Algorithm 1"), ("optimal_d", "figure1-optimal-d", "D near its optimum")]
X_METRIC = (-3.0, 3.0)  # bins for the divergences: wide enough to hold all of G's mass
X_VIEW = (-0.45, 1.25)  # what the frames show
TARGET_JSD, TARGET_DEV = 0.005, 0.05
DRY_RUN_OVERRIDES = ["train.steps=20", "log.every=10", "log.diagnostics_every=10"]


def _net_fns(state: TrainState, pixel_range: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """G and sigmoid(D) as numpy functions in data coordinates (gauss1d's box is [−1, 1]:
    with pixel_range symmetric the nets see the data's own coordinates). When the run keeps
    an average of G's weights (``train.ema_decay``), G here is that average (what
    ``gankit sample`` draws); D is always the trained D."""
    if pixel_range != "symmetric":
        from gankit.errors import ConfigError

        raise ConfigError(f"field 'data.pixel_range': figure1 needs 'symmetric' (the nets see gauss1d's own coordinates), got '{pixel_range}'")

    ema = state.ema
    G = ema.module if ema is not None else state.G

    @torch.no_grad()
    def g(z: np.ndarray) -> np.ndarray:
        was = G.training
        G.eval()
        try:
            out = torch.cat([G(torch.as_tensor(c, dtype=torch.float32).view(-1, 1)).view(-1)
                             for c in np.array_split(z, max(1, len(z) // 50_000))])
        finally:
            G.train(was)
        return out.double().numpy()

    @torch.no_grad()
    def d(x: np.ndarray) -> np.ndarray:
        state.D.eval()
        try:
            return torch.sigmoid(state.D(torch.as_tensor(x, dtype=torch.float32).view(-1, 1))).double().numpy()
        finally:
            state.D.train()

    return g, d


def draw_frame(snap: Snapshot1D, g: Callable[[np.ndarray], np.ndarray], step: int, title: str):
    """The paper's layout: densities and D above, the z → x mapping below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    view = (snap.centers >= X_VIEW[0]) & (snap.centers <= X_VIEW[1])
    c = snap.centers[view]
    # coarser bins for drawing p_g: the metric bins are too fine to look like a density
    step_bins = 8
    cg = c[: len(c) // step_bins * step_bins].reshape(-1, step_bins).mean(1)
    pg = snap.p_g[view][: len(c) // step_bins * step_bins].reshape(-1, step_bins).mean(1)
    scale = 1.0 / max(snap.p_data.max(), 1e-12)  # densities drawn relative to p_data's peak
    base = 0.0
    ax.plot(c, base + snap.p_data[view] * scale, ":", color="black", lw=2, label="p_data")
    ax.plot(cg, base + np.minimum(pg * scale, 1.6), "-", color="green", lw=1.6, label="p_g")
    ax.plot(c, base + snap.d[view], "--", color="blue", lw=1.6, label="D(x)")
    # the z -> x mapping: z line below the x line, arrows from evenly spaced z to G(z)
    x_line, z_line = -0.25, -0.75
    ax.axhline(x_line, color="black", lw=0.8)
    ax.axhline(z_line, color="black", lw=0.8)
    z = np.linspace(-0.95, 0.95, 20)
    gz = g(z)
    z_disp = X_VIEW[0] + (z + 1) / 2 * (X_VIEW[1] - X_VIEW[0])
    for a, b in zip(z_disp, gz):
        if X_VIEW[0] <= b <= X_VIEW[1]:
            ax.annotate("", xy=(b, x_line), xytext=(a, z_line),
                        arrowprops=dict(arrowstyle="->", color="gray", lw=0.7, shrinkA=0, shrinkB=0))
    ax.text(X_VIEW[1], x_line + 0.03, "x", ha="right", va="bottom")
    ax.text(X_VIEW[1], z_line + 0.03, "z", ha="right", va="bottom")
    ax.set_xlim(*X_VIEW)
    ax.set_ylim(-0.85, 1.7)
    ax.set_yticks([0, 0.5, 1.0])
    # two lines: the variant's name can be long (it says when p_g is G's weight average)
    ax.set_title(f"{title}\nstep {step}   JSD {snap.jsd:.4f} nats   max|D-1/2| (99%) {snap.d_dev_99:.3f}", fontsize=8)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _png_bytes(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _write_bytes(path: Path, blob: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)


def write_gif(path: Path, frames: list[bytes], ms_per_frame: int = 250) -> None:
    """An animated GIF of PNG frames (Pillow), written atomically."""
    from PIL import Image

    images = [Image.open(io.BytesIO(b)).convert("P", palette=Image.Palette.ADAPTIVE) for b in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)


def draw_curves(path: Path, curves: dict[str, list[float]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    steps = curves["step"]
    ax.plot(steps, curves["jsd"], label="JSD(p_data || p_g) (nats)")
    ax.plot(steps, curves["c_plus_log4"], label="C(G) + log 4 (= 2 JSD)")
    ax.plot(steps, curves["d_dev_99"], label="max |D(x) - 1/2| on 99% of p_data")
    ax.axhline(TARGET_JSD, color="gray", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("generator step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _write_bytes(path, _png_bytes(fig))


def run_variant(out: Path, preset: str, title: str, overrides: list[str], frames: int = 24) -> dict[str, Any]:
    cfg = load_config(preset, [*overrides, "train.device=cpu"])  # 1-d densities, plotted from host tensors
    title = f"{title}, k = {cfg.train.k}"
    spec = toy_spec(cfg.data.name)
    mu, sigma = float(spec.centers[0, 0]), spec.sigma
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.limit)
    state, _ = build_state(cfg, data)
    callbacks = default_callbacks(cfg, state).ordered  # as gankit train runs them, without the run files
    if state.ema is not None:
        title = f"{title}, p_g of G's weight average (EMA {cfg.train.ema_decay})"
    g, d = _net_fns(state, cfg.data.pixel_range)
    stops = sorted({int(round(cfg.train.steps * (i / frames) ** 1.5)) for i in range(frames + 1)})  # denser early
    curves: dict[str, list[float]] = {"step": [], "jsd": [], "c_plus_log4": [], "d_dev_99": [], "value": []}
    pngs: list[bytes] = []
    t0 = time.time()
    snap = None
    for stop in stops:
        algorithm1(state, stop, callbacks)
        snap = snapshot_1d(g, d, mu, sigma, (-cfg.noise.scale, cfg.noise.scale), X_METRIC, bins=3000)
        curves["step"].append(state.step)
        curves["jsd"].append(snap.jsd)
        curves["c_plus_log4"].append(snap.c_of_g + math.log(4))
        curves["d_dev_99"].append(snap.d_dev_99)
        curves["value"].append(snap.value)
        blob = _png_bytes(draw_frame(snap, g, state.step, title))
        _write_bytes(out / "frames" / f"step-{state.step:06d}.png", blob)
        pngs.append(blob)
    seconds = time.time() - t0
    write_gif(out / "figure1.gif", pngs)
    draw_curves(out / "curves.png", curves, f"{title} ({preset})")
    write_json(out / "curves.json", curves)
    assert snap is not None
    return {
        "jsd_final": snap.jsd,
        "c_of_g_final": snap.c_of_g,
        "d_dev_99": snap.d_dev_99,
        "value_final": snap.value,
        "steps": state.step,
        "k": cfg.train.k,
        "p_g_of": sampling_description(cfg),
        "preset": preset,
        "overrides": overrides,
        "train_seconds": round(seconds, 1),
        "passes": bool(snap.jsd < TARGET_JSD and snap.d_dev_99 < TARGET_DEV),
    }


@register_reproduction("figure1", "Figure 1 in 1-D: p_g, D and the z->x map during training; JSD and C(G) measured")
def run(out: Path, *, full: bool = False, paper_exact: bool = False, dry_run: bool = False, seed: int = 0) -> dict[str, Any]:
    out = Path(out)
    t0 = time.time()
    overrides = [f"seed={seed}"] + (DRY_RUN_OVERRIDES if dry_run else [])
    variants = {}
    for key, preset, title in VARIANTS:
        variants[key] = run_variant(out / key, preset, title, overrides, frames=4 if dry_run else 24)
    wall = time.time() - t0
    rows = [("paper", "-", "C(G) = -log 4 at the optimum; D = 1/2", "-", "-")]
    for key, preset, title in VARIANTS:
        v = variants[key]
        rows.append((f"gankit: {title}, k = {v['k']}", v["steps"], f"{v['jsd_final']:.5f}", f"{v['c_of_g_final'] + math.log(4):.5f}",
                     f"{v['d_dev_99']:.4f}"))
    tab = table(["run", "G steps", "JSD(p_data||p_g) (nats)", "C(G) + log 4", "max|D - 1/2| (99% mass)"], rows)
    main = variants[VARIANTS[0][0]]
    result = {
        "jsd_final": main["jsd_final"],
        "d_dev_99": main["d_dev_99"],
        "c_of_g_final": main["c_of_g_final"],
        "optimal_d": {k: variants["optimal_d"][k] for k in ("jsd_final", "d_dev_99", "c_of_g_final", "steps", "k")},
        "targets": {"jsd_final": TARGET_JSD, "d_dev_99": TARGET_DEV},
        "wall_seconds": round(wall, 1),
        "settings": {"seed": seed, "dry_run": dry_run, "variants": variants,
                     "p_data": "N(0.4, 0.12^2)", "p_z": "U[-1, 1]", "bins": "3000 on [-3, 3]", "z_grid": 200_001},
    }
    report = "\n".join([
        "# Goodfellow et al. (2014), Figure 1 (1-D) and Theorem 1",
        "",
        tab,
        "",
        f"Targets: JSD < {TARGET_JSD} nats and |D(x) - 1/2| < {TARGET_DEV} on 99% of p_data's mass. "
        + ", ".join(f"{k}: {'met' if v['passes'] else 'NOT met'}" for k, v in variants.items()) + ".",
        "p_g is measured from G by pushing 200,001 evenly spaced z through it into 3000 bins on [-3, 3]; "
        "JSD and C(G) = V(D*, G) are computed on those bins (gankit.theory).",
        "Frames and GIF: " + ", ".join(f"`{key}/figure1.gif`" for key, _, _ in VARIANTS) + "; curves: `*/curves.png`.",
        f"Seed {seed}; wall time {wall:.0f} s.",
        "" if not dry_run else "\n**Dry run**: a few steps; the figures mean nothing.",
    ])
    write_result(out, "figure1", result, report + "\n")
    print(tab)
    print(f"\nwall time {wall:.0f} s; result in {out / 'result.json'}")
    return result
