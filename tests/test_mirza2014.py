"""Mirza & Osindero (2014), Table 1: the conditional nets, the per-class Parzen protocol and
`gankit reproduce mirza2014` on its --dry-run path."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.errors import ConfigError
from gankit.metrics.parzen import DEFAULT_SIGMAS
from gankit.metrics.registry import EvalContext, evaluate
from gankit.nets import build_net
from gankit.nets.layers import Dropout, Maxout
from gankit.nets.mirza import MirzaDiscriminator, MirzaGenerator
from gankit.reproduce import Options, get_reproduction, run
from gankit.reproduce.runner import Arm, Steps


def test_generator_layers_and_where_y_enters() -> None:
    torch.manual_seed(0)
    G = MirzaGenerator(noise_dim=100, num_classes=10).eval()
    assert (G.z_path[0].in_features, G.z_path[0].out_features) == (100, 200)
    assert (G.y_path[0].in_features, G.y_path[0].out_features) == (10, 1000)  # the one-hot label, only here
    assert (G.joint[0].in_features, G.joint[0].out_features) == (1200, 1200)
    assert (G.out.in_features, G.out.out_features) == (1200, 784)
    assert [m.p for m in G.modules() if isinstance(m, Dropout)] == [0.5, 0.5, 0.5]
    z = torch.rand(6, 100) - 0.5  # noise.scale 0.5: centred uniform
    seen = {}
    G.z_path[0].register_forward_hook(lambda m, inp, out: seen.update(z=inp[0]))
    x = G(z, torch.arange(6))
    assert x.shape == (6, 1, 28, 28) and 0 < x.min() and x.max() < 1
    torch.testing.assert_close(seen["z"], z + 0.5)  # the paper's z in the unit hypercube
    assert 0 <= seen["z"].min() and seen["z"].max() <= 1
    same_z = z[:1].expand(2, -1)
    a, b = G(same_z, torch.tensor([3, 7]))
    assert not torch.allclose(a, b)  # the label changes the image for the same z
    with pytest.raises(ValueError, match="needs a label"):
        G(z)


def test_generator_dropout_at_sampling_and_the_label_paths_own_init_range() -> None:
    z, y = torch.randn(2, 100), torch.tensor([3, 3])
    same = z[:1].expand(2, -1)
    plain = MirzaGenerator(num_classes=10, dropout=0.5).eval()
    a, b = plain(same, y)
    torch.testing.assert_close(a, b)  # eval mode: no dropout, the same z gives the same image
    noisy = MirzaGenerator(num_classes=10, dropout=0.5, test_dropout=True).eval()
    a, b = noisy(same, y)
    assert not torch.allclose(a, b)  # dropout stays on as part of G's noise
    torch.manual_seed(0)
    G = MirzaGenerator(num_classes=10, init_range=0.05, label_init_range=0.5)
    D = MirzaDiscriminator(num_classes=10, init_range=0.005, label_init_range=0.5)
    for net, rest in ((G, G.joint[0].weight), (D, D.joint[0].linear.weight)):
        w = next(m for m in net.y_path.modules() if isinstance(m, torch.nn.Linear)).weight
        assert 0.4 < w.abs().max() <= 0.5  # the label path draws from its own range
        assert rest.abs().max() <= (0.05 if net is G else 0.005)  # the other layers keep init_range


def test_discriminator_layers_and_where_y_enters() -> None:
    torch.manual_seed(0)
    D = MirzaDiscriminator(num_classes=10).eval()
    xm, ym, jm = D.x_path[2], D.y_path[0], D.joint[0]
    assert isinstance(xm, Maxout) and (xm.linear.in_features, xm.units, xm.pieces) == (784, 240, 5)
    assert isinstance(ym, Maxout) and (ym.linear.in_features, ym.units, ym.pieces) == (10, 50, 5)
    assert isinstance(jm, Maxout) and (jm.linear.in_features, jm.units, jm.pieces) == (290, 240, 4)
    assert (D.out.in_features, D.out.out_features) == (240, 1)
    assert [m.p for m in D.modules() if isinstance(m, Dropout)] == [0.0, 0.5, 0.5, 0.5]
    x = torch.rand(4, 1, 28, 28)
    logits = D(x, torch.tensor([0, 1, 2, 3]))
    assert logits.shape == (4,)
    assert not torch.allclose(D(x, torch.tensor([0, 1, 2, 3])), D(x, torch.tensor([5, 5, 5, 5])))
    # dropout 0.5 is live in training mode
    D.train()
    torch.manual_seed(1)
    assert not torch.equal(D(x, torch.zeros(4, dtype=torch.long)), D(x, torch.zeros(4, dtype=torch.long)))


def test_nets_need_classes_and_the_presets_name_them() -> None:
    with pytest.raises(ConfigError, match="generator.args.*conditional"):
        build_net("generator", "mirza-mlp-g", {}, noise_dim=100, num_classes=0, image_shape=(1, 28, 28))
    cfg = load_config("mirza2014")
    assert (cfg.generator.name, cfg.discriminator.name, cfg.data.conditional) == ("mirza-mlp-g", "mirza-maxout-d", True)
    assert (cfg.noise.distribution, cfg.noise.scale, cfg.data.batch_size) == ("uniform", 0.5, 100)
    assert (cfg.optim_g.lr, cfg.optim_g.momentum, cfg.schedule.momentum_final) == (0.1, 0.5, 0.7)
    assert (cfg.schedule.lr_decay, cfg.schedule.min_lr) == (1.00004, 1e-6)
    assert cfg.log.best_metric == "cparzen10k_valid_mean"  # selected on validation images, never the test set
    assert load_config("mirza2014-fast").log.best_metric == "cparzen10k_valid_mean"


def _class_constant_context(scale: float = 1.0) -> tuple[EvalContext, list[torch.Tensor]]:
    """A conditional 'generator' whose every sample of class c is the image filled with
    c / 10: the Parzen window is then a mixture of 10 Gaussians with equal weights."""
    g = torch.Generator().manual_seed(0)
    split = lambda n: Split(torch.rand(n, 1, 28, 28, generator=g) * 0.5, torch.randint(10, (n,), generator=g))  # noqa: E731
    data = Dataset("toy", split(40), split(30), split(25), num_classes=10)
    asked: list[torch.Tensor] = []

    def sample_labels(labels: torch.Tensor) -> torch.Tensor:
        asked.append(labels)
        return (labels.float() / 10)[:, None, None, None].expand(-1, 1, 28, 28).clone()

    def unconditional(n: int) -> torch.Tensor:
        raise AssertionError("the conditional Parzen metric asks for labels")

    return EvalContext(sample=unconditional, data=data, scale=scale, sample_labels=sample_labels), asked


def _mixture_ll(x: torch.Tensor, sigma: float) -> np.ndarray:
    """log p(x) under the mixture of 10 isotropic Gaussians at the constant images c / 10."""
    xs = x.reshape(x.shape[0], -1).double().numpy()
    mu = np.repeat((np.arange(10) / 10)[:, None], xs.shape[1], axis=1)
    d2 = ((xs[:, None, :] - mu[None]) ** 2).sum(-1)
    return logsumexp(-d2 / (2 * sigma**2), axis=1) - math.log(10) - xs.shape[1] * math.log(sigma * math.sqrt(2 * math.pi))


def test_conditional_parzen_draws_1000_per_class_and_matches_the_mixture_density() -> None:
    ctx, asked = _class_constant_context()
    f = evaluate(["cparzen10k"], ctx)
    labels = torch.cat(asked)
    assert labels.numel() == 10_000 and torch.bincount(labels).tolist() == [1000] * 10
    valid_means = [_mixture_ll(ctx.data.valid.x, s).mean() for s in DEFAULT_SIGMAS]
    sigma = DEFAULT_SIGMAS[int(np.argmax(valid_means))]
    ll = _mixture_ll(ctx.data.test.x, sigma)
    assert f["cparzen10k_sigma"] == pytest.approx(sigma)
    assert f["cparzen10k_mean"] == pytest.approx(ll.mean(), abs=1e-3)
    assert f["cparzen10k_se"] == pytest.approx(ll.std() / math.sqrt(len(ll)), rel=1e-4)


def test_conditional_parzen_validation_figure_never_reads_the_test_set() -> None:
    ctx, asked = _class_constant_context()
    ctx.data.test.x.fill_(float("nan"))
    f = evaluate(["cparzen10k_valid"], ctx)
    valid_means = [_mixture_ll(ctx.data.valid.x, s).mean() for s in DEFAULT_SIGMAS]
    assert f["cparzen10k_valid_mean"] == pytest.approx(max(valid_means), abs=1e-3)
    assert f["cparzen10k_valid_sigma"] == pytest.approx(DEFAULT_SIGMAS[int(np.argmax(valid_means))])
    assert torch.bincount(torch.cat(asked)).tolist() == [1000] * 10


def test_conditional_parzen_counts_shrink_in_dry_runs_and_need_labels() -> None:
    ctx, asked = _class_constant_context(scale=0.02)
    evaluate(["cparzen10k"], ctx)
    assert torch.bincount(torch.cat(asked)).tolist() == [20] * 10
    ctx.sample_labels = None
    with pytest.raises(ConfigError, match="'cparzen10k' needs a conditional model"):
        evaluate(["cparzen10k"], ctx)


@pytest.fixture
def one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def test_dry_run_writes_the_table(tmp_path, one_thread, capsys) -> None:
    result = run(get_reproduction("mirza2014"), tmp_path, Options(dry_run=True))
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved == json.loads(json.dumps(result)) and saved["reproduction"] == "mirza2014"
    assert math.isfinite(saved["parzen_mean"]) and saved["parzen_se"] > 0 and saved["wall_seconds"] > 0
    assert saved["cfd10k"] > 0 and 0 <= saved["label_accuracy"] <= 1
    s = saved["settings"]
    assert s["dry_run"] is True and s["preset"] == "mirza2014-fast" and s["steps"] == 12
    assert (s["samples"], s["samples_per_class"]) == (200, 20)
    # 12 steps never reach the preset's first validation check: the figure is the last step's
    assert saved["stop_step"] == 12 and saved["parzen_mean"] == saved["last_parzen_mean"]
    out = capsys.readouterr().out
    for published in ("138 ± 2", "121 ± 1.6", "214 ± 1.1", "225 ± 2", "132 ± 1.8"):
        assert published in out
    assert "Dry run" in (tmp_path / "report.md").read_text()


def test_dry_run_reports_the_best_validation_step(tmp_path, one_thread) -> None:
    preset = tmp_path / "often.yaml"
    preset.write_text("base: mirza2014-fast\nlog: {eval_every: 6}\n")
    rep = replace(get_reproduction("mirza2014"), arms=lambda opts: [Arm("default", str(preset), Steps())])
    saved = run(rep, tmp_path / "out", Options(dry_run=True))
    best = json.loads((tmp_path / "out" / "train" / "best.json").read_text())
    assert saved["stop_step"] == best["step"] in (6, 12) and best["metric"] == "cparzen10k_valid_mean"
    evals = [json.loads(line) for line in (tmp_path / "out" / "train" / "metrics.jsonl").read_text().splitlines()]
    valid = {r["step"]: r["cparzen10k_valid_mean"] for r in evals if r.get("eval")}
    assert set(valid) == {6, 12} and best["value"] == max(valid.values())
    assert math.isfinite(saved["parzen_mean"]) and "stopped at step" in (tmp_path / "out" / "report.md").read_text()
