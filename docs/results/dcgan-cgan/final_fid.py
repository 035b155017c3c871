"""The single fid10k evaluation of this session: one checkpoint, through the reproduction's evaluate_run."""
import json, sys, time
import torch
torch.set_num_threads(1)
from gankit.reproduce.dcgan_mnist import evaluate_run

ckpt, recal = sys.argv[1], sys.argv[2] == "recal"
t = time.time()
f = evaluate_run(ckpt, ["classes10k", "cfd10k", "fid10k", "kid10k"], seed=0, recalibrate_bn=recal)
print(json.dumps({"ckpt": ckpt, "recalibrate_bn": recal, **f, "seconds": round(time.time() - t, 1)}), flush=True)
