"""Scratch: train a figure1 preset with overrides; print JSD / d_dev at checkpoints (raw G and EMA G)."""
import sys, time, json, math, torch
torch.set_num_threads(1)
import numpy as np
from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.data.toy import toy_spec
from gankit.theory.oned import snapshot_1d
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state
from gankit.reproduce.figure1 import _net_fns, X_METRIC
preset, tag = sys.argv[1], sys.argv[2]
ov = sys.argv[3:]
cfg = load_config(preset, ov)
spec = toy_spec(cfg.data.name); mu, sigma = float(spec.centers[0, 0]), spec.sigma
data = load_dataset(cfg.data.name)
state, _ = build_state(cfg, data)
cbs = []
ema = state.extras.get("G_ema")
if ema is not None: cbs.append(ema)
g, d = _net_fns(state, cfg.data.pixel_range)
def ge(z):
    with torch.no_grad():
        return ema.module(torch.as_tensor(z, dtype=torch.float32).view(-1, 1)).view(-1).double().numpy()
t = time.time(); tc = time.process_time()
n = cfg.train.steps; out = []
for i in range(1, 11):
    algorithm1(state, int(n * i / 10), cbs)
    s = snapshot_1d(g, d, mu, sigma, (-cfg.noise.scale, cfg.noise.scale), X_METRIC, bins=3000)
    row = dict(step=state.step, jsd=round(s.jsd, 5), dev=round(s.d_dev_99, 4))
    if ema is not None:
        se = snapshot_1d(ge, d, mu, sigma, (-cfg.noise.scale, cfg.noise.scale), X_METRIC, bins=3000)
        row.update(jsd_ema=round(se.jsd, 5), dev_ema=round(se.d_dev_99, 4))
    out.append(row)
from gankit.theory.optimum import jsd as _jsd
def parts(fn):
    s = snapshot_1d(fn, d, mu, sigma, (-cfg.noise.scale, cfg.noise.scale), X_METRIC, bins=3000)
    w = s.centers[1] - s.centers[0]; pd = s.p_data * w; pg = s.p_g * w; m = 0.5 * (pd + pg)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = 0.5 * np.where(pd > 0, pd * np.log(pd / m), 0) + 0.5 * np.where(pg > 0, pg * np.log(pg / m), 0)
    u = np.abs(s.centers - mu) / sigma
    return dict(tail25=round(float(t[u > 2.5].sum()), 5), body=round(float(t[u <= 2.5].sum()), 5),
                pg_out25=round(float(pg[u > 2.5].sum()), 4), pd_out25=round(float(pd[u > 2.5].sum()), 4),
                pg_out3=round(float(pg[u > 3].sum()), 4))
extra = parts(ge if ema is not None else g)
torch.save({"G": (ema.module if ema is not None else state.G).state_dict(), "D": state.D.state_dict()}, f"/tmp/fig1_{tag}.pt")
out[-1]["parts"] = extra
print(json.dumps(dict(tag=tag, final=out[-1], traj=out, wall=round(time.time() - t, 1), cpu=round(time.process_time() - tc, 1), ov=ov)), flush=True)
