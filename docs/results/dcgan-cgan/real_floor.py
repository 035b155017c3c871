"""Sixth session: the floor of fid10k / kid10k on MNIST: 10,000 real *training* images (the
first 10,000 of the 50k split) scored as if they were samples, against the first 10,000 test
images, with the same extractor, resize and statistics as the metric. One JSON line."""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
from gankit.data.datasets import load_dataset
from gankit.metrics.fid import InceptionFeatures, frechet_distance_features, kernel_inception_distance, real_features

t = time.time()
d = load_dataset("mnist", None, False)
ext = InceptionFeatures()
test = real_features(ext, ext.name, d.name, "test", d.split("test").x[:10_000])
train = real_features(ext, ext.name, d.name, "train", d.split("train").x[:10_000])
kid, kid_std = kernel_inception_distance(train, test, seed=0)
print(json.dumps({"fake": "mnist train[:10000]", "real": "mnist test[:10000]", "fid10k": frechet_distance_features(train, test),
                  "kid10k": kid, "kid10k_std": kid_std, "seconds": round(time.time() - t, 1)}), flush=True)
