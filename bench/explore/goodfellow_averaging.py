"""Recipe and weight-averaging probe on gankit's own build (kept as a record, not library code).

    [CS=10,3,2] [SMOOTH=0.9] python bench/explore/goodfellow_averaging.py STEPS EVAL_EVERY key=value ...

Trains goodfellow2014-fast (1 thread) with the given overrides and keeps one average of G's
weights per c in CS, each with decay (1 + t) / (c + t) at update t (no cap): c = 10 is
TensorFlow's ramp, 3 a linearly weighted average, 2 the uniform one. Every EVAL_EVERY steps
it prints the Parzen figure (10,000 samples, sigma chosen on 1,000 validation images, 10,000
test images) and the digit classifier's Frechet distance (cfd, 10,000 samples vs the test
set) of the raw G and of each average. SMOOTH < 1 puts one-sided label smoothing on D.
Fourth session (seed 0, under load; the logs are averaging-*.log):
  CS=10,5,3,2 ... 27000 4500                      -> averaging-glr0.1.log (no cfd; stopped after 9k)
  CS=10,4     ... 27000 4500 optim_g.lr=0.2       -> averaging-glr0.2-c4.log (no cfd; stopped after 13.5k)
  CS=10,3,2   ... 27000 9000 optim_g.lr=0.2       -> averaging-glr0.2.log
  CS=10,5     ... 27000 9000 optim_g.lr=0.3       -> averaging-glr0.3.log (stopped after 18k)
  SMOOTH=0.9  ... 10000 2500  (one-sided smoothing 0.9: -21.9 nats at 2.5k against 114.6; stopped)
"""
import os, sys, time, copy, torch, torch.nn.functional as F
from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.training.build import build_state
from gankit.training.algorithm1 import algorithm1
from gankit.training.ema import EMA
from gankit.metrics.parzen import parzen_window
steps, every = int(sys.argv[1]), int(sys.argv[2])
cfg = load_config("goodfellow2014-fast", ["train.threads=1", *sys.argv[3:]])
data = load_dataset("mnist")
s, _ = build_state(cfg, data)
smooth = float(os.environ.get("SMOOTH", "1"))
if smooth != 1:
    from gankit.objectives.base import Objective
    o = s.objective
    scale = 0.5
    def dl(r, f):
        return scale * (smooth * F.softplus(-r).mean() + (1 - smooth) * F.softplus(r).mean() + F.softplus(f).mean())
    s.objective = Objective("ns-smooth", dl, o.g_loss)
class WEMA(EMA):
    def __init__(self, m, c):
        super().__init__(m, 1.0); self.c = c
    def current_decay(self):
        return (1 + self.num_updates) / (self.c + self.num_updates)
cs = [float(c) for c in os.environ.get("CS", "10,5,3,2").split(",")]
emas = [WEMA(s.G, c) for c in cs]
vx = data.valid.x.reshape(-1, 784)[:1000]; tx = data.test.x.reshape(-1, 784)
from gankit.metrics.classifier import ClassifierFD
cfd = ClassifierFD("mnist", data.test.x[:10000])
def ev(G):
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        x = G(torch.randn(10000, 100, generator=g))
    r = parzen_window(x.reshape(-1, 784), vx, tx)
    return f"{r.mean:.1f}(s{r.sigma:.3f},cfd{cfd(x):.1f})"
t0 = time.time(); last = 0
while s.step < steps:
    tgt = min(steps, s.step + every)
    algorithm1(s, tgt, [lambda st, stats: [e.update() for e in emas]])
    tt = time.time() - t0
    print(f"step {s.step} t={tt:.0f}s raw={ev(s.G.eval())} " + " ".join(f"c{e.c:g}={ev(e.module)}" for e in emas), flush=True)
    s.G.train()
