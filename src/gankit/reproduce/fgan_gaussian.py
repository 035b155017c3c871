"""f-GAN's 1-D experiment (Nowozin, Cseke, Tomioka 2016, section 4): fit one Gaussian
N(mu, sigma) to a two-component mixture under each f-divergence, once by f-GAN training
and once directly (quadrature of D_f(P || N(mu, sigma)) and Nelder-Mead), and compare.

Training is the runner's: one arm per divergence, preset ``fgan-gaussian-NAME`` (dataset
``mixture-1d``, G x = mu + sigma z, a small critic, the saddle generator loss; each
preset says why it departs from the base ``fgan-gaussian``). The reported f-GAN fit is the
mean of (mu, sigma) over the last quarter of generator steps (:class:`TailMean`, a
training callback writing ``tail.jsonl`` into the run directory). The direct minimiser is
the comparison, computed here.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import scipy.integrate
import scipy.optimize
import torch

from gankit.atomic import write_text
from gankit.config import Config
from gankit.data.datasets import Dataset
from gankit.data.mixture import MIXTURE, mixture_log_pdf, sample_mixture  # noqa: F401  (the data this fits)
from gankit.objectives.fgan import DIVERGENCES, get_divergence
from gankit.reproduce.runner import Arm, Options, Reproduction, Steps, Summary, Trained, register
from gankit.training.algorithm1 import StepStats
from gankit.training.state import TrainState

GRID = np.linspace(-12.0, 12.0, 12001)  # both densities are negligible outside
DRY_GRID = np.linspace(-12.0, 12.0, 1201)
FULL_STEPS = 12_000
AVERAGE_LAST = 0.25  # the reported fit: the mean of (mu, sigma) over this final share of steps
TAIL = "tail.jsonl"  # in each run directory: (step, mu, sigma) over that share


def divergence_to_gaussian(name: str, mu: float, sigma: float, mixture=MIXTURE, grid: np.ndarray = GRID) -> float:
    """D_f(P || N(mu, sigma)) = integral q f(p/q), by Simpson's rule on ``grid``."""
    div = get_divergence(name)
    lp = mixture_log_pdf(grid, mixture)
    lq = -0.5 * ((grid - mu) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))
    with np.errstate(all="ignore"):
        u = torch.from_numpy(np.exp(lp - lq))
        vals = (np.exp(lq) * div.f(u).numpy())
    vals = np.where(np.isnan(vals), np.inf, vals)  # 0 * inf where q underflows against p: unbounded
    return float(scipy.integrate.simpson(vals, x=grid))


# Nelder-Mead starts: the centre, each component, a wide Gaussian. Neyman chi^2 has two
# local minima (one per component) and TV is not differentiable at its minimiser, so one
# start can stop at the wrong point; the best of several is the direct minimiser.
STARTS = ((0.0, 1.0), (-1.0, 0.6), (1.5, 0.9), (0.0, 1.5))


