"""Conditional GAN (Mirza & Osindero 2014) on MNIST: does G draw the digit it is asked for?

``gankit reproduce cgan-mnist`` trains preset ``cgan-mnist`` (DCGAN nets; the label is
concatenated to z in G and stacked as input planes in D), then asks for 1,000 samples of
each digit (10,000 in all) and has the held-out digit classifier label them (``cacc10k``):
``label_accuracy`` is the share it labels with the requested digit.
"""
from __future__ import annotations

from gankit.reproduce.runner import Arm, Options, Reproduction, Steps, Summary, Trained, register

FULL_STEPS = 28_000


def summarize(runs: list[Trained], opts: Options) -> Summary:
    t = runs[0]
    acc = t.figures["cacc10k"]
    samples = t.ctx.count(10_000)
    rows = [(f"cGAN, preset {t.arm.preset} ({t.state.step} steps, ours)", f"{100 * acc:.2f}%"),
            ("target", ">= 99%")]
    notes = [
        f"Preset `{t.arm.preset}`, {t.state.step} generator steps, seed {t.seed}. {samples} samples, the same "
        "number of each digit; the share the held-out digit classifier labels with the requested digit.",
    ]
    result = {"label_accuracy": acc, "train_seconds": round(t.train_seconds, 1)}
    settings = {"label_metric": "cacc10k", "samples": samples, "all_figures": t.figures}
    return Summary(result, ["Model", "label accuracy (held-out digit classifier)"], rows, notes, settings)


register(Reproduction(
    name="cgan-mnist",
    title="Conditional GAN on MNIST (Mirza & Osindero 2014)",
    description="Conditional GAN on MNIST: digit classifier agrees with the requested label (10,000 samples)",
    arms=lambda opts: [Arm("cgan", "cgan-mnist", Steps(full=FULL_STEPS))],
    summarize=summarize,
    metrics=("cacc10k",),
))
