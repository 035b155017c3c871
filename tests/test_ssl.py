"""Semi-supervised GANs (Salimans et al. 2016): the K+1-class D, feature matching,
minibatch discrimination, the labelled draw, and the classifier commands."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit.cli.main import main
from gankit.config import DRY_RUN_OVERRIDES, load_config
from gankit.data.datasets import load_dataset
from gankit.data.labelled import draw_labelled
from gankit.errors import ConfigError
from gankit.nets.ssl import MinibatchDiscrimination, SemiSupervisedDiscriminator, SemiSupervisedGenerator, WeightNormLinear
from gankit.objectives.semisupervised import feature_matching, k_plus_one, real_logit, supervised_loss, unsupervised_loss
from gankit.training.algorithm1 import algorithm1, discriminator_step, generator_step
from gankit.training.build import build_state

SMALL = DRY_RUN_OVERRIDES + ["log.tensorboard=false", "log.progress=false", "train.steps=2",
                             "discriminator.args.hidden=[32,16]", "generator.args.hidden=[16]"]


def explicit_k_plus_one(logits: torch.Tensor) -> torch.Tensor:
    """p(y | x) over K+1 classes with the fake class's logit an explicit 0 column."""
    return F.softmax(torch.cat([logits, torch.zeros(logits.shape[0], 1, dtype=logits.dtype)], dim=1), dim=1)


def test_k_plus_one_logit_trick_equals_an_explicit_k_plus_one_softmax() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 10, generator=g, dtype=torch.float64) * 3, torch.randn(64, 10, generator=g, dtype=torch.float64) * 3
    p_real, p_fake = explicit_k_plus_one(real), explicit_k_plus_one(fake)
    # D(x) = 1 - p(fake | x) = Z / (Z + 1)
    torch.testing.assert_close(torch.sigmoid(real_logit(real)), 1 - p_real[:, 10])
    want = 0.5 * (-torch.log(1 - p_real[:, 10])).mean() + 0.5 * (-torch.log(p_fake[:, 10])).mean()
    torch.testing.assert_close(unsupervised_loss(real, fake), want)
    # the supervised term is the K+1 softmax conditioned on "not fake": the K softmax
    y = torch.randint(0, 10, (64,), generator=g)
    cond = p_real[:, :10] / p_real[:, :10].sum(1, keepdim=True)
    torch.testing.assert_close(supervised_loss(real, y), -torch.log(cond[torch.arange(64), y]).mean().float())  # in fp32
    # one-sided label smoothing: real target alpha, fakes' stays 0
    a = 0.9
    want_s = 0.5 * (-(a * torch.log(1 - p_real[:, 10]) + (1 - a) * torch.log(p_real[:, 10]))).mean() + 0.5 * (-torch.log(p_fake[:, 10])).mean()
    torch.testing.assert_close(unsupervised_loss(real, fake, a), want_s)
    torch.testing.assert_close(k_plus_one(real_label=a).d_loss(real, fake), want_s)


def test_historical_average_penalises_distance_from_the_mean_of_past_parameters() -> None:
    from gankit.objectives.semisupervised import HistoricalAverage

    D = torch.nn.Linear(2, 1, bias=False)
    pen = HistoricalAverage(0.5)
    seen = []
    for w in ([1.0, 2.0], [3.0, 0.0], [2.0, 5.0]):
        with torch.no_grad():
            D.weight.copy_(torch.tensor([w]))
        seen.append(w)
        mean = torch.tensor(seen).mean(0)
        want = 0.5 * ((torch.tensor(w) - mean) ** 2).sum()
        torch.testing.assert_close(pen(D, None, None, None), want)


def test_feature_matching_is_the_squared_distance_of_feature_means() -> None:
    D = SemiSupervisedDiscriminator(hidden=(8, 6), input_noise=0, hidden_noise=0).eval()
    real, fake = torch.rand(5, 1, 28, 28), torch.rand(7, 1, 28, 28)
    with torch.no_grad():
        fr, ff = D.features(real), D.features(fake)
    want = ((fr.mean(0) - ff.mean(0)) ** 2).mean()
    assert float(want) > 0
    term, fake_logits = feature_matching(D, real, fake)
    torch.testing.assert_close(term, want)
    torch.testing.assert_close(fake_logits, D(fake))  # the same pass gives D's logits on G's output


