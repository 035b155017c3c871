"""The benchmark pieces: the reference loop trains, the FLOP count and the Parzen numpy
loop agree with hand/closed-form values, the load monitor reports."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from _common import LoadMonitor, matmul_peak  # noqa: E402
from parzen_speed import numpy_loop  # noqa: E402
from reference_loop import PerSampleImages, ReferenceLoop  # noqa: E402
from speed import linear_flops  # noqa: E402

from gankit.metrics.parzen import parzen_log_likelihood  # noqa: E402
from gankit.nets.mlp import MaxoutDiscriminator, PaperGenerator  # noqa: E402


def test_linear_flops_by_hand():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert linear_flops(net, 10) == 2 * 10 * (3 * 4 + 4 * 2)


def test_per_sample_transform_matches_the_in_memory_tensor():
    x = torch.rand(5, 1, 4, 4).mul(255).round().div(255)
    ds = PerSampleImages(x, symmetric=True)
    assert torch.allclose(ds[2][0], x[2] * 2 - 1, atol=1e-6)


def test_reference_loop_trains_the_paper_nets():
    torch.manual_seed(0)
    G = PaperGenerator(noise_dim=10, hidden=(32,))
    D = MaxoutDiscriminator(units=8, pieces=2, layers=1)
    before = [p.detach().clone() for p in (*G.parameters(), *D.parameters())]
    loop = ReferenceLoop(G, D, torch.rand(60, 1, 28, 28), batch_size=20, noise_dim=10)
    loop.run(4)  # crosses an epoch boundary (3 batches per epoch)
    after = list((*G.parameters(), *D.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(torch.isfinite(p).all() for p in after)


def test_numpy_loop_is_the_parzen_formula():
    # one sample at the origin, one test point at distance r: log N(x; 0, sigma^2 I)
    d, sigma, r = 5, 0.5, 0.7
    x = np.zeros((1, d))
    x[0, 0] = r
    got = numpy_loop(x, np.zeros((1, d)), sigma)[0]
    expect = -r * r / (2 * sigma**2) - d * math.log(sigma * math.sqrt(2 * math.pi))
    assert got == pytest.approx(expect, rel=1e-12)
    g = torch.Generator().manual_seed(0)
    mu, xs = torch.rand(50, 20, generator=g), torch.rand(7, 20, generator=g)
    ours = parzen_log_likelihood(xs, mu, [0.3])[0].numpy()
    assert np.allclose(ours, numpy_loop(xs.double().numpy(), mu.double().numpy(), 0.3), rtol=1e-6)


def test_peak_probe_and_load_monitor():
    assert matmul_peak(n=64, reps=2) > 0
    mon = LoadMonitor().start()
    info = mon.stop()
    if Path("/proc/loadavg").exists():
        assert len(info["loadavg"]) == 3 and info["other_processes_cores"] >= 0


def test_torchvision_style_transforms_by_hand():
    # ToTensor: HWC uint8 -> CHW float / 255; Normalize(0.5, 0.5): 2x - 1; both for L and RGB.
    g = torch.Generator().manual_seed(1)
    for c in (1, 3):
        x = torch.randint(0, 256, (4, c, 5, 6), generator=g).float() / 255
        ds = PerSampleImages(x, symmetric=False)
        assert ds[3][0].shape == (c, 5, 6) and ds[3][0].dtype == torch.float32
        assert torch.equal(ds[3][0], x[3])
        assert torch.allclose(PerSampleImages(x, symmetric=True)[1][0], x[1] * 2 - 1, atol=1e-6)


def test_parse_variant():
    from speed import parse_variant

    assert parse_variant("bf16-cl=train.precision=bf16,train.channels_last=true") == (
        "bf16-cl", ["train.precision=bf16", "train.channels_last=true"])
    with pytest.raises(SystemExit):
        parse_variant("train.precision")


def test_bench_case_times_gankit_variants_and_the_reference_process():
    from speed import bench_case

    out = bench_case("mlp", steps=1, repeats=1, extra=["train.threads=1"], variants={"bf16": ["train.precision=bf16"]})
    assert out["gankit_steps_per_s"] > 0 and out["reference_steps_per_s"] > 0
    assert out["ratio"] == pytest.approx(out["gankit_steps_per_s"] / out["reference_steps_per_s"], rel=0.02)
    assert out["variants"]["bf16"]["steps_per_s"] > 0 and out["gflop_per_iteration"] > 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_keep_freed_memory_stops_page_faults_on_reallocation():
    import resource

    from gankit.runtime import keep_freed_memory

    assert keep_freed_memory()
    torch.empty(2 << 20).fill_(1.0)  # 8 MiB: above glibc's default mmap threshold
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.empty(2 << 20).fill_(1.0)  # freed and allocated again: reused, not re-faulted
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 20 * 2048 // 4  # re-faulting would touch 2,048 pages of 4 KiB each time


def test_step_floor_counts_the_products_of_one_iteration_by_hand():
    from step_floor import MatmulFloor

    # G 2->3->4, D 4->5->1, batch 6: 4 F_G + 8 F_D (F = 2 m sum in*out) less the input
    # gradients nobody needs (G's first layer once, D's first layer in both D-step passes)
    f_g, f_d = 2 * 6 * (2 * 3 + 3 * 4), 2 * 6 * (4 * 5 + 5 * 1)
    expected = 4 * f_g + 8 * f_d - 2 * 6 * 2 * 3 - 2 * (2 * 6 * 4 * 5)
    floor = MatmulFloor([(2, 3), (3, 4)], [(4, 5), (5, 1)], 6, torch.float32)
    assert floor.flops == expected == 2712
    before = [p.detach().clone() for p in floor.params[0]]
    floor.run(1)
    assert all(not torch.equal(a, p) for a, p in zip(before, floor.params[0]))  # Adam stepped


def test_step_floor_reads_onednn_kernel_times_of_the_conv_case():
    from step_floor import _kernel_ms_per_step

    per_kind = _kernel_ms_per_step(["train.threads=1"], threads=1, steps=1)
    assert per_kind.get("convolution", 0) > 0 and per_kind.get("deconvolution", 0) > 0


def test_abba_alternates_order_and_reports_b_over_a():
    from ab import abba

    calls: list[str] = []
    clock = {"A": 2.0, "B": 1.0}  # B takes half A's time: twice A's speed

    def runner(name):
        def run() -> float:
            calls.append(name)
            return clock[name]
        return run

    out = abba(runner("A"), runner("B"), rounds=3)
    assert "".join(calls) == "ABBA" "BAAB" "ABBA"
    assert out["b_over_a"] == out["min"] == out["max"] == 2.0
    assert (out["a_median_s"], out["b_median_s"]) == (2.0, 1.0)


def test_ab_ssl_case_trains_the_semi_supervised_preset_on_labelled_synthetic_images():
    from ab import AB_CASES, case_data
    from speed import _gankit

    from gankit.training.algorithm1 import algorithm1

    case = AB_CASES["ssl"]
    data = case_data(case, n=300)
    assert data.num_classes == 10 and torch.equal(torch.bincount(data.train.y), torch.full((10,), 30))
    _, s, _ = _gankit(case, data, ["train.threads=1", "train.precision=fp32"])
    assert s.conditions.labelled.x.shape[0] == 100  # the preset's 10 per class
    algorithm1(s, 1)
    assert s.step == 1


def test_jobs_bench_times_runs_side_by_side_in_spawned_processes():
    from jobs import seconds_per_step

    one = seconds_per_step("ssl", 1, 1, 2)
    two = seconds_per_step("ssl", 2, 1, 2)
    assert 0 < one < 60 and 0 < two < 60
