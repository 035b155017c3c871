"""WGAN's claim (Arjovsky, Chintala, Bottou 2017, section 4.2): the critic's estimate of the
Wasserstein distance falls as sample quality improves.

We train the ``wgan`` preset (RMSProp 0.00005, c = 0.01, m = 64, n_critic = 5) on MNIST
and every ``eval_every`` generator steps record

- the critic's estimate: E f(x) - E f(G(z)) = -(critic loss), averaged over the critic
  steps since the last record (the paper plots the training-time estimate);
- sample quality: the digit classifier's Fréchet distance (``cfd``, the package's
  Inception-free FID: Gaussians fitted to the shipped MNIST classifier's 128-d features
  of 5,000 samples and of the 10,000 test images; lower is better). Why this measure: it
  is a distance between distributions, like the Wasserstein estimate it is compared with,
  it sees both sample quality and diversity, and on 5,000 samples its noise (measured at
  the end of the run from independent noise draws, ``cfd_noise_sd``) is small against its
  change over a run. Beside it, the Parzen log-likelihood of 2,000 test images under
  2,000 samples (sigma on 500 validation images), the package's older ranking.

``spearman_estimate_quality`` is Spearman's rho between the estimate and the cfd: both
should fall together, so the claim holds when rho is near +1 (``spearman_estimate_parzen``
is rho between the estimate and minus the Parzen figure, same sign convention). Like the
released code, the critic gets 100 steps for the first 25 generator steps and every 500th
(the preset's ``train.k_warmup``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from gankit.atomic import write_text
from gankit.config import Config
from gankit.data.datasets import Dataset
from gankit.metrics.classifier import ClassifierFD
from gankit.metrics.parzen import parzen_window
from gankit.reproduce.runner import Arm, Options, Reproduction, Steps, Summary, Trained, register, table
from gankit.training.algorithm1 import StepStats
from gankit.training.build import generate
from gankit.training.generator import sample_noise
from gankit.training.state import TrainState

DEFAULT_STEPS = 4000
FULL_STEPS = 100_000
EVAL_EVERY = 250
PARZEN_SAMPLES, PARZEN_VALID, PARZEN_TEST = 2000, 500, 2000
CFD_SAMPLES, CFD_REAL = 5000, 10_000


class EstimateAndQuality:
    """Every ``every`` steps: the mean critic estimate since the last record, cfd and Parzen."""

    def __init__(self, path: Path, data: Dataset, every: int, cfg, n_samples: int, n_valid: int, n_test: int, seed: int,
                 cfd: ClassifierFD, n_cfd: int, skip_first: int = 0) -> None:
        self.path, self.data, self.every, self.cfg = path, data, every, cfg
        self.n_samples, self.valid, self.test = n_samples, data.valid.x[:n_valid], data.test.x[:n_test]
        self.cfd, self.n_cfd = cfd, n_cfd
        self.skip_first = skip_first  # the warm-up steps: the critic is still far from its sup there
        self.noise_seed = seed + 10_000
        self.window: list[float] = []
        self.rows: list[dict[str, float]] = []
        self.started = False

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if not self.started:  # on resume keep the rows up to the checkpoint's step
            self.started = True
            if self.path.exists():
                old = [json.loads(l) for l in self.path.read_text().splitlines() if l.strip()]
                self.rows = [r for r in old if r["step"] < st.step]
        if st.step > self.skip_first:
            self.window.append(-float(st.d_loss))
        if st.step % self.every:
            return
        noise = sample_noise(self.cfg, {"num_classes": 0}, self.noise_seed)
        x = generate(s.G, max(self.n_samples, self.n_cfd), noise, self.cfg.data.pixel_range)
        pz = parzen_window(x[: self.n_samples], self.valid, self.test)
        self.rows.append({
            "step": st.step,
            "estimate": sum(self.window) / len(self.window) if self.window else float("nan"),
            "cfd": self.cfd(x[: self.n_cfd]),
            "parzen_mean": pz.mean,
            "parzen_se": pz.se,
            "parzen_sigma": pz.sigma,
        })
        self.window = []
        write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.rows))


def _plot(path: Path, rows: list[dict[str, float]]) -> None:
    """Estimate and cfd against the generator step (two y axes), as the paper's Figure 3."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [r["estimate"] for r in rows], "b.-", label="critic estimate")
    ax.set_xlabel("generator step")
    ax.set_ylabel("critic estimate (E f(x) - E f(G(z)))", color="b")
    ax2 = ax.twinx()
    ax2.plot(steps, [r["cfd"] for r in rows], "r.-", label="cfd")
    ax2.set_ylabel("classifier Fréchet distance (cfd)", color="r")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


CURVE = "curve.jsonl"  # in the run directory: a resumed run keeps the records up to its checkpoint


