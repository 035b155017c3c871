"""Figure 1 of Goodfellow et al. (2014) in 1-D, with Theorem 1 measured along the way.

p_data = N(0.4, 0.12²) (dataset ``gauss1d``), z ~ U[−1, 1], x = G(z); small MLPs trained by
Algorithm 1 (arms ``algorithm1``: preset ``figure1``, k = 3, and ``optimal_d``: preset
``figure1-optimal-d``, k = 10, D kept near its optimum as in Proposition 2). At each frame
(a training callback, :class:`Frames`, at steps denser early) p_g is measured exactly
enough from G (gankit.theory.oned: the push-forward of a fine z grid) to compute
JSD(p_data ‖ p_g), C(G) = V(D*, G) and max |D(x) − ½| over the central 99% of p_data's mass.

Writes into each arm's run directory ``DIR/runs/ARM/seed-N``: ``frames/*.png`` and
``figure1.gif`` (p_data dotted, p_g solid, D(x) dashed, arrows from the z line to the x
line), ``curves.png`` (JSD, C(G) + log 4 and max |D − ½| over training) and
``curves.json``; the headline arm's GIF also as ``DIR/figure1.gif``.
"""
from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from gankit.atomic import atomic_path, write_json, write_text
from gankit.config import Config
from gankit.data.datasets import Dataset
from gankit.data.toy import toy_spec
from gankit.errors import ConfigError
from gankit.reproduce.runner import Arm, Options, Reproduction, Summary, Trained, register
from gankit.theory.oned import Snapshot1D, snapshot_1d
from gankit.training.algorithm1 import StepStats
from gankit.training.build import initial_nets, net_context, sampling_description, to_net_range
from gankit.training.state import TrainState

# (key, preset, title); the first is the reproduction's headline. k comes from each preset.
VARIANTS = [("algorithm1", "figure1", "Algorithm 1"), ("optimal_d", "figure1-optimal-d", "D near its optimum")]
X_METRIC = (-3.0, 3.0)  # bins for the divergences: wide enough to hold all of G's mass
X_VIEW = (-0.45, 1.25)  # what the frames show
TARGET_JSD, TARGET_DEV = 0.005, 0.05
FRAMES, DRY_RUN_FRAMES = 24, 4
CURVES = "curves.jsonl"  # a resumed run keeps the rows up to its checkpoint


