"""Scratch: train figure1 (+overrides), then print raw/EMA G support, D and D* around the tails."""
import sys, json
import numpy as np, torch
torch.set_num_threads(1)
from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.data.toy import toy_spec
from gankit.theory.oned import snapshot_1d
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state
from gankit.training.diagnostics import make_diagnostics
from gankit.reproduce.figure1 import _net_fns, X_METRIC
preset, tag, ov = sys.argv[1], sys.argv[2], sys.argv[3:]
cfg = load_config(preset, ["seed=0", *ov])
spec = toy_spec(cfg.data.name); mu, sigma = float(spec.centers[0, 0]), spec.sigma
data = load_dataset(cfg.data.name)
print("train data in sigma units: min/max", ((spec.to_physical(data.train.x) - mu) / sigma).min().item(), ((spec.to_physical(data.train.x) - mu) / sigma).max().item(), flush=True)
state, _ = build_state(cfg, data)
cbs = make_diagnostics(cfg, None, state, None)
ema = state.extras.get("G_ema"); cbs.insert(0, ema)
g, d = _net_fns(state, cfg.data.pixel_range)
algorithm1(state, cfg.train.steps, cbs)
torch.save({"G": state.G.state_dict(), "Gema": ema.module.state_dict(), "D": state.D.state_dict()}, f"/tmp/s5/state-{tag}.pt")
z = np.linspace(-1, 1, 200001)
ge = g(z)
with torch.no_grad():
    gr = state.G(torch.as_tensor(z, dtype=torch.float32).view(-1, 1)).view(-1).double().numpy()
for name, x in (("ema", ge), ("raw", gr)):
    s = (x - mu) / sigma
    print(name, "support sigma", s.min(), s.max(), "slope at ends (x per z)", (x[1] - x[0]) / (z[1] - z[0]), (x[-1] - x[-2]) / (z[1] - z[0]), "centre", (x[100001] - x[99999]) / (2 * (z[1] - z[0])))
xs = mu + sigma * np.arange(-4, 4.01, 0.25)
print("x/sigma, D(x):")
print(" ".join(f"{a:+.2f}:{b:.3f}" for a, b in zip((xs - mu) / sigma, d(xs))))
