"""Reference row for the MNIST preset table: the same three metrics (parzen10k, cfd10k,
classes10k) with 10,000 real MNIST training images (a seeded random draw from the
50,000-image training split) in place of generated samples — the ceiling/floor a
generator approaches. Uses the registry's metric functions unchanged.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python docs/results/objectives/scripts/mnist_reference.py [OUT_JSON]
"""
import json
import sys

import torch

from gankit.data.datasets import load_dataset
from gankit.metrics.registry import EvalContext, evaluate

torch.set_num_threads(1)
data = load_dataset("mnist")
g = torch.Generator().manual_seed(0)
idx = torch.randperm(len(data.train), generator=g)[:10_000]
real = data.train.x[idx]


def sample(n: int) -> torch.Tensor:
    return real[:n]


figures = evaluate(["parzen10k", "cfd10k", "classes10k"], EvalContext(sample=sample, data=data, seed=0))
text = json.dumps(figures, indent=2, sort_keys=True)
print(text)
if len(sys.argv) > 1:
    open(sys.argv[1], "w").write(text + "\n")
