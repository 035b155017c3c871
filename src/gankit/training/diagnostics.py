"""Progress and collapse diagnostics during any training.

``Diagnostics(cfg, run_dir, state)`` is a callback that runs every step (one of the
default callbacks when ``log.diagnostics`` is on). Every ``log.diagnostics_every`` steps
(and at step 1) it measures

- ``diag_d_real``, ``diag_d_fake``: mean D(x) and D(G(z)) on the step's minibatches;
- ``diag_g_grad_norm``: the norm of the generator's gradient from that step's update
  (read from the ``.grad`` fields the step left behind: no extra backward pass);
- where D gives K class logits (CatGAN), ``diag_fake_class_entropy``: the mean entropy of
  D's class prediction on G(z), as a share of log K (1: uniform);
- ``diag_diversity``: mean pairwise distance of 256 generated samples divided by that of
  256 training examples (about 1 when G spreads like the data, near 0 when it collapses);
- on toy mixtures (ring8, grid25), ``diag_modes``: the live count of captured modes (the
  rule of ``modes2500``: at least one sample within 3σ), and ``diag_modes_covered``: modes
  that are the nearest centre of at least a fifth of a uniform share of the samples, at any
  distance. The collapse warning uses the second: early in training G's samples are spread
  around the modes but not yet within 3σ, which is not a collapse.

The numbers go into ``log_row`` on logging steps (MetricsLog adds them to metrics.jsonl and
TensorBoard) and into ``bar_text`` for the progress bar. Between measurements a step
costs two integer comparisons. The samples come from the callback's own noise and data
generators, so turning diagnostics on or off never changes the training run itself.
Their state (peaks, warnings given, a measurement waiting for its logging step) is part
of every checkpoint, so a resumed run logs and warns exactly as an uninterrupted one.

Warnings, once each per run, in plain words with what to try: the discriminator
saturating (D(G(z)) near 0 while the generator's gradient has vanished), a K-class D
predicting uniformly on G's samples while the generator's gradient has vanished (CatGAN's
entropy terms have no slope there), and diversity collapsing (spread or live modes falling
far below what they were).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from gankit.config import Config
from gankit.objectives.catgan import conditional_entropy
from gankit.training.algorithm1 import StepStats
from gankit.training.state import TrainState
from gankit.training.noise import NoiseSampler

N_DIVERSITY = 256
N_MODES = 1000
SATURATED_D_FAKE = 0.05  # mean D(G(z)) below this: D rejects generated samples with near certainty
VANISHED_GRAD = 0.05  # G's gradient norm below this share of its largest value so far
UNIFORM_FAKE_CLASSES = 0.95  # K-class D's entropy on G(z) above this share of log K: a near-uniform prediction
COLLAPSED_DIVERSITY = 0.25  # generated spread below this share of the data's ...
HEALTHY_DIVERSITY = 0.5  # ... after it had been at least this
NEVER_SPREAD = 0.05  # or still below this a quarter of the way through the run


def _say(msg: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stderr)  # keeps a running progress bar intact


@torch.no_grad()
def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of rows of ``x`` (flattened)."""
    flat = x.reshape(x.shape[0], -1).double()
    return float(torch.pdist(flat).mean()) if flat.shape[0] > 1 else 0.0