def test_feature_matching_gradient_reaches_g_only(tmp_path) -> None:
    cfg = load_config("ssl-mnist-fm", SMALL)
    s, _ = build_state(cfg, load_dataset("mnist", limit=500))
    assert s.objective.g_real is feature_matching
    discriminator_step(s)
    s.D.zero_grad(set_to_none=True)
    d_before = {k: v.clone() for k, v in s.D.state_dict().items()}
    g_before = [p.clone() for p in s.G.parameters() if p.requires_grad]
    generator_step(s, s.data.batch_size)
    assert all(p.grad is None for p in s.D.parameters())  # no gradient reached D
    for k, v in s.D.state_dict().items():
        assert torch.equal(v, d_before[k]), k
    changed = [not torch.equal(a, b) for a, b in zip(g_before, (p for p in s.G.parameters() if p.requires_grad))]
    assert all(changed)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in s.G.parameters() if p.requires_grad)


def test_minibatch_features_of_identical_and_diverse_batches_follow_the_formula() -> None:
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, kernels=4, dim=3, data_init=False)
    n = 5
    same = torch.randn(1, 6).expand(n, 6)
    out = layer(same)
    torch.testing.assert_close(out[:, :6], same)
    # every other example is at distance 0: o_b = sum over j != i of exp(0) = n - 1, plus the bias
    torch.testing.assert_close(out[:, 6:], (n - 1 + layer.b).expand(n, 4).detach())
    diverse = torch.randn(n, 6)
    o = layer(diverse)[:, 6:]
    with torch.no_grad():
        T = layer.theta * torch.exp(layer.log_scale) / layer.theta.norm(dim=0)
        M = torch.einsum("ni,ibc->nbc", diverse, T)
        want = torch.zeros(n, 4)
        for i in range(n):
            for b in range(4):
                want[i, b] = sum(math.exp(-float((M[i, b] - M[j, b]).abs().sum())) for j in range(n) if j != i) + layer.b[b]
    torch.testing.assert_close(o.detach(), want)
    assert (o < out[:, 6:]).all()  # a diverse batch gives each example less closeness than identical ones


@pytest.mark.parametrize("batch", ["identical", "diverse"])
def test_minibatch_gradient_equals_that_of_the_written_out_differences(batch: str) -> None:
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, kernels=4, dim=3, data_init=False)
    x = torch.randn(1, 6).expand(5, 6).clone() if batch == "identical" else torch.randn(5, 6)
    x.requires_grad_(True)
    w = torch.randn(5, 4)
    (layer(x)[:, 6:] * w).sum().backward()
    got = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    x.grad = None
    layer.zero_grad()
    M = torch.einsum("ni,ibc->nbc", x, layer.tensor())
    d = (M.unsqueeze(3) - M.permute(1, 2, 0).unsqueeze(0)).abs().sum(2)  # [m, B, m], the formula as written
    ((torch.exp(-d).sum(2) - 1 + layer.b) * w).sum().backward()
    want = [x.grad] + [p.grad for p in layer.parameters()]
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r)


def test_weight_norm_starts_with_unit_statistics_on_the_first_training_batch() -> None:
    torch.manual_seed(1)
    layer = WeightNormLinear(20, 7)
    x = torch.randn(200, 20) * 3 + 1
    out = layer(x)
    torch.testing.assert_close(out.mean(0), torch.zeros(7), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(7), atol=1e-4, rtol=0)
    assert int(layer.initialised) == 1
    torch.testing.assert_close(layer.weight().norm(dim=1), layer.g)  # w = g v / |v|


def test_discriminator_starts_from_the_first_500_training_examples() -> None:
    # the released code's init_param(trainx[:500]): before any training step, each
    # weight-normalised unit has zero mean and unit variance over those examples
    cfg = load_config("ssl-mnist-fm", SMALL + ["discriminator.args.input_noise=0", "discriminator.args.hidden_noise=0"])
    data = load_dataset("mnist", limit=600)
    s, _ = build_state(cfg, data)
    layers = [*s.D.hidden, s.D.out]
    assert all(int(layer.initialised) == 1 for layer in layers)
    h = data.train.x[:500].reshape(500, -1)
    with torch.no_grad():
        for layer in layers:
            pre = layer(h)
            torch.testing.assert_close(pre.mean(0), torch.zeros(pre.shape[1]), atol=1e-4, rtol=0)
            torch.testing.assert_close(pre.std(0, unbiased=False), torch.ones(pre.shape[1]), atol=1e-4, rtol=0)
            h = F.relu(pre)
        pre = s.D.hidden[0](data.train.x[500:600].reshape(100, -1))  # other examples: not exactly unit statistics
    assert float((pre.std(0, unbiased=False) - 1).abs().max()) > 1e-3


