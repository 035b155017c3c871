"""EMA of G's weights: the closed-form average, checkpointed, used for sampling."""
import torch
from torch import nn

from gankit.cli.main import main
from gankit.training.ema import EMA


def test_ema_is_the_exponential_average_of_the_weights():
    net = nn.Linear(2, 1)
    ema = EMA(net, decay=0.9)
    w0 = net.weight.detach().clone()
    expected = w0.clone()
    for t in range(100):
        with torch.no_grad():
            net.weight.add_(1.0)
        ema.update()
        d = min(0.9, (1 + t) / (10 + t))  # warm-up: short memory of the initial weights
        expected = d * expected + (1 - d) * net.weight.detach()
    assert ema.current_decay() == 0.9
    torch.testing.assert_close(ema.module.weight, expected, rtol=0, atol=1e-4)
    assert not torch.equal(ema.module.weight, net.weight)
    other = EMA(nn.Linear(2, 1), 0.9)
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.module.weight, ema.module.weight) and other.num_updates == 100


def test_ema_warmup_2_is_the_uniform_average_and_3_the_linearly_weighted_one():
    # w_s = w_0 + s after update s. warmup 2: (w_0 + ... + w_n) / (n + 1) = w_0 + n / 2.
    # warmup 3: weights proportional to s + 1 (s = 0..n): w_0 + sum s(s+1) / sum (s+1) = w_0 + 2n/3.
    n = 300
    for warmup, mean_offset in ((2.0, n / 2), (3.0, 2 * n / 3)):
        net = nn.Linear(3, 1)
        w0 = net.weight.detach().clone()
        ema = EMA(net, decay=0.99999, warmup=warmup)
        for _ in range(n):
            with torch.no_grad():
                net.weight.add_(1.0)
            ema.update()
        torch.testing.assert_close(ema.module.weight, w0 + mean_offset, rtol=0, atol=1e-3)


def test_run_with_ema_samples_from_the_average(tmp_path):
    from gankit.training import checkpoint as ckpt
    from gankit.training.generator import load_generator

    out = tmp_path / "run"
    assert main(["train", "goodfellow2014", "train.ema_decay=0.5", "--dry-run", "--no-progress", "--out", str(out)]) == 0
    payload = ckpt.load(ckpt.list_checkpoints(out / "checkpoints")[-1])
    assert "G_ema" in payload["extras"]
    G, *_ = load_generator(out)
    ema_w = payload["extras"]["G_ema"]["weights"]
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in ema_w.items())
    assert any(not torch.equal(ema_w[k], payload["G"][k]) for k in ema_w)


def test_loading_an_averaged_generator_recomputes_its_batch_norm_statistics(tmp_path):
    # The EMA's buffers are the live G's running statistics, gathered with other weights;
    # load_generator must replace them by the averaged G's own (recalibrate_batchnorm).
    from gankit.training import checkpoint as ckpt
    from gankit.training.build import build_nets
    from gankit.training.ema import BN_RECALIBRATION_SEED, recalibrate_batchnorm
    from gankit.training.generator import load_generator, sample_noise

    out = tmp_path / "run"
    assert main(["train", "dcgan-mnist", "train.ema_decay=0.5", "--dry-run", "--no-progress", "--out", str(out)]) == 0
    payload = ckpt.load(ckpt.list_checkpoints(out / "checkpoints")[-1])
    stored = payload["extras"]["G_ema"]["weights"]
    G, cfg, ctx, _ = load_generator(out)
    means = [k for k in stored if k.endswith("running_mean")]
    assert means and not G.training
    assert all(not torch.equal(G.state_dict()[k], stored[k]) for k in means)  # replaced ...
    by_hand, _ = build_nets(cfg, ctx)
    by_hand.load_state_dict(stored)
    recalibrate_batchnorm(by_hand, sample_noise(cfg, ctx, BN_RECALIBRATION_SEED))
    for k, v in by_hand.state_dict().items():  # ... by the averaged weights' own statistics
        torch.testing.assert_close(G.state_dict()[k], v)
