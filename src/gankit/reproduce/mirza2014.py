"""Table 1 of Mirza & Osindero (2014): Parzen-window log-likelihood of a conditional GAN on MNIST.

Default: the paper's conditional nets and SGD recipe shortened to fit 15 minutes on 2 CPU
cores (preset ``mirza2014-fast``). ``--paper-exact``: the paper's schedule as written
(preset ``mirza2014``) for the same number of steps. ``--full``: 125,000 steps (250
epochs, where the momentum ramp ends). ``--seeds N``: N seeds.

Protocol (§4.1): 1,000 samples of each of the 10 classes, a Gaussian Parzen window fitted to
them, the test set's mean log-likelihood ± its standard error (``cparzen10k``; sigma picked
on validation images, as Goodfellow et al.). Their stopping point is the best validation
log-likelihood: the run keeps the step with the best ``cparzen10k_valid`` as
``best.safetensors``, and that step's generator gives the headline figure. The last step's
figure, the label accuracy (``cacc10k``) and the digit-classifier Frechet distance
(``cfd10k``) stand beside it.
"""
from __future__ import annotations

import json

from gankit.config import load_config
from gankit.metrics.registry import evaluate
from gankit.reproduce.runner import (EVAL_NOISE_OFFSET, Arm, Options, Reproduction, Steps, Summary, Trained, mean_se,
                                     register)
from gankit.training.build import sampling_description
from gankit.training.evaluate import BEST, BEST_INFO, generator_context
from gankit.training.generator import load_generator

PUBLISHED = [  # Table 1 (nats)
    ("DBN", "138 ± 2"),
    ("Stacked CAE", "121 ± 1.6"),
    ("Deep GSN", "214 ± 1.1"),
    ("Adversarial nets", "225 ± 2"),
    ("Conditional adversarial nets", "132 ± 1.8"),
]
FULL_STEPS = 125_000  # 250 epochs of 500 minibatches: the momentum ramp's end
STOPPED = ("cparzen10k", "cfd10k")  # scored again on the stopping point's generator


def arms(opts: Options) -> list[Arm]:
    if opts.paper_exact:
        fast_steps = load_config("mirza2014-fast").train.steps
        return [Arm("paper-exact", "mirza2014", Steps(default=fast_steps, full=FULL_STEPS))]
    return [Arm("default", "mirza2014-fast", Steps(full=FULL_STEPS))]


def stopped_figures(t: Trained, opts: Options) -> dict[str, float]:
    """``cparzen10k`` and ``cfd10k`` of the step with the best validation figure, and that
    step (``stop_*``); none when the run kept no best step (it never evaluated)."""
    path = t.run_dir / BEST
    if not path.is_file():
        return {}
    G, _, context, step = load_generator(path, t.state.noise.device)
    ctx = generator_context(G, t.cfg, context.get("num_classes", 0), t.data, t.seed + EVAL_NOISE_OFFSET, t.seed,
                            opts.dry_run)
    out = {f"stop_{k}": v for k, v in evaluate(list(STOPPED), ctx).items()}
    out["stop_step"] = float(step)
    info = json.loads((t.run_dir / BEST_INFO).read_text())
    out["stop_valid_mean"] = float(info["value"])
    return out


def _headline(t: Trained) -> tuple[float, float, float]:
    """(mean, se, sigma) at the stopping point, or at the last step when there is none."""
    f = t.figures
    p = "stop_cparzen10k" if "stop_cparzen10k_mean" in f else "cparzen10k"
    return f[f"{p}_mean"], f[f"{p}_se"], f[f"{p}_sigma"]


