"""Toy 2-D mixtures (PacGAN / VEEGAN protocol): modes, high-quality fraction, reverse KL.

Two settings, 10 seeds each, on the ring of 8 and the grid of 25 Gaussians:

- ``gan-pacgan-arch``: the plain GAN with PacGAN's architecture (presets
  ``toy-pacgan-ring8`` / ``toy-pacgan-grid25``, pack 1), reported as it comes out;
- ``gankit-default``: gankit's default recipe for low-dimensional data (presets
  ``toy-ring8`` / ``toy-grid25``).

Each run trains through ``gankit.training.run.train`` (run directories under DIR/runs),
then 2,500 samples are scored with the registered metrics ``modes2500``,
``hq_fraction2500`` and ``reverse_kl2500``. The table gives mean ± standard error over
seeds beside PacGAN's published rows.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.metrics.registry import EvalContext, evaluate
from gankit.reproduce.registry import register_reproduction
from gankit.reproduce.report import table, write_result
from gankit.training.build import generate
from gankit.training.generator import load_generator, sample_from, sample_noise
from gankit.training.run import train

SETTINGS = [("gankit-default", "toy-{data}", "gankit default recipe (ours)"),
            ("gan-pacgan-arch", "toy-pacgan-{data}", "GAN, PacGAN's architecture (ours)")]
DATASETS = [("ring", "ring8", 8), ("grid", "grid25", 25)]
SEEDS = 10
# PacGAN (Lin et al. 2018), as gathered in PROTOCOLS.md: (modes, HQ %, reverse KL) per dataset.
# PacGAN2 and PacGAN3 rows were not transcribed there; they are left blank, not guessed.
PUBLISHED = [
    ("GAN (PacGAN paper)", "6.3 ± 0.5", "98.2", "0.45", "17.3 ± 0.8", "94.8", "0.70"),
    ("PacGAN2 (PacGAN paper)", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"),
    ("PacGAN3 (PacGAN paper)", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"),
    ("PacGAN4 (PacGAN paper)", "7.8", "95.9", "0.07", "24.8 ± 0.2", "93.6", "0.04"),
]
METRICS = ["modes2500", "hq_fraction2500", "reverse_kl2500"]
DRY_RUN_OVERRIDES = ["train.steps=10", "log.every=5", "log.diagnostics_every=5", "log.checkpoint_every=10"]


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n)); a non-finite value (reverse KL of a run
    with no high-quality sample) makes both infinite rather than hiding it."""
    a = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        return math.inf, math.inf
    se = float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0
    return float(a.mean()), se


def score_run(run_dir: Path, seed: int, scale: float) -> dict[str, float]:
    """The mode metrics of a finished run, on samples from its newest checkpoint, plus the
    mode count under a stricter rule (``modes2500_fifth``: at least a fifth of a uniform
    share, n/(5K), of high-quality samples) on the same samples, for comparison only."""
    from gankit.data.toy import toy_spec
    from gankit.metrics.modes import N_SAMPLES, mode_stats

    G, cfg, context, _ = load_generator(run_dir)
    data = load_dataset(cfg.data.name)
    noise = sample_noise(cfg, context, seed + 10_000)
    ctx = EvalContext(sample=lambda n: generate(G, n, noise, cfg.data.pixel_range), data=data, seed=seed, scale=scale)
    out = evaluate(METRICS, ctx)
    spec = toy_spec(cfg.data.name)
    strict = mode_stats(spec.to_physical(ctx.samples(N_SAMPLES)), spec, min_fraction=0.2)
    out["modes2500_fifth"] = float(strict.modes)
    return out


