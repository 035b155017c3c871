"""Fifth session: cheap metrics (classes10k, cfd10k; 10,000 samples, seed 0) of checkpoints,
through the shipped path (evaluate_run(ckpt, ..., seed=0, recalibrate_bn=True): EMA weights,
batch-norm statistics recomputed) and, with --live, of the trained (live) G as stored.
One JSON line per checkpoint and variant.  Usage: python sweep5.py [--live] CKPT..."""
import json, sys, time
import torch
torch.set_num_threads(1)
from gankit.config import config_from_dict
from gankit.data.datasets import load_dataset
from gankit.metrics.registry import evaluate
from gankit.reproduce.dcgan_mnist import eval_context, evaluate_run
from gankit.training import checkpoint as ckpt
from gankit.training.build import build_nets

args = sys.argv[1:]
live = "--live" in args
paths = [a for a in args if a != "--live"]
data = None
for path in paths:
    t = time.time()
    f = evaluate_run(path, ["classes10k", "cfd10k"], seed=0, recalibrate_bn=True)
    print(json.dumps({"ckpt": path, "variant": "shipped", **f, "seconds": round(time.time() - t, 1)}), flush=True)
    if live:
        t = time.time()
        p = ckpt.load(path)
        cfg = config_from_dict(json.loads(p["config"]), "cfg")
        context = json.loads(p["context"])
        data = data or load_dataset(cfg.data.name, cfg.data.root, cfg.data.download)
        G, _ = build_nets(cfg, context)
        G.load_state_dict(p["G"])
        G.eval()
        f = evaluate(["classes10k", "cfd10k"], eval_context(cfg, G, 0, data, 0, False))
        print(json.dumps({"ckpt": path, "step": int(p["step"]), "variant": "live", **f, "seconds": round(time.time() - t, 1)}), flush=True)