def direct_minimiser(
    name: str, start: Optional[tuple[float, float]] = None, mixture=MIXTURE, grid: np.ndarray = GRID, maxiter: int = 4000,
    starts: Sequence[tuple[float, float]] = STARTS,
) -> tuple[float, float, float]:
    """(mu, sigma, D_f) minimising D_f(P || N(mu, sigma)): the best Nelder-Mead result over
    ``starts`` (or from ``start`` alone), derivative-free because TV has a kink there."""
    fun = lambda th: divergence_to_gaussian(name, th[0], math.exp(th[1]), mixture, grid)  # noqa: E731
    best = None
    for s0 in [start] if start is not None else starts:
        r = scipy.optimize.minimize(fun, [s0[0], math.log(s0[1])], method="Nelder-Mead",
                                    options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": maxiter})
        if best is None or r.fun < best.fun:
            best = r
    assert best is not None
    return float(best.x[0]), float(math.exp(best.x[1])), float(best.fun)


def gaussian_of(G: torch.nn.Module) -> tuple[float, float]:
    """(mu, sigma) of a ``gaussian-1d`` generator."""
    return float(G.mu.detach()), float(torch.exp(G.log_sigma.detach()))


class TailMean:
    """Appends G's (mu, sigma) to ``path`` after every generator step past ``from_step``; a
    resumed run first drops the rows from the steps it trains again."""

    def __init__(self, path: Path, from_step: int) -> None:
        self.path, self.from_step = path, from_step
        self.started = False

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if not self.started:
            self.started = True
            kept = [line for line in read_rows(self.path) if line["step"] < st.step]
            write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        if st.step <= self.from_step:
            return
        mu, sigma = gaussian_of(s.G)
        with self.path.open("a") as f:
            f.write(json.dumps({"step": st.step, "mu": mu, "sigma": sigma}) + "\n")


def read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a half-written last line from a crash
    return rows


def callbacks(cfg: Config, data: Dataset, run_dir: Path, opts: Options) -> list:
    return [TailMean(run_dir / TAIL, int(cfg.train.steps * (1 - AVERAGE_LAST)))]


def fitted(t: Trained) -> tuple[float, float]:
    """The reported f-GAN fit of a trained arm: the mean of its tail rows (G's final
    parameters when it has none)."""
    rows = read_rows(t.run_dir / TAIL)
    if not rows:
        return gaussian_of(t.state.G)
    return float(np.mean([r["mu"] for r in rows])), float(np.mean([r["sigma"] for r in rows]))


def arms(opts: Options) -> list[Arm]:
    return [Arm(name, f"fgan-gaussian-{name}", Steps(full=FULL_STEPS)) for name in DIVERGENCES]


def summarize(runs: list[Trained], opts: Options) -> Summary:
    grid, maxiter = (DRY_GRID, 60) if opts.dry_run else (GRID, 4000)  # dry run: a coarse grid and a short search
    rows, per = [], {}
    for name in dict.fromkeys(t.arm.key for t in runs):
        mu_d, sd_d, div_d = direct_minimiser(name, grid=grid, maxiter=maxiter)
        mu, sd = np.mean([fitted(t) for t in runs if t.arm.key == name], axis=0).tolist()  # over seeds, where several
        err_mu, err_sd = abs(mu - mu_d), abs(sd - sd_d)
        per[name] = {
            "direct_mu": mu_d, "direct_sigma": sd_d, "direct_divergence": div_d,
            "fgan_mu": mu, "fgan_sigma": sd, "fgan_divergence": divergence_to_gaussian(name, mu, sd, grid=grid),
            "mu_error": err_mu, "sigma_error": err_sd,
        }
        rows.append((get_divergence(name).label, f"{mu_d:.3f}", f"{sd_d:.3f}", f"{mu:.3f}", f"{sd:.3f}", f"{err_mu:.3f}", f"{err_sd:.3f}"))
    max_mu = max(r["mu_error"] for r in per.values())
    max_sd = max(r["sigma_error"] for r in per.values())
    base = runs[0].cfg
    settings = {
        "mixture": [{"weight": w, "mean": m, "std": s} for w, m, s in MIXTURE],
        "data_points": len(runs[0].data.train),
        "presets": {t.arm.key: t.arm.preset for t in runs},
        "generator": "gaussian-1d: mu + sigma z, start (0, 1)",
        "generator_loss": "saddle",
        "steps": base.train.steps, "batch": base.data.batch_size,
        "reported_fgan_fit": f"mean of (mu, sigma) over the last {AVERAGE_LAST:.0%} of generator steps (and over seeds)",
        "direct_fit": f"Simpson's rule on {len(grid)} points of [{grid[0]}, {grid[-1]}], best Nelder-Mead over "
                      f"(mu, log sigma) from {list(STARTS)}",
    }
    notes = [
        f"Largest errors: mu {max_mu:.3f}, sigma {max_sd:.3f} (target: both within 0.05).",
        f"Mixture {settings['mixture']}; {settings['data_points']} samples (dataset `mixture-1d`). f-GAN: presets "
        f"`fgan-gaussian-NAME` (base `fgan-gaussian`; each says why it departs from it), {base.train.steps} generator "
        f"steps; {settings['reported_fgan_fit']}; saddle generator loss. Direct: {settings['direct_fit']}.",
        "Run directories: `runs/NAME/seed-N` (rerunning the command resumes them).",
        *(f"`{name}` follows the paper's table: its D_f (`direct_divergence`, `fgan_divergence` in the result) is "
          f"{DIVERGENCES[name].value}."
          for name in per if DIVERGENCES[name].value),
    ]
    result = {"max_mu_error": max_mu, "max_sigma_error": max_sd, **per}
    headers = ["divergence", "direct mu", "direct sigma", "f-GAN mu", "f-GAN sigma", "|d mu|", "|d sigma|"]
    return Summary(result, headers, rows, notes, settings)


register(Reproduction(
    name="fgan-gaussian",
    title="f-GAN: a Gaussian fitted to a 1-D mixture under every f-divergence (Nowozin et al. 2016, section 4)",
    description="f-GAN: fit N(mu, sigma) to a 1-D mixture under every f-divergence vs the direct minimiser",
    arms=arms,
    summarize=summarize,
    callbacks=callbacks,
))