def draw_samples(path: Path, panels: list[tuple[str, Any, Any]]) -> None:
    """One scatter per (title, samples in physical coordinates, spec)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.atomic import atomic_path

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2), dpi=100, squeeze=False)
    for ax, (title, x, spec) in zip(axes[0], panels):
        c = spec.centers.numpy()
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color="tab:blue")
        ax.scatter(c[:, 0], c[:, 1], s=12, marker="x", color="red")
        lim = spec.half_width
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


@register_reproduction("toy2d", "Toy 2-D mixtures (ring 8, grid 25): modes, HQ fraction, reverse KL over 10 seeds")
def run(out: Path, *, full: bool = False, paper_exact: bool = False, dry_run: bool = False, seed: int = 0) -> dict[str, Any]:
    from gankit.data.toy import toy_spec

    out = Path(out)
    t0 = time.time()
    seeds = list(range(seed, seed + (1 if dry_run else SEEDS)))
    scale = 0.1 if dry_run else 1.0
    per_run: dict[str, dict[str, list[dict[str, float]]]] = {}
    panels = []
    for key, preset_fmt, _ in SETTINGS:
        per_run[key] = {}
        for short, data_name, k in DATASETS:
            preset = preset_fmt.format(data=data_name)
            rows = []
            for s in seeds:
                overrides = [f"seed={s}"] + (DRY_RUN_OVERRIDES if dry_run else [])
                cfg = load_config(preset, overrides)
                run_dir = out / "runs" / key / data_name / f"seed-{s}"
                t1 = time.time()
                train(cfg, run_dir, progress=False)
                figures = score_run(run_dir, s, scale)
                figures.update(seed=s, preset=preset, overrides=overrides, train_seconds=round(time.time() - t1, 1))
                rows.append(figures)
                print(f"{key} {data_name} seed {s}: {figures['modes2500']:.0f}/{k} modes, "
                      f"HQ {100 * figures['hq_fraction2500']:.1f}%, rKL {figures['reverse_kl2500']:.3f} "
                      f"({figures['train_seconds']:.0f} s)", flush=True)
            per_run[key][short] = rows
            spec = toy_spec(data_name)
            x = spec.to_physical(sample_from(out / "runs" / key / data_name / f"seed-{seeds[0]}", 2500, seed=seeds[0]))
            panels.append((f"{key}, {data_name}, seed {seeds[0]}", x.numpy(), spec))
    draw_samples(out / "samples.png", panels)

    summary: dict[str, dict[str, Any]] = {}
    for key, _, _ in SETTINGS:
        summary[key] = {}
        for short, _, k in DATASETS:
            rows = per_run[key][short]
            m, m_se = mean_se([r["modes2500"] for r in rows])
            hq, hq_se = mean_se([r["hq_fraction2500"] for r in rows])
            rkl, rkl_se = mean_se([r["reverse_kl2500"] for r in rows])
            summary[key][short] = {
                "modes_mean": m, "modes_se": m_se, "hq_mean": hq, "hq_se": hq_se, "rkl_mean": rkl, "rkl_se": rkl_se,
                "full_seeds": sum(1 for r in rows if r["modes2500"] == k), "seeds": len(rows),
            }
    wall = time.time() - t0

    def cells(key: str) -> list[str]:
        out_cells = []
        for short, _, _ in DATASETS:
            s = summary[key][short]
            out_cells += [f"{s['modes_mean']:.1f} ± {s['modes_se']:.1f} ({s['full_seeds']}/{s['seeds']} full)",
                          f"{100 * s['hq_mean']:.1f} ± {100 * s['hq_se']:.1f}", f"{s['rkl_mean']:.3f} ± {s['rkl_se']:.3f}"]
        return out_cells

    rows_tab = [list(r) for r in PUBLISHED] + [[title, *cells(key)] for key, _, title in SETTINGS]
    tab = table(["", "ring modes /8", "ring HQ %", "ring rKL", "grid modes /25", "grid HQ %", "grid rKL"], rows_tab)
    d = summary["gankit-default"]
    result = {
        "ring_modes_mean": d["ring"]["modes_mean"], "ring_hq_mean": d["ring"]["hq_mean"],
        "ring_rkl_mean": d["ring"]["rkl_mean"], "ring_full_seeds": d["ring"]["full_seeds"],
        "grid_modes_mean": d["grid"]["modes_mean"], "grid_hq_mean": d["grid"]["hq_mean"],
        "grid_rkl_mean": d["grid"]["rkl_mean"], "grid_full_seeds": d["grid"]["full_seeds"],
        "summary": summary,
        "wall_seconds": round(wall, 1),
        "settings": {"seeds": seeds, "dry_run": dry_run, "samples": max(1, int(round(2500 * scale))),
                     "mode_rule": "captured: >= 1 high-quality (< 3 sigma) sample nearest to the mode (VEEGAN text, "
                                  "PacGAN code); rKL over HQ samples; modes2500_fifth per run: >= n/(5K) HQ samples",
                     "runs": per_run},
    }
    report = "\n".join([
        "# Toy 2-D mixtures (PacGAN protocol)",
        "",
        tab,
        "",
        f"Mean ± standard error over seeds {seeds[0]}..{seeds[-1]}; {result['settings']['samples']} samples per run. "
        "High quality: within 3σ of the nearest mode; a mode counts when at least one high-quality sample lands "
        "on it (VEEGAN's rule, as PacGAN's released code counts it); reverse KL of the high-quality mode "
        "histogram against uniform. Per-run counts under a stricter rule (>= a fifth of a uniform share) are "
        "in result.json (`modes2500_fifth`).",
        "Presets: `toy-ring8`/`toy-grid25` (gankit default), `toy-pacgan-ring8`/`toy-pacgan-grid25` (PacGAN "
        "architecture, pack 1). Our step budgets are far shorter than PacGAN's; see docs/results/theory-toy.md.",
        "Samples of the first seed: `samples.png`. Run directories: `runs/`.",
        f"Wall time {wall:.0f} s.",
        "" if not dry_run else "\n**Dry run**: 1 seed, a few steps; the figures mean nothing.",
    ])
    write_result(out, "toy2d", result, report + "\n")
    print(tab)
    print(f"\nwall time {wall:.0f} s; result in {out / 'result.json'}")
    return result