@pytest.mark.parametrize("preset", ["ssl-mnist-fm", "catgan-mnist"])
def test_joint_pass_over_unlabelled_generated_and_labelled_computes_the_same_step(preset) -> None:
    # Without its Gaussian noise D is a deterministic function of each example, so one pass
    # over the three minibatches stacked gives the separate passes' losses and updates (to
    # rounding); the D step then calls D once.
    data = load_dataset("mnist", limit=500)
    quiet = SMALL + ["discriminator.args.input_noise=0", "discriminator.args.hidden_noise=0", "train.precision=fp32",
                     "data.batch_size=20"]  # fmt: skip
    runs = {}
    for joint in (False, True):
        s, _ = build_state(load_config(preset, quiet + [f"train.joint_d_batch={str(joint).lower()}"]), data)
        batches: list[int] = []
        hook = s.D.register_forward_hook(lambda m, i, o: batches.append(i[0].shape[0]))
        losses: list[tuple[float, float]] = []
        algorithm1(s, 3, [lambda st, stats: losses.append((stats.d_loss.item(), stats.g_loss.item()))])
        hook.remove()
        runs[joint] = (s, batches, losses)
    (a, batches_a, losses_a), (b, batches_b, losses_b) = runs[False], runs[True]
    # one D call per G step (the preset's train.g_steps); feature matching scores G(z) through D.logits_and_features
    g_step = [20] * a.g_steps if preset == "catgan-mnist" else []
    assert batches_a == ([20, 20, 20] + g_step) * 3  # unlabelled, generated, labelled
    assert batches_b == ([60] + g_step) * 3
    assert np.allclose(losses_a, losses_b, rtol=1e-4, atol=1e-6)
    for p, q in zip([*a.D.parameters(), *a.G.parameters()], [*b.D.parameters(), *b.G.parameters()]):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bn_scale", [False, True])
