"""Cheap metrics (classes10k, cfd10k) of checkpoints: live G, EMA G (BN buffers copied from live G,
what gankit sample/eval use) and EMA G with batch-norm statistics recomputed for its own weights."""
import json, sys, time
import torch
torch.set_num_threads(1)
from torch import nn
from gankit.config import config_from_dict
from gankit.data.datasets import load_dataset
from gankit.metrics.registry import evaluate
from gankit.reproduce.dcgan_mnist import eval_context
from gankit.training import checkpoint as ckpt
from gankit.training.build import build_nets
from gankit.training.run import sample_noise


@torch.no_grad()
def recalibrate_bn(G, cfg, context, n=10_000, batch=500, seed=12345):
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats(); m.momentum = None  # cumulative average over the batches below
    noise = sample_noise(cfg, context, seed)
    G.train()
    for _ in range(n // batch):
        z, y = noise.sample(batch)
        G(z, y)
    G.eval()
    return G


data = None
variants = sys.argv[1].split(",")
for path in sys.argv[2:]:
    p = ckpt.load(path)
    cfg = config_from_dict(json.loads(p["config"]), "cfg")
    context = json.loads(p["context"])
    data = data or load_dataset(cfg.data.name, cfg.data.root, cfg.data.download)
    for v in variants:
        t = time.time()
        G, _ = build_nets(cfg, context)
        if v.startswith("live"):
            G.load_state_dict(p["G"])
            if v == "liverecal":
                recalibrate_bn(G, cfg, context)
        else:
            G.load_state_dict(p["extras"]["G_ema"]["weights"])
            if v == "emarecal":
                recalibrate_bn(G, cfg, context)
        G.eval()
        f = evaluate(["classes10k", "cfd10k"], eval_context(cfg, G, 0, data, 0, False))
        print(json.dumps({"ckpt": path, "step": int(p["step"]), "variant": v, **f, "seconds": round(time.time() - t, 1)}), flush=True)