class Diagnostics:
    def __init__(self, cfg: Config, run_dir: Optional[Path], state: TrainState, say: Callable[[str], None] = _say) -> None:
        from gankit.data.toy import toy_spec

        self.every, self.log_every, self.steps = cfg.log.diagnostics_every, cfg.log.every, cfg.train.steps
        self.pixel_range = cfg.data.pixel_range
        self.say = say
        self.run_dir = run_dir
        spec = toy_spec(cfg.data.name)
        self.spec = spec if spec is not None and spec.num_modes > 1 else None
        n = N_MODES if self.spec is not None else N_DIVERSITY
        noise = NoiseSampler(state.noise.dim, state.noise.distribution, state.noise.scale, state.noise.num_classes,
                             seed=cfg.seed + 7919)
        self.z, self.y = noise.sample(n)  # fixed noise: the measurements follow one set of samples
        g = torch.Generator().manual_seed(cfg.seed + 7920)
        pick = torch.randint(state.data.x.shape[0], (N_DIVERSITY,), generator=g)
        real = state.data.x[pick.to(state.data.x.device)].float().cpu()
        self.real_spread = mean_pairwise_distance(real)
        self.peak_grad = 0.0
        self.peak_diversity = 0.0
        self.peak_modes = 0
        self.warned: set[str] = set()
        self.pending: dict[str, float] = {}
        self.latest: dict[str, float] = {}
        self.log_row: dict[str, float] = {}  # for this step's metrics row (MetricsLog runs after us); empty off logging steps
        # Called with each step's measurements before they are used (the divergence guard's check).
        self.on_measured: Optional[Callable[[int, dict[str, float]], None]] = None
        self.bar_text = ""  # the latest measurements, for the progress bar

    # -- measurements ------------------------------------------------------------------

    @staticmethod
    def grad_norm(module: torch.nn.Module) -> float:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return float("nan")
        return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))

    @torch.no_grad()
    def measure(self, s: TrainState, st: StepStats) -> dict[str, float]:
        row = {
            "diag_d_real": float(torch.sigmoid(st.real_logits.float()).mean()),
            "diag_d_fake": float(torch.sigmoid(st.fake_logits.float()).mean()),
            "diag_g_grad_norm": self.grad_norm(s.G),
        }
        fake = st.fake_logits.float()
        if fake.dim() == 2 and fake.shape[1] > 1:  # K class logits: how uniform D's prediction on G(z) is
            row["diag_fake_class_entropy"] = float(conditional_entropy(fake) / math.log(fake.shape[1]))
        was = s.G.training
        s.G.eval()  # no batch-norm statistics updates from our samples
        try:
            device = s.noise.device
            x = s.G(self.z.to(device), None if self.y is None else self.y.to(device)).float().cpu()
        finally:
            s.G.train(was)
        # G's output and the minibatch source are both in the nets' range: compare them there
        row["diag_diversity"] = mean_pairwise_distance(x[:N_DIVERSITY]) / max(self.real_spread, 1e-12)
        if self.spec is not None:
            from gankit.metrics.modes import mode_stats
            from gankit.training.build import to_unit_range

            physical = self.spec.to_physical(to_unit_range(x, self.pixel_range))
            row["diag_modes"] = float(mode_stats(physical, self.spec).modes)
            nearest = torch.cdist(physical, self.spec.centers).argmin(1)
            share = torch.bincount(nearest, minlength=self.spec.num_modes)
            row["diag_modes_covered"] = float((share >= 0.2 * physical.shape[0] / self.spec.num_modes).sum())
        return row

    # -- warnings ----------------------------------------------------------------------

    def _warn(self, key: str, step: int, text: str) -> None:
        if key in self.warned:
            return
        self.warned.add(key)
        msg = f"gankit: warning at step {step}: {text}"
        self.say(msg)
        if self.run_dir is not None:
            with open(self.run_dir / "diagnostics.log", "a") as f:
                f.write(msg + "\n")

    def check(self, step: int, row: dict[str, float]) -> None:
        grad, d_fake, div = row["diag_g_grad_norm"], row["diag_d_fake"], row["diag_diversity"]
        if math.isfinite(grad):
            if (d_fake < SATURATED_D_FAKE and self.peak_grad > 0 and grad < VANISHED_GRAD * self.peak_grad):
                row["diag_warning_saturation"] = 1.0
                self._warn("saturation", step,
                           f"the discriminator has saturated: it rejects generated samples with near certainty "
                           f"(mean D(G(z)) = {d_fake:.3f}) and the generator's gradient has shrunk to "
                           f"{100 * grad / self.peak_grad:.1f}% of its peak, so the generator has stopped learning. "
                           "Try the non-saturating objective (objective.name=non-saturating), a lower "
                           "discriminator learning rate (optim_d.lr) or fewer discriminator steps (train.k).")
            uniform = row.get("diag_fake_class_entropy", 0.0)
            if uniform > UNIFORM_FAKE_CLASSES and self.peak_grad > 0 and grad < VANISHED_GRAD * self.peak_grad:
                row["diag_warning_uniform"] = 1.0
                self._warn("uniform", step,
                           f"the discriminator's class prediction on generated samples is near uniform (entropy "
                           f"{uniform:.3f} of the largest) and the generator's gradient has shrunk to "
                           f"{100 * grad / self.peak_grad:.1f}% of its peak: the entropy terms give the generator no "
                           "slope, so it has stopped learning. Try lower learning rates (optim_g.lr first, then "
                           "optim_d.lr) or another seed.")
            self.peak_grad = max(self.peak_grad, grad)
        collapsed = self.peak_diversity >= HEALTHY_DIVERSITY and div < COLLAPSED_DIVERSITY * self.peak_diversity
        never_spread = step > 1 and step >= self.steps // 4 and div < NEVER_SPREAD
        if self.spec is not None:
            modes = int(row["diag_modes_covered"] if "diag_modes_covered" in row else row["diag_modes"])  # coverage, not sharpness
            collapsed = collapsed or (self.peak_modes >= 2 and modes <= self.peak_modes // 2)
            self.peak_modes = max(self.peak_modes, modes)
        if collapsed or never_spread:
            row["diag_warning_collapse"] = 1.0
            where = (f"modes covered {modes} of {self.spec.num_modes} (peak {self.peak_modes}), "
                     if self.spec is not None else "")
            self._warn("collapse", step,
                       f"sample diversity has collapsed ({where}generated samples spread {div:.2f}x as much as "
                       f"the data, peak {self.peak_diversity:.2f}x): the generator covers few modes. Try packing "
                       "the discriminator (toy-mlp-d args.pack: 2-4), lower learning rates (optim_g.lr, optim_d.lr), "
                       "a larger noise dimension (noise.dim), or restart from an earlier checkpoint.")
        self.peak_diversity = max(self.peak_diversity, div)

    # -- the callback ------------------------------------------------------------------

    def __call__(self, s: TrainState, st: StepStats) -> None:
        step = st.step
        if step % self.every == 0 or step == 1:
            row = self.measure(s, st)
            if self.on_measured is not None:
                self.on_measured(step, row)
            self.check(step, row)
            self.pending, self.latest = row, row
            self.bar_text = self.postfix(row)
        if step % self.log_every == 0 or step == 1:
            self.log_row, self.pending = self.pending, {}
        else:
            self.log_row = {}

    def postfix(self, row: dict[str, float]) -> str:
        text = f" |gradG|={row['diag_g_grad_norm']:.3g} div={row['diag_diversity']:.2f}"
        if "diag_modes" in row and self.spec is not None:
            text += f" modes={int(row['diag_modes'])}/{self.spec.num_modes}"
        return text

    # -- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "peak_grad": self.peak_grad,
            "peak_diversity": self.peak_diversity,
            "peak_modes": self.peak_modes,
            "warned": sorted(self.warned),
            "pending": dict(self.pending),
            "latest": dict(self.latest),
        }

    def load_state_dict(self, state: Any) -> None:
        """Raises ValueError naming the entry when ``state`` is not a diagnostics state."""

        def number(key: str, v: Any) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{key}: expected a number, got {v!r}")
            return float(v)

        def row(key: str, v: Any) -> dict[str, float]:
            if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
                raise ValueError(f"{key}: expected a mapping of measurements")
            return {k: number(f"{key}.{k}", x) for k, x in v.items()}

        if not isinstance(state, dict):
            raise ValueError(f"expected a mapping, got {type(state).__name__}")
        missing = [k for k in ("peak_grad", "peak_diversity", "peak_modes", "warned", "pending", "latest") if k not in state]
        if missing:
            raise ValueError(f"missing {missing}")
        warned = state["warned"]
        if not isinstance(warned, list) or not all(isinstance(w, str) for w in warned):
            raise ValueError("warned: expected a list of names")
        peak_modes = state["peak_modes"]
        if isinstance(peak_modes, bool) or not isinstance(peak_modes, int):
            raise ValueError(f"peak_modes: expected an integer, got {peak_modes!r}")
        self.peak_grad = number("peak_grad", state["peak_grad"])
        self.peak_diversity = number("peak_diversity", state["peak_diversity"])
        self.peak_modes = peak_modes
        self.warned = set(warned)
        self.pending = row("pending", state["pending"])
        self.latest = row("latest", state["latest"])
        self.bar_text = self.postfix(self.latest) if {"diag_g_grad_norm", "diag_diversity"} <= self.latest.keys() else ""