def callbacks(cfg: Config, data: Dataset, run_dir: Path, opts: Options) -> list:
    every = 2 if opts.dry_run else (2000 if opts.full else EVAL_EVERY)
    n_samples, n_valid, n_test, n_cfd, n_real = ((100, 50, 100, 200, 200) if opts.dry_run else
                                                 (PARZEN_SAMPLES, PARZEN_VALID, PARZEN_TEST, CFD_SAMPLES, CFD_REAL))
    cfd = ClassifierFD(data.name, data.test.x[:min(n_real, data.test.x.shape[0])])
    warmup = cfg.train.k_warmup
    tracker = EstimateAndQuality(run_dir / CURVE, data, every, cfg, n_samples, n_valid, n_test, cfg.seed, cfd, n_cfd,
                                 skip_first=warmup.first if warmup is not None else 0)
    return [tracker]


def _warmup_text(cfg: Config) -> str:
    w = cfg.train.k_warmup
    if w is None:
        return f"none ({cfg.train.k} critic steps every generator step)"
    every = f" and every {w.every}th" if w.every else ""
    return f"{w.steps} critic steps for the first {w.first} generator steps{every}, else {cfg.train.k}"


def summarize(runs: list[Trained], opts: Options) -> Summary:
    from scipy.stats import spearmanr

    t = runs[0]
    cfg, seed = t.cfg, t.seed
    rows = [json.loads(line) for line in (t.run_dir / CURVE).read_text().splitlines() if line.strip()]
    n_cfd = CFD_SAMPLES if not opts.dry_run else 200
    cfd = ClassifierFD(t.data.name, t.data.test.x[:CFD_REAL if not opts.dry_run else 200])
    # the quality measure's own noise: cfd of the final G on independent noise draws
    redraws = [cfd(generate(t.state.G, n_cfd, sample_noise(cfg, {"num_classes": 0}, seed + 20_000 + i), cfg.data.pixel_range))
               for i in range(3)]
    noise_sd = float(torch.tensor(redraws).std())
    scored = [r for r in rows if r["estimate"] == r["estimate"]]  # a record with no estimate (nan) is left out
    est = [r["estimate"] for r in scored]
    rho = float(spearmanr(est, [r["cfd"] for r in scored]).statistic) if len(scored) >= 3 else float("nan")
    rho_parzen = float(spearmanr(est, [-r["parzen_mean"] for r in scored]).statistic) if len(scored) >= 3 else float("nan")
    cfd_change = max(r["cfd"] for r in rows) - min(r["cfd"] for r in rows) if rows else float("nan")
    if rows:
        _plot(t.out / "curve.png", rows)
    settings = {
        "nets": f"generator {cfg.generator.name}, critic {cfg.discriminator.name} (the paper's MLP nets; critic without dropout)",
        "critic_warmup": _warmup_text(cfg),
        "quality_measure": "cfd: Fréchet distance between Gaussians fitted to the shipped MNIST digit classifier's "
        f"128-d features of {n_cfd} samples and of the first test images; lower is better",
        "secondary_measure": "Parzen-window log-likelihood of test images under a few thousand samples",
        "estimate": "mean of -(critic loss) = E f(x) - E f(G(z)) over the generator steps since the previous record "
        "(one value per generator step; the first warm-up steps, where the critic is still catching up, left out)",
        "torch_threads": torch.get_num_threads(),
    }
    result = {
        "spearman_estimate_quality": rho,
        "spearman_note": "Spearman rho between the critic's estimate and the cfd (a distance: lower is better), "
        "so +1 means the estimate falls exactly as quality improves",
        "spearman_estimate_parzen": rho_parzen,
        "cfd_noise_sd": noise_sd,
        "cfd_final_redraws": redraws,
        "cfd_change_over_run": cfd_change,
        "curve": rows,
    }
    table_rows = [(r["step"], f"{r['estimate']:.5f}", f"{r['cfd']:.2f}", f"{r['parzen_mean']:.1f} ± {r['parzen_se']:.1f}")
                  for r in rows]
    notes = [
        f"Spearman rho(estimate, cfd) = **{rho:.3f}** over {len(scored)} records "
        f"(preset `{t.arm.preset}`, {t.state.step} generator steps, seed {seed}); rho(estimate, -Parzen) = {rho_parzen:.3f}.",
        f"Quality: {settings['quality_measure']}. Its noise: sd {noise_sd:.2f} over 3 independent draws of the final "
        f"generator, against a range of {cfd_change:.2f} over the run.",
        f"The estimate: {settings['estimate']}. Nets: {settings['nets']}.",
        f"Critic warm-up (`train.k_warmup`, as the released code): {settings['critic_warmup']}.",
        "Curve: `curve.png`.",
    ]
    return Summary(result, ["step", "critic estimate", "cfd", "Parzen LL (nats)"], table_rows, notes, settings)


register(Reproduction(
    name="wgan",
    title="WGAN (Arjovsky et al. 2017): does the critic's estimate track sample quality? (MNIST)",
    description="WGAN: the critic's estimate falls as sample quality (classifier FD) improves, MNIST",
    arms=lambda opts: [Arm("wgan", "wgan", Steps(default=DEFAULT_STEPS, full=FULL_STEPS))],
    summarize=summarize,
    callbacks=callbacks,
))
