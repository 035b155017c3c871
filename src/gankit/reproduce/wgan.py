"""WGAN's claim (Arjovsky, Chintala, Bottou 2017, section 4.2): the critic's estimate of the
Wasserstein distance falls as sample quality improves.

We train the ``wgan`` preset (RMSProp 0.00005, c = 0.01, m = 64, n_critic = 5) on MNIST
and every ``eval_every`` generator steps record

- the critic's estimate: E f(x) - E f(G(z)) = -(critic loss), averaged over the critic
  steps since the last record (the paper plots the training-time estimate);
- sample quality: the Parzen-window log-likelihood of test images under 2,000 samples
  (sigma chosen on 500 validation images). Parzen is used because it is the metric this
  package has for MNIST now and it needs no trained network; with so few samples its
  absolute value is far below the 10k-sample figure, but it ranks checkpoints.

``spearman_estimate_quality`` is Spearman's rho between the estimate and the *negated*
quality (the estimate should fall as quality rises, so the claim holds when rho is near
+1). Like the released code, the critic gets 100 steps for the first 25 generator steps
and every 500th (a callback that sets ``state.k``; Algorithm 1 itself is unchanged).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from gankit.atomic import write_text
from gankit.cli.main import DRY_RUN_OVERRIDES
from gankit.config import load_config
from gankit.data.datasets import Dataset, load_dataset
from gankit.metrics.parzen import parzen_window
from gankit.reproduce.registry import register_reproduction
from gankit.reproduce.report import table, write_result
from gankit.training.algorithm1 import StepStats
from gankit.training.build import generate
from gankit.training.run import sample_noise, train
from gankit.training.state import TrainState

DEFAULT_STEPS = 3000
FULL_STEPS = 100_000
EVAL_EVERY = 200
PARZEN_SAMPLES, PARZEN_VALID, PARZEN_TEST = 2000, 500, 2000


class CriticWarmup:
    """n_critic = 100 for the first 25 generator steps and every 500th, else the preset's k
    (the released WGAN code's schedule: it lets the critic catch up before G moves)."""

    def __init__(self, k: int, every: int = 500, first: int = 25, many: int = 100) -> None:
        self.k, self.every, self.first, self.many = k, every, first, many

    def k_for(self, step: int) -> int:
        return self.many if step < self.first or step % self.every == 0 else self.k

    def __call__(self, s: TrainState, st: StepStats) -> None:
        s.k = self.k_for(s.step)  # the number of critic steps of the next iteration


class EstimateAndQuality:
    """Every ``every`` steps: the mean critic estimate since the last record, and Parzen quality."""

    def __init__(self, path: Path, data: Dataset, every: int, cfg, n_samples: int, n_valid: int, n_test: int, seed: int) -> None:
        self.path, self.data, self.every, self.cfg = path, data, every, cfg
        self.n_samples, self.valid, self.test = n_samples, data.valid.x[:n_valid], data.test.x[:n_test]
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
        self.window.append(-float(st.d_loss))
        if st.step % self.every:
            return
        noise = sample_noise(self.cfg, {"num_classes": 0}, self.noise_seed)
        x = generate(s.G, self.n_samples, noise, self.cfg.data.pixel_range)
        pz = parzen_window(x, self.valid, self.test)
        self.rows.append({
            "step": st.step,
            "estimate": sum(self.window) / len(self.window),
            "parzen_mean": pz.mean,
            "parzen_se": pz.se,
            "parzen_sigma": pz.sigma,
        })
        self.window = []
        write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.rows))


@register_reproduction("wgan", "WGAN: the critic's estimate falls as sample quality (Parzen) rises, MNIST")
def run(out: Path, *, full: bool = False, paper_exact: bool = False, dry_run: bool = False, seed: int = 0) -> dict[str, Any]:
    from scipy.stats import spearmanr

    steps = FULL_STEPS if full else DEFAULT_STEPS
    every = EVAL_EVERY if not full else 2000
    overrides = [f"seed={seed}", f"train.steps={steps}", f"log.checkpoint_every={every * 5}", "log.samples_every=1000"]
    n_samples, n_valid, n_test = PARZEN_SAMPLES, PARZEN_VALID, PARZEN_TEST
    if dry_run:
        overrides += DRY_RUN_OVERRIDES
        every, n_samples, n_valid, n_test = 2, 100, 50, 100
    cfg = load_config("wgan", overrides)
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.limit)
    out.mkdir(parents=True, exist_ok=True)
    tracker = EstimateAndQuality(out / "curve.jsonl", data, every, cfg, n_samples, n_valid, n_test, seed)
    warmup = CriticWarmup(cfg.train.k, first=2 if dry_run else 25, many=5 if dry_run else 100)
    t0 = time.time()
    state = train(cfg, out / "train", callbacks=[warmup, tracker])
    wall = time.time() - t0

    rows = tracker.rows
    est = [r["estimate"] for r in rows]
    quality = [r["parzen_mean"] for r in rows]
    rho = float(spearmanr(est, [-q for q in quality]).statistic) if len(rows) >= 3 else float("nan")
    tab = table(
        ["step", "critic estimate", f"Parzen LL ({n_samples} samples, nats)"],
        [(r["step"], f"{r['estimate']:.5f}", f"{r['parzen_mean']:.1f} ± {r['parzen_se']:.1f}") for r in rows],
    )
    settings = {
        "preset": "wgan",
        "overrides": overrides,
        "steps": state.step,
        "eval_every": every,
        "critic_warmup": {"first": warmup.first, "every": warmup.every, "n_critic": warmup.many},
        "quality_measure": f"Parzen-window log-likelihood of {n_test} test images, {n_samples} samples, "
        f"sigma chosen on {n_valid} validation images",
        "estimate": "mean of -(critic loss) = E f(x) - E f(G(z)) over the critic steps since the previous record",
        "seed": seed,
        "dry_run": dry_run,
        "torch_threads": torch.get_num_threads(),
    }
    result = {
        "spearman_estimate_quality": rho,
        "spearman_note": "Spearman rho between the critic's estimate and minus the Parzen log-likelihood "
        "(+1: the estimate falls exactly as quality rises)",
        "curve": rows,
        "wall_seconds": round(wall, 1),
        "settings": settings,
    }
    report = "\n".join([
        "# WGAN (Arjovsky et al. 2017): does the critic's estimate track sample quality? (MNIST)",
        "",
        tab,
        "",
        f"Spearman rho(estimate, -quality) = **{rho:.3f}** over {len(rows)} records "
        f"(preset `wgan`, {state.step} generator steps, seed {seed}, {wall:.0f} s).",
        f"Quality: {settings['quality_measure']}. The estimate: {settings['estimate']}.",
        "Critic warm-up as in the released code: 100 critic steps for the first 25 generator steps and every 500th.",
        "" if not dry_run else "\n**Dry run**: tiny data and sample counts; the figures mean nothing.",
    ])
    write_result(out, "wgan", result, report + "\n")
    print(tab)
    print(f"\nSpearman rho(estimate, -Parzen) = {rho:.3f}; wall time {wall:.0f} s; result in {out / 'result.json'}")
    return result
