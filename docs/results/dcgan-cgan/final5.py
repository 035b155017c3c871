"""Fifth session: cheap metrics, then fid10k + kid10k, of one checkpoint through the shipped
path (evaluate_run(..., seed=0, recalibrate_bn=True)); one JSON line each, printed as done."""
import json, sys, time
import torch
torch.set_num_threads(1)
from gankit.reproduce.dcgan_mnist import evaluate_run

ckpt = sys.argv[1]
for metrics in (["classes10k", "cfd10k"], ["fid10k", "kid10k"]):
    t = time.time()
    f = evaluate_run(ckpt, metrics, seed=0, recalibrate_bn=True)
    print(json.dumps({"ckpt": ckpt, **f, "seconds": round(time.time() - t, 1)}), flush=True)
