"""How fast could one Algorithm 1 iteration be on this machine? A floor for each bench case.

    python bench/step_floor.py --threads 2 [--quick] [--out floor.json]              # MLP
    python bench/step_floor.py --threads 2 --case conv --set train.precision=bf16 \
        --set train.channels_last=true [--out floor-conv.json]                          # DCGAN

MLP case: times, in one run and alternately (medians over repeats):
- the floor: only the iteration's matrix products (k = 1: G forward for the D step, D forward
  and backward on real and fake, then G forward, D forward, D backward to its input and G
  backward: the same products gankit and the reference compute, shapes from the preset's nets)
  into preallocated outputs, plus one fused Adam step on G's and on D's parameters; nothing
  else (no activations, dropout, maxout, losses, casts or framework work), in fp32 and in bf16;
- gankit's iteration (fp32 and train.precision=bf16);
- the reference loop (bench/reference_loop.py, in its own process, as bench/speed.py runs it).

The floor divided by the reference is the most any implementation of the same computation
could gain on this machine: if it is below a target ratio, the target cannot be reached here.

Conv case: gankit's iteration with oneDNN's verbose log on (in a child process, whose output
is parsed): the time spent inside oneDNN's convolution, matmul and reorder kernels per
iteration, against the iteration's wall time measured with the log off, and the reference.
What is left over is the work outside the kernels (batch norm, activations, casts, the
optimiser, PyTorch's per-call costs), the part a faster loop can still remove.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import torch
from torch import Tensor, nn

from _common import LoadMonitor, emit, environment, matmul_peak, median, timed
from speed import CASES, ReferenceProcess, _gankit, synthetic

from gankit.training.algorithm1 import algorithm1


def _linear_shapes(net: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]


class MatmulFloor:
    """The products of one iteration (k = 1), preallocated, for a batch of ``m``."""

    def __init__(self, g_shapes: list[tuple[int, int]], d_shapes: list[tuple[int, int]], m: int, dtype: torch.dtype) -> None:
        r = lambda *s: torch.randn(*s, dtype=dtype)  # noqa: E731
        calls: list[tuple[Tensor, Tensor, Tensor]] = []

        def fwd(shapes):  # activations [m, in] @ W^T [in, out]
            for i, o in shapes:
                calls.append((r(m, i), r(i, o), r(m, o)))

        def wgrad(shapes):  # grad_out^T [out, m] @ input [m, in]
            for i, o in shapes:
                calls.append((r(o, m), r(m, i), r(o, i)))

        def dgrad(shapes, first: bool):  # grad_out [m, out] @ W [out, in]
            for j, (i, o) in enumerate(shapes):
                if j > 0 or first:
                    calls.append((r(m, o), r(o, i), r(m, i)))

        fwd(g_shapes)  # D step: G(z) without a graph
        for _ in range(2):  # D on real, D on fake
            fwd(d_shapes)
            wgrad(d_shapes)
            dgrad(d_shapes, first=False)
        fwd(g_shapes)  # G step
        fwd(d_shapes)
        dgrad(d_shapes, first=True)  # D's weights are frozen: input gradients only
        wgrad(g_shapes)
        dgrad(g_shapes, first=False)
        self.calls = calls
        self.flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in calls)
        # one fused Adam step per net, on fp32 parameters and gradients of the nets' sizes
        self.params = []
        self.opts = []
        for shapes in (g_shapes, d_shapes):
            ps = [nn.Parameter(torch.randn(o, i)) for i, o in shapes] + [nn.Parameter(torch.randn(o)) for _, o in shapes]
            for p in ps:
                p.grad = torch.randn_like(p)
            self.params.append(ps)
            self.opts.append(torch.optim.Adam(ps, lr=1e-4, fused=True))

    def run(self, steps: int) -> None:
        for _ in range(steps):
            for a, b, c in self.calls:
                torch.mm(a, b, out=c)
            for opt in self.opts:
                opt.step()


def _kernel_ms_per_step(extra: list[str], threads: int, steps: int) -> dict[str, float]:
    """oneDNN kernel time per iteration of gankit's conv case, from its verbose log."""
    code = (
        "import sys, torch; sys.path.insert(0, %r); torch.set_num_threads(%d)\n"
        "from speed import CASES, synthetic, _gankit\n"
        "from gankit.training.algorithm1 import algorithm1\n"
        "case = CASES['conv']; cfg, s, _ = _gankit(case, synthetic(case['shape'], 2000), %r)\n"
        "algorithm1(s, s.step + 10)\n"
        "with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):\n"
        "    algorithm1(s, s.step + %d)\n"
    ) % (os.path.dirname(os.path.abspath(__file__)), threads, extra, steps)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    per_kind: dict[str, float] = {}
    for line in out.splitlines():
        if line.startswith("onednn_verbose") and ",primitive,exec," in line:
            fields = line.split(",")
            kind = fields[5]  # convolution, deconvolution, matmul, reorder, ...
            per_kind[kind] = per_kind.get(kind, 0.0) + float(fields[-1])
    if not per_kind:
        raise SystemExit("no oneDNN verbose lines: this torch build does not log oneDNN kernels")
    return {k: v / steps for k, v in per_kind.items()}


