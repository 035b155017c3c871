"""Scratch probe: figure1 preset + overrides; JSD (EMA G) at 8 points and its tail part at the end."""
import sys, time, json
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
state, _ = build_state(cfg, load_dataset(cfg.data.name))
cbs = make_diagnostics(cfg, None, state, None)
ema = state.extras.get("G_ema")
if ema is not None: cbs.insert(0, ema)
g, d = _net_fns(state, cfg.data.pixel_range)
t = time.time(); rows = []
n = cfg.train.steps
for i in range(1, 9):
    algorithm1(state, int(n * i / 8), cbs)
    s = snapshot_1d(g, d, mu, sigma, (-cfg.noise.scale, cfg.noise.scale), X_METRIC, bins=3000)
    rows.append((state.step, round(s.jsd, 5), round(s.d_dev_99, 4)))
w = s.centers[1] - s.centers[0]; pd = s.p_data * w; pg = s.p_g * w; m = 0.5 * (pd + pg)
with np.errstate(divide="ignore", invalid="ignore"):
    term = 0.5 * np.where(pd > 0, pd * np.log(pd / m), 0) + 0.5 * np.where(pg > 0, pg * np.log(pg / m), 0)
tail = float(term[np.abs(s.centers - mu) > 2.5 * sigma].sum())
# support of p_g in sigma units
nz = s.centers[pg > 0]
print(json.dumps(dict(tag=tag, ov=ov, jsd=rows[-1][1], dev=rows[-1][2], tail=round(tail, 5),
                      support=[round((nz.min() - mu) / sigma, 2), round((nz.max() - mu) / sigma, 2)],
                      curve=rows, sec=round(time.time() - t, 1))), flush=True)
