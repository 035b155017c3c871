#!/usr/bin/env bash
# A few minutes on a CUDA machine: device auto-detection, the first training steps' losses
# on CUDA against the CPU, short dcgan-mnist runs in bf16 and fp16 with their images/s,
# and FID of 2,000 samples, printed as one table. Needs MNIST and the Inception weights
# (scripts/setup.sh installs both). Usage: bash scripts/gpu-check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-$(mktemp -d /tmp/gankit-gpu-check.XXXXXX)}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" - "$OUT" <<'EOF'
import json, sys, time
from pathlib import Path

import torch

from gankit.cli.main import main
from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.metrics.fid import InceptionFeatures, frechet_distance_features
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state, generate
from gankit.training.generator import load_generator, sample_noise
from gankit.training.parallel import resolve_device

out = Path(sys.argv[1])
rows: list[tuple[str, str, str]] = []  # (check, result, verdict)

# 1. auto-detection
dev = resolve_device("auto")
rows.append(("train.device=auto", f"{dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'no CUDA'})",
             "ok" if dev.type == "cuda" else "FAIL"))
if dev.type != "cuda":
    print("no CUDA device: nothing more to check"); sys.exit(1)

# 2. the first 5 steps' losses, CUDA against CPU (same data order and noise; other arithmetic)
small = ["data.limit=2000", "data.batch_size=64", "log.diagnostics=false", "train.threads=4"]
data = load_dataset("mnist", None, True, 2000)
losses = {}
for name in ("cpu", "cuda"):
    s, _ = build_state(load_config("dcgan-mnist", small + [f"train.device={name}"]), data)
    seen = []
    algorithm1(s, 5, [lambda s_, st: seen.append((float(st.d_loss), float(st.g_loss)))])
    losses[name] = seen
worst = max(abs(a - b) / max(abs(a), 1e-6) for x, y in zip(losses["cpu"], losses["cuda"]) for a, b in zip(x, y))
rows.append(("losses of steps 1-5, CUDA vs CPU (fp32)", f"max rel. diff {worst:.2e}", "ok" if worst < 1e-2 else "FAIL"))

# 3. dcgan-mnist, 600 steps of 64, in bf16 and fp16: images/s (D and G each see 64 per step)
steps, batch = 600, 64
for precision in ("bf16", "fp16"):
    run = out / f"dcgan-{precision}"
    t0 = time.time()
    rc = main(["train", "dcgan-mnist", f"train.precision={precision}", f"train.steps={steps}", f"data.batch_size={batch}",
               "log.every=100", "log.checkpoint_every=100000", "log.samples_every=100000", "--out", str(run), "--no-progress"])
    secs = time.time() - t0
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    finite = all(abs(last[k]) < 1e6 for k in ("loss_d", "loss_g"))
    rows.append((f"dcgan-mnist {steps} steps, {precision}", f"{steps * batch / secs:,.0f} images/s ({secs:.0f} s incl. start-up); "
                 f"loss_d {last['loss_d']:.3f} loss_g {last['loss_g']:.3f}", "ok" if rc == 0 and finite else "FAIL"))

# 4. FID of 2,000 samples of the bf16 run against 2,000 MNIST test images, on the GPU
G, cfg, context, _ = load_generator(out / "dcgan-bf16", dev)
t0 = time.time()
fake = generate(G, 2000, sample_noise(cfg, context, 0), cfg.data.pixel_range)
real = load_dataset("mnist", None, True).test.x[:2000]
ext = InceptionFeatures(device=dev)
fid = frechet_distance_features(ext(fake), ext(real))
rows.append(("FID, 2,000 samples vs 2,000 test images", f"{fid:.2f} ({time.time() - t0:.0f} s)",
             "ok" if fid == fid and fid < 300 else "FAIL"))

w = max(len(r[0]) for r in rows)
print(f"\n{'check':<{w}}  verdict  result")
for check, result, verdict in rows:
    print(f"{check:<{w}}  {verdict:<7}  {result}")
sys.exit(0 if all(r[2] == "ok" for r in rows) else 1)
EOF