def test_generator_batch_norm_learns_a_scale_only_when_asked(bn_scale) -> None:
    torch.manual_seed(2)
    G = SemiSupervisedGenerator(noise_dim=8, hidden=(16, 16), bn_scale=bn_scale)
    G(torch.rand(32, 8)).square().mean().backward()
    torch.optim.SGD([p for p in G.parameters() if p.requires_grad], lr=1.0).step()
    scales = [m.weight for m in G.body if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(scales) == 2
    for w in scales:
        assert w.requires_grad == bn_scale
        assert torch.equal(w, torch.ones_like(w)) != bn_scale  # moved by the step iff it is learned


def test_labelled_draw_holds_exactly_per_class_and_repeats_for_a_seed() -> None:
    y = torch.from_numpy(np.random.RandomState(3).randint(0, 10, size=5000)).long()
    a = draw_labelled(y, 10, seed=7, num_classes=10)
    assert torch.equal(torch.bincount(y[a.labelled], minlength=10), torch.full((10,), 10))
    assert a.labelled.unique().numel() == 100
    assert torch.equal(torch.sort(torch.cat([a.labelled, a.unlabelled])).values, torch.arange(5000))
    b = draw_labelled(y, 10, seed=7, num_classes=10)
    assert torch.equal(a.labelled, b.labelled) and torch.equal(a.unlabelled, b.unlabelled)
    c = draw_labelled(y, 10, seed=8, num_classes=10)
    assert not torch.equal(torch.sort(a.labelled).values, torch.sort(c.labelled).values)
    with pytest.raises(ConfigError, match="labels_per_class"):
        draw_labelled(y[:30], 10, seed=0, num_classes=10)


def test_semi_supervised_run_trains_on_the_draw_and_excludes_it_from_unlabelled() -> None:
    cfg = load_config("ssl-mnist-fm", SMALL + ["data.label_seed=5"])
    data = load_dataset("mnist", limit=500)
    s, _ = build_state(cfg, data)
    draw = draw_labelled(data.train.y, 10, 5, 10)
    assert torch.equal(s.conditions.labelled.x, data.train.x[draw.labelled])
    assert torch.equal(s.conditions.labelled.y, data.train.y[draw.labelled])
    assert s.data.x.shape[0] == 400 and s.data.y is None


@pytest.mark.parametrize("overrides, match", [
    (["objective.name=non-saturating", "objective.args={}", "discriminator.name=paper-maxout", "discriminator.args={}"],
     "uses no labels"),
    (["data.labels_per_class=null"], "labelled examples"),
])
def test_mismatched_objective_and_labels_is_one_config_error(overrides, match) -> None:
    cfg = load_config("ssl-mnist-fm", SMALL + overrides)
    with pytest.raises(ConfigError, match=match):
        build_state(cfg, load_dataset("mnist", limit=500))


def test_reproduce_dry_run_then_classify_and_eval(tmp_path, capsys) -> None:
    out = tmp_path / "rep"
    assert main(["reproduce", "ssl-mnist", "--dry-run", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    for key in ("fm_error_mean", "fm_error_std", "mbd_error_mean", "catgan_error_mean", "catgan_error_std", "draws",
                "wall_seconds"):
        assert key in result, key
    assert result["draws"] == 1 and 0 <= result["fm_error_mean"] <= 1
    assert (out / "samples-mbd.png").is_file()
    # the rows say how many G updates an iteration holds where it is more than one
    rows = [line for line in (out / "report.md").read_text().splitlines() if "ours)" in line]
    assert [("G updates each" in r) for r in rows] == [False, True, True], rows
    assert "3 G updates each" in rows[1] and "2 G updates each" in rows[2]
    run = out / "runs" / "fm" / "seed-0"
    # gankit classify: int64 labels, the same as the metric's classifier gives
    data = load_dataset("mnist")
    x = (data.test.x[:20, 0].numpy() * 255).round().astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    assert main(["classify", str(run), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "l.npy")]) == 0
    labels = np.load(tmp_path / "l.npy")
    assert labels.dtype == np.int64 and labels.shape == (20,) and ((0 <= labels) & (labels < 10)).all()
    from gankit.training.classify import classify, load_classifier

    D, cfg, _, _ = load_classifier(run)
    assert np.array_equal(labels, classify(D, data.test.x[:20]).numpy())
    assert main(["classify", str(run), "--input", str(tmp_path / "missing.npy")]) == 2
    capsys.readouterr()
    # gankit eval --metric test_error: the share of wrong test labels
    assert main(["eval", str(run), "--metric", "test_error"]) == 0
    figures = json.loads(capsys.readouterr().out)
    wrong = int((classify(D, data.test.x) != data.test.y).sum())
    assert figures["test_errors"] == wrong and figures["test_error"] == pytest.approx(wrong / 10_000)
    # gankit classify --split test: the same error, from a confusion matrix over the test split
    assert main(["classify", str(run), "--split", "test"]) == 0
    report = capsys.readouterr().out
    assert report.splitlines()[0] == f"error: {wrong} of 10000 ({100 * wrong / 10_000:.2f}%)"
    rows = [line.split() for line in report.splitlines()[3:13]]
    assert [int(r[0]) for r in rows] == list(range(10))
    matrix = np.array([[int(v) for v in r[1:]] for r in rows])
    assert (matrix.sum(1) == np.bincount(data.test.y.numpy(), minlength=10)).all()
    assert matrix.sum() - np.trace(matrix) == wrong
    # --labels: the first 20 test images with their labels, and labels that do not fit
    np.save(tmp_path / "y.npy", data.test.y[:20].numpy())
    assert main(["classify", str(run), "--input", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy")]) == 0
    wrong20 = int((labels != data.test.y[:20].numpy()).sum())
    assert capsys.readouterr().out.startswith(f"error: {wrong20} of 20 ")
    np.save(tmp_path / "y.npy", data.test.y[:19].numpy())
    assert main(["classify", str(run), "--input", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy")]) == 2
    assert "y.npy: expected 20 labels" in capsys.readouterr().err


def test_runs_trained_at_once_equal_runs_trained_in_turn(tmp_path) -> None:
    # worker processes (jobs=2, one thread each) train and score the same runs as one process
    # in turn with one thread: the same test errors and the same final weights
    from safetensors.torch import load_file

    from gankit.reproduce import Options, get_reproduction, run

    rep = get_reproduction("ssl-mnist")
    assert rep.jobs == 2
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        in_turn = run(rep, tmp_path / "turn", Options(dry_run=True, jobs=1))
        at_once = run(rep, tmp_path / "once", Options(dry_run=True))
    finally:
        torch.set_num_threads(before)
    assert in_turn["settings"]["jobs"] == 1 and at_once["settings"]["jobs"] == 2
    assert in_turn["settings"]["errors"] == at_once["settings"]["errors"]
    for arm in ("fm", "mbd", "catgan"):
        a, b = (sorted((tmp_path / d / "runs" / arm / "seed-0" / "checkpoints").glob("*.safetensors"))[-1]
                for d in ("turn", "once"))
        wa, wb = load_file(a), load_file(b)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), arm
        assert (tmp_path / "once" / "runs" / arm / "seed-0" / "run.json").is_file()


def test_resume_continues_the_labelled_stream_exactly(tmp_path) -> None:
    from gankit.training.run import train

    base = SMALL + ["log.checkpoint_every=3", "log.every=3", "log.samples_every=100", "log.diagnostics=false"]
    straight = train(load_config("ssl-mnist-fm", base + ["train.steps=6"]), tmp_path / "a")
    train(load_config("ssl-mnist-fm", base + ["train.steps=3"]), tmp_path / "b")
    resumed = train(load_config("ssl-mnist-fm", base + ["train.steps=6"]), tmp_path / "b")
    assert resumed.step == 6
    assert resumed.conditions.labelled.state_dict()["position"] == straight.conditions.labelled.state_dict()["position"]
    for (k, a), (_, b) in zip(straight.D.state_dict().items(), resumed.D.state_dict().items()):
        assert torch.equal(a, b), k
    assert straight.d_ema is not None and resumed.d_ema is not None  # the preset keeps D's weight average
    assert resumed.d_ema.num_updates == straight.d_ema.num_updates == 6
    for (k, a), (_, b) in zip(straight.d_ema.module.state_dict().items(), resumed.d_ema.module.state_dict().items()):
        assert torch.equal(a, b), k


def test_d_weight_average_is_what_classifies_unless_raw_is_asked(tmp_path, capsys) -> None:
    from gankit.training import checkpoint as ckpt
    from gankit.training.classify import classify, load_classifier
    from gankit.training.run import train

    run = tmp_path / "run"
    s = train(load_config("ssl-mnist-fm", SMALL + ["train.steps=3", "log.checkpoint_every=3", "train.d_ema_decay=0.5"]), run)
    payload = ckpt.load(sorted((run / "checkpoints").glob("*.safetensors"))[-1])
    saved = payload["extras"]["D_ema"]
    assert saved["num_updates"] == 3
    average, _, _, _ = load_classifier(run)
    raw, _, _, _ = load_classifier(run, weights="raw")
    for k, v in average.state_dict().items():
        assert torch.equal(v, saved["weights"][k]), k
        assert torch.equal(v, s.d_ema.module.state_dict()[k]), k
    for k, v in raw.state_dict().items():
        assert torch.equal(v, payload["D"][k]), k
    # the average differs from D's last weights: a decay of 0.5 keeps half of the previous average
    assert not torch.equal(average.out.v, raw.out.v)
    x = load_dataset("mnist").test.x[:50]
    np.save(tmp_path / "x.npy", (x[:, 0].numpy() * 255).round().astype(np.uint8))
    for weights, D in (("average", average), ("raw", raw)):
        out = tmp_path / f"{weights}.npy"
        assert main(["classify", str(run), "--input", str(tmp_path / "x.npy"), "--weights", weights, "--out", str(out)]) == 0
        assert np.array_equal(np.load(out), classify(D, x).numpy())


def test_test_error_during_training_scores_d_as_it_stands(tmp_path) -> None:
    from gankit.config import DRY_RUN_SCALE
    from gankit.training.classify import classify, load_classifier
    from gankit.training.run import train

    run = tmp_path / "run"
    train(load_config("ssl-mnist-fm", SMALL + ["train.steps=4", "log.checkpoint_every=4", "log.eval_every=4",
                                                "log.eval_metrics=[test_error]"]), run)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    row = next(r for r in rows if r.get("eval"))
    D, _, _, step = load_classifier(run)
    assert step == row["step"] == 4
    test = load_dataset("mnist", limit=500).test  # the dry run's data.limit
    n = max(1, round(len(test) * DRY_RUN_SCALE))
    wrong = int((classify(D, test.x[:n]) != test.y[:n]).sum())
    assert row["test_errors"] == wrong and row["test_error"] == pytest.approx(wrong / n)


def test_confusion_matrix_counts_true_rows_and_predicted_columns() -> None:
    from gankit.training.classify import confusion_matrix, confusion_report

    truth = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 2, 1, 0, 0, 2])
    m = confusion_matrix(predicted, truth, 3)
    assert m.tolist() == [[1, 0, 1], [2, 1, 0], [0, 0, 1]]
    report = confusion_report(m)
    assert report.splitlines()[0] == "error: 3 of 6 (50.00%)"
    assert report.splitlines()[-1] == "most confused: 1 as 0: 2, 0 as 2: 1"