def net_fns(G: nn.Module, D: nn.Module, pixel_range: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """G and sigmoid(D) as numpy functions in data coordinates (gauss1d's box is [−1, 1]:
    with pixel_range symmetric the nets see the data's own coordinates)."""
    if pixel_range != "symmetric":
        raise ConfigError(f"field 'data.pixel_range': figure1 needs 'symmetric' (the nets see gauss1d's own coordinates), got '{pixel_range}'")

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
        was = D.training
        D.eval()
        try:
            return torch.sigmoid(D(torch.as_tensor(x, dtype=torch.float32).view(-1, 1))).double().numpy()
        finally:
            D.train(was)

    return g, d


def state_fns(state: TrainState, pixel_range: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """``net_fns`` of a run's state: G is the average of G's weights where the run keeps one
    (``train.ema_decay``: what ``gankit sample`` draws); D is always the trained D."""
    return net_fns(state.ema.module if state.ema is not None else state.G, state.D, pixel_range)


def stop_steps(steps: int, frames: int) -> list[int]:
    """The frames' steps: 0, the last step and ``frames - 1`` between, denser early."""
    return sorted({int(round(steps * (i / frames) ** 1.5)) for i in range(frames + 1)})


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


def png_bytes(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_bytes(path: Path, blob: bytes) -> None:
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
    write_bytes(path, png_bytes(fig))


class Frames:
    """The training callback of an arm: at each stop step a frame (PNG) and a row of curves;
    at the last step the GIF, curves.png and curves.json, all in the run directory."""

    def __init__(self, cfg: Config, data: Dataset, run_dir: Path, title: str, frames: int) -> None:
        spec = toy_spec(cfg.data.name)
        if spec is None or spec.dim != 1:
            raise ConfigError(f"field 'data.name': figure1 needs a 1-D toy dataset (gauss1d), got '{cfg.data.name}'")
        self.cfg, self.data, self.dir = cfg, data, run_dir
        self.mu, self.sigma = float(spec.centers[0, 0]), spec.sigma
        self.title = f"{title}, k = {cfg.train.k}"
        if cfg.train.ema_decay is not None:
            self.title += f", p_g of G's weight average (EMA {cfg.train.ema_decay})"
        self.stops = set(stop_steps(cfg.train.steps, frames))
        self.rows: list[dict[str, float]] = []
        self.started = False

    def _snap(self, g: Callable[[np.ndarray], np.ndarray], d: Callable[[np.ndarray], np.ndarray], step: int) -> None:
        scale = self.cfg.noise.scale
        snap = snapshot_1d(g, d, self.mu, self.sigma, (-scale, scale), X_METRIC, bins=3000)
        self.rows.append({"step": step, "jsd": snap.jsd, "c_of_g": snap.c_of_g, "c_plus_log4": snap.c_of_g + math.log(4),
                          "d_dev_99": snap.d_dev_99, "value": snap.value})
        write_bytes(self.dir / "frames" / f"step-{step:06d}.png", png_bytes(draw_frame(snap, g, step, self.title)))
        write_text(self.dir / CURVES, "".join(json.dumps(r) + "\n" for r in self.rows))

    def _initial(self) -> None:
        """Step 0: the nets as ``build_state`` made them (training has moved them by now)."""
        cfg = self.cfg
        G, D = initial_nets(cfg, net_context(cfg, self.data.image_shape, 0))
        if hasattr(G, "init_from_data"):
            G.init_from_data(to_net_range(self.data.train.x, cfg.data.pixel_range))
        self._snap(*net_fns(G, D, cfg.data.pixel_range), 0)

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if not self.started:
            self.started = True
            path = self.dir / CURVES
            old = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
            self.rows = [r for r in old if r["step"] < st.step]
            if 0 in self.stops and not any(r["step"] == 0 for r in self.rows):
                self._initial()
        if st.step in self.stops:
            self._snap(*state_fns(s, self.cfg.data.pixel_range), st.step)
        if st.step == self.cfg.train.steps:
            self.finish()

    def finish(self) -> None:
        write_gif(self.dir / "figure1.gif", [(self.dir / "frames" / f"step-{r['step']:06d}.png").read_bytes() for r in self.rows])
        curves = {key: [r[key] for r in self.rows] for key in ("step", "jsd", "c_of_g", "c_plus_log4", "d_dev_99", "value")}
        draw_curves(self.dir / "curves.png", curves, self.title)
        write_json(self.dir / "curves.json", curves)


def callbacks(cfg: Config, data: Dataset, run_dir: Path, opts: Options) -> list:
    titles = {key: title for key, _, title in VARIANTS}
    title = titles.get(run_dir.parent.name, "")  # the runner trains arm ARM into runs/ARM/seed-N
    return [Frames(cfg, data, run_dir, title, DRY_RUN_FRAMES if opts.dry_run else FRAMES)]


def final(t: Trained) -> dict[str, Any]:
    """An arm's figures at its last frame, from its curves.json."""
    curves = json.loads((t.run_dir / "curves.json").read_text())
    jsd, c_of_g, dev = curves["jsd"][-1], curves["c_of_g"][-1], curves["d_dev_99"][-1]
    return {
        "jsd_final": jsd, "c_of_g_final": c_of_g, "d_dev_99": dev, "value_final": curves["value"][-1],
        "steps": t.state.step, "k": t.cfg.train.k, "p_g_of": sampling_description(t.cfg), "preset": t.arm.preset,
        "overrides": t.overrides, "train_seconds": round(t.train_seconds, 1),
        "passes": bool(jsd < TARGET_JSD and dev < TARGET_DEV),
    }


def summarize(runs: list[Trained], opts: Options) -> Summary:
    first = {key: next(t for t in runs if t.arm.key == key) for key, _, _ in VARIANTS}  # the first seed of each arm
    variants = {key: final(t) for key, t in first.items()}
    rows = [("paper", "-", "C(G) = -log 4 at the optimum; D = 1/2", "-", "-")]
    for key, _, title in VARIANTS:
        v = variants[key]
        rows.append((f"gankit: {title}, k = {v['k']}", v["steps"], f"{v['jsd_final']:.5f}",
                     f"{v['c_of_g_final'] + math.log(4):.5f}", f"{v['d_dev_99']:.4f}"))
    head = VARIANTS[0][0]
    out = runs[0].out
    with atomic_path(out / "figure1.gif") as tmp:
        shutil.copyfile(first[head].run_dir / "figure1.gif", tmp)
    main = variants[head]
    result = {
        "jsd_final": main["jsd_final"],
        "d_dev_99": main["d_dev_99"],
        "c_of_g_final": main["c_of_g_final"],
        "optimal_d": {k: variants["optimal_d"][k] for k in ("jsd_final", "d_dev_99", "c_of_g_final", "steps", "k")},
        "targets": {"jsd_final": TARGET_JSD, "d_dev_99": TARGET_DEV},
    }
    where = {key: str(t.run_dir.relative_to(out)) for key, t in first.items()}
    notes = [
        f"Targets: JSD < {TARGET_JSD} nats and |D(x) - 1/2| < {TARGET_DEV} on 99% of p_data's mass. "
        + ", ".join(f"{k}: {'met' if v['passes'] else 'NOT met'}" for k, v in variants.items()) + ".",
        "p_g is measured from G by pushing 200,001 evenly spaced z through it into 3000 bins on [-3, 3]; "
        "JSD and C(G) = V(D*, G) are computed on those bins (gankit.theory).",
        "Frames and GIF: `figure1.gif` (Algorithm 1), " + ", ".join(f"`{d}/figure1.gif`" for d in where.values())
        + "; curves: `curves.png` and `curves.json` beside each.",
    ]
    settings = {"variants": variants, "p_data": "N(0.4, 0.12^2)", "p_z": "U[-1, 1]", "bins": "3000 on [-3, 3]",
                "z_grid": 200_001}
    headers = ["run", "G steps", "JSD(p_data||p_g) (nats)", "C(G) + log 4", "max|D - 1/2| (99% mass)"]
    return Summary(result, headers, rows, notes, settings)


register(Reproduction(
    name="figure1",
    title="Goodfellow et al. (2014), Figure 1 (1-D) and Theorem 1",
    description="Figure 1 in 1-D: p_g, D and the z->x map during training; JSD and C(G) measured",
    arms=lambda opts: [Arm(key, preset, label=title) for key, preset, title in VARIANTS],
    summarize=summarize,
    callbacks=callbacks,
))