def conv_floor(extra: list[str], steps: int, repeats: int) -> dict:
    case = CASES["conv"]
    data = synthetic(case["shape"], 5000)
    cfg, state, context = _gankit(case, data, extra)
    ref = ReferenceProcess("conv", [], context, state.G, state.D)
    t_g, t_r = [], []
    try:
        algorithm1(state, state.step + 10)
        ref.run(3)
        jobs = [(t_g, lambda: timed(lambda: algorithm1(state, state.step + steps))), (t_r, lambda: ref.run(steps))]
        for r in range(repeats):
            for times, run in jobs if r % 2 == 0 else jobs[::-1]:  # no run keeps one position
                times.append(run())
    finally:
        ref.close()
    kernels = [_kernel_ms_per_step(extra, torch.get_num_threads(), steps) for _ in range(max(1, repeats // 3))]
    per_kind = {k: round(median([kk.get(k, 0.0) for kk in kernels]), 2) for k in kernels[0]}
    kernel_ms = median([sum(kk.values()) for kk in kernels])
    step_ms = 1e3 * median(t_g) / steps
    ref_rate = steps / median(t_r)
    return {
        "case": "conv", "overrides": case["overrides"] + extra, "batch": cfg.data.batch_size,
        "steps_per_repeat": steps, "repeats": repeats,
        "gankit_ms_per_step": round(step_ms, 2),
        "onednn_kernel_ms_per_step": round(kernel_ms, 2), "onednn_kernel_ms_by_kind": per_kind,
        "outside_kernels_ms_per_step": round(step_ms - kernel_ms, 2),
        "reference_steps_per_s": round(ref_rate, 2),
        "gankit_ratio": round(1e3 / step_ms / ref_rate, 2),
        "kernels_only_ratio": round(1e3 / kernel_ms / ref_rate, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few steps and repeats (< 60 s)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--case", choices=["mlp", "conv"], default="mlp")
    p.add_argument("--set", action="append", default=[], help="gankit config override for the conv case")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    steps, repeats = (10, 3) if a.quick else (50, 7)
    mon = LoadMonitor().start()
    t0 = time.time()
    if a.case == "conv":
        out = conv_floor(a.set, steps, repeats)
        emit({"benchmark": "step_floor", **out, "wall_s": round(time.time() - t0, 1),
              "machine_load": mon.stop(), "environment": environment()}, a.out)
        return
    case = CASES["mlp"]
    data = synthetic(case["shape"], 5000)
    cfg, fp32, context = _gankit(case, data, [])
    _, bf16, _ = _gankit(case, data, ["train.precision=bf16"])
    m = cfg.data.batch_size
    g_shapes, d_shapes = _linear_shapes(fp32.G), _linear_shapes(fp32.D)
    floors = {"fp32": MatmulFloor(g_shapes, d_shapes, m, torch.float32), "bf16": MatmulFloor(g_shapes, d_shapes, m, torch.bfloat16)}
    ref = ReferenceProcess("mlp", [], context, fp32.G, fp32.D)
    times: dict[str, list[float]] = {k: [] for k in ("floor_fp32", "floor_bf16", "gankit_fp32", "gankit_bf16", "reference")}
    peaks = []
    try:
        for f in floors.values():
            f.run(3)
        for s in (fp32, bf16):
            algorithm1(s, s.step + 3)
        ref.run(3)
        jobs = [("floor_fp32", lambda: timed(lambda: floors["fp32"].run(steps))),
                ("floor_bf16", lambda: timed(lambda: floors["bf16"].run(steps))),
                ("gankit_fp32", lambda: timed(lambda: algorithm1(fp32, fp32.step + steps))),
                ("gankit_bf16", lambda: timed(lambda: algorithm1(bf16, bf16.step + steps))),
                ("reference", lambda: ref.run(steps))]  # fmt: skip
        for r in range(repeats):
            for name, run in jobs if r % 2 == 0 else jobs[::-1]:  # no run keeps one position
                times[name].append(run())
            peaks.append(matmul_peak())
    finally:
        ref.close()
    rate = {k: steps / median(v) for k, v in times.items()}
    peak = median(peaks)
    flops = floors["fp32"].flops
    emit({
        "benchmark": "step_floor",
        "case": "mlp", "preset": case["preset"], "batch": m, "steps_per_repeat": steps, "repeats": repeats,
        "gflop_per_iteration": round(flops / 1e9, 3),
        "peak_gflops": round(peak, 1),
        "steps_per_s": {k: round(v, 2) for k, v in rate.items()},
        "ratio_to_reference": {k: round(v / rate["reference"], 2) for k, v in rate.items()},
        "pct_of_fp32_peak": {k: round(100 * v * flops / 1e9 / peak, 1) for k, v in rate.items()},
        "wall_s": round(time.time() - t0, 1),
        "machine_load": mon.stop(),
        "environment": environment(),
    }, a.out)


if __name__ == "__main__":
    main()