def summarize(runs: list[Trained], opts: Options) -> Summary:
    first = runs[0]
    f = first.figures
    recipe = "paper-exact" if opts.paper_exact else "default"
    heads = [_headline(r) for r in runs]
    rows = [(f"{name} (paper)", v) for name, v in PUBLISHED]
    for r, (m, se, _) in zip(runs, heads):
        where = (f"stopped at step {int(r.figures['stop_step'])} of {r.state.step}" if "stop_step" in r.figures
                 else f"step {r.state.step}")
        seed = f", seed {r.seed}" if len(runs) > 1 else ""
        rows.append((f"gankit cGAN ({recipe} recipe{seed}, {where}, ours)", f"{m:.1f} ± {se:.1f}"))
    if len(runs) > 1:
        m, se = mean_se([h[0] for h in heads])
        rows.append((f"gankit cGAN ({recipe} recipe, mean over {len(runs)} seeds ± s.e.)", f"{m:.1f} ± {se:.1f}"))
    if "stop_step" in f:
        rows.append((f"gankit cGAN, last step {first.state.step} (ours)",
                     f"{f['cparzen10k_mean']:.1f} ± {f['cparzen10k_se']:.1f}"))
    rows.append(("10,000 training images as samples (ours)",
                 f"{f['train_reference_mean']:.1f} ± {f['train_reference_se']:.1f}"))
    mean, se, sigma = heads[0]
    ctx = first.ctx
    settings = {
        "samples": ctx.count(10_000),
        "samples_per_class": ctx.count(10_000) // (first.data.num_classes or 10),
        "test_examples": ctx.count(len(first.data.test)),
        "valid_examples_for_sigma": ctx.count(1000),
        "sigma": sigma,
        "train_reference_sigma": f["train_reference_sigma"],
        "sampled_from": sampling_description(first.cfg),
        "stopping_metric": first.cfg.log.best_metric,
    }
    cfd = f.get("stop_cfd10k", f["cfd10k"])
    result = {
        "parzen_mean": mean,
        "parzen_se": se,
        "parzen_sigma": sigma,
        "stop_step": int(f["stop_step"]) if "stop_step" in f else first.state.step,
        "last_parzen_mean": f["cparzen10k_mean"],
        "last_parzen_se": f["cparzen10k_se"],
        "train_reference_mean": f["train_reference_mean"],
        "train_reference_se": f["train_reference_se"],
        "cfd10k": cfd,
        "label_accuracy": f["cacc10k"],
        "train_seconds": round(sum(r.train_seconds for r in runs), 1),
    }
    if len(runs) > 1:
        result["seeds"] = [h[0] for h in heads]
    stop = (f"the step with the best validation figure ({settings['stopping_metric']}, checked every "
            f"{first.cfg.log.eval_every} steps), step {result['stop_step']}" if "stop_step" in f
            else "the last step (no validation check ran)")
    notes = [
        f"Preset `{first.arm.preset}`, {first.state.step} generator steps, seed(s) {', '.join(str(r.seed) for r in runs)}; "
        f"the figure is of {stop}.",
        f"Parzen window: {settings['samples_per_class']} samples of each of the 10 digits ({settings['samples']} in all), "
        f"sigma {sigma:.3f} chosen from logspace(-1, 0, 10) on {settings['valid_examples_for_sigma']} validation images, "
        f"mean ± standard error over {settings['test_examples']} test images.",
        f"Samples from the {settings['sampled_from']}; the held-out digit classifier labels {100 * f['cacc10k']:.1f}% of "
        f"the last step's samples with the requested digit; digit-classifier Frechet distance to the test set "
        f"(cfd10k, lower is better; blur raises it) {cfd:.1f}.",
        "The estimator has high variance and works poorly in high dimensions (Goodfellow et al.); "
        "the training-data row is its ceiling.",
    ]
    return Summary(result, ["Model", "MNIST Parzen log-likelihood (nats)"], rows, notes, settings)


REPRODUCTION = register(Reproduction(
    name="mirza2014",
    title="Mirza & Osindero (2014), Table 1 (MNIST, conditional adversarial nets)",
    description="Table 1: Parzen log-likelihood of the conditional MNIST GAN (paper's nets, 1,000 samples per digit)",
    arms=arms,
    summarize=summarize,
    metrics=("cparzen10k", "parzen10k_train_reference", "cfd10k", "cacc10k"),
    options=("paper_exact",),
    extra_figures=stopped_figures,
))
