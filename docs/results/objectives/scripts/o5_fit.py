import sys, time, json, torch
torch.set_num_threads(1)
from gankit.reproduce.fgan_gaussian import *
name = sys.argv[1]; kw = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
seed = int(kw.pop("seed", 0))
t = time.time(); d = direct_minimiser(name)
r = fgan_fit(name, seed, FitSettings(**kw))
print(name, kw, "seed", seed, "direct", [round(v, 3) for v in d[:2]], "fgan", {k: round(v, 3) for k, v in r.items()}, "err", round(abs(r["mu"]-d[0]),3), round(abs(r["sigma"]-d[1]),3), f"{time.time()-t:.0f}s", flush=True)
