"""DCGAN (Radford et al. 2015) on MNIST and Fashion-MNIST: FID and class balance.

``gankit reproduce dcgan-mnist`` trains preset ``dcgan-mnist`` (DCGAN nets with Lucic et
al.'s fully connected 1,024-unit layers, an average of G's weights, 36,000 steps), then
scores 10,000 samples of the averaged G (batch-norm statistics recomputed, as
``gankit sample`` draws it) with ``fid10k`` against the test set and with the held-out
digit classifier's class histogram (``classes10k``: KL from uniform).
``dcgan-fashion-mnist``: the same recipe on Fashion-MNIST, FID only.

Lucic et al. (2018) report 6.8 ± 0.5 for their best NS-GAN on MNIST with these nets
(batch 64, 20 epochs, best of a hyper-parameter search); ours add DCGAN's batch norm and
Adam settings, with no search, and sample from a weight average.
"""
from __future__ import annotations

from gankit.reproduce.runner import Arm, Options, Reproduction, Steps, Summary, Trained, register
from gankit.training.build import sampling_description

FULL_STEPS = 48_000
LUCIC_NS_GAN_MNIST = "6.8 ± 0.5"


def _summary(runs: list[Trained], opts: Options, with_classes: bool) -> Summary:
    t = runs[0]
    f, data = t.figures, t.cfg.data.name
    result = {"fid10k": f["fid10k"], "train_seconds": round(t.train_seconds, 1)}
    ours = [f"DCGAN, preset {t.arm.preset} ({t.state.step} steps, ours)", f"{f['fid10k']:.2f}"]
    headers = ["Model", f"{data} fid10k"]
    rows = []
    if data == "mnist":
        rows.append(["NS-GAN, Lucic et al. 2018 (best over settings; other nets)", LUCIC_NS_GAN_MNIST])
    if with_classes:
        result["class_kl"] = f["classes10k_kl"]
        headers.append("class-histogram KL from uniform")
        rows = [r + ["—"] for r in rows]
        ours.append(f"{f['classes10k_kl']:.4f}")
    rows.append(ours)
    samples = t.ctx.count(10_000)
    settings = {
        "samples": samples,
        "fid_real_split": "test",
        "fid_extractor": t.ctx.options["fid_extractor"].name if "fid_extractor" in t.ctx.options else "TF-FID Inception pool3",
        "sampled_from": sampling_description(t.cfg),
        "all_figures": f,
    }
    g = t.cfg.generator.args
    notes = [
        f"Preset `{t.arm.preset}` (DCGAN nets of width {g.get('width')}"
        + (f" with a fully connected {g['hidden']}-unit layer" if g.get("hidden") else "")
        + f", Adam 2e-4 beta1 0.5, batch {t.cfg.data.batch_size}), {t.state.step} generator steps, seed {t.seed}; "
        f"samples from the {settings['sampled_from']}, batch-norm statistics recomputed.",
        f"fid10k: {samples} generated samples against the first {samples} test images "
        f"({settings['fid_extractor']} features).",
        "Lucic et al.'s figure comes from their own training length and hyper-parameter search: compare with care.",
    ]
    return Summary(result, headers, rows, notes, settings)


register(Reproduction(
    name="dcgan-mnist",
    title="DCGAN on MNIST (Radford et al. 2015)",
    description="DCGAN on MNIST: fid10k vs the test set and digit-class KL of 10,000 samples",
    arms=lambda opts: [Arm("dcgan", "dcgan-mnist", Steps(full=FULL_STEPS))],
    summarize=lambda runs, opts: _summary(runs, opts, with_classes=True),
    metrics=("fid10k", "classes10k"),
))

register(Reproduction(
    name="dcgan-fashion-mnist",
    title="DCGAN on Fashion-MNIST (Radford et al. 2015)",
    description="DCGAN on Fashion-MNIST: fid10k vs the test set",
    arms=lambda opts: [Arm("dcgan", "dcgan-fashion-mnist", Steps(full=FULL_STEPS))],
    summarize=lambda runs, opts: _summary(runs, opts, with_classes=False),
    metrics=("fid10k",),
))
