"""Probe tool (sixth session): start a new run directory from a checkpoint of another run, with
config overrides outside train.*/log.* (e.g. a learning-rate schedule from that step on), so
`gankit train` resumes the copy under the changed config. The original run is untouched.

    python docs/results/dcgan-cgan/branch.py SRC_CKPT NEW_RUN_DIR key=value ...
then  gankit train PRESET <the run's overrides> <the same key=value ...> --out NEW_RUN_DIR
"""
import json
import sys
from pathlib import Path

import yaml

from gankit.config import apply_overrides, config_from_dict
from gankit.training import checkpoint as ckpt

src, dst, overrides = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
payload = ckpt.load(src)
cfg = config_from_dict(apply_overrides(json.loads(payload["config"]), overrides), f"{src}: config")
payload["config"] = json.dumps(cfg.to_dict())
(dst / "checkpoints").mkdir(parents=True, exist_ok=False)
ckpt.save(dst / "checkpoints" / src.name, payload)
(dst / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
print(f"{dst}: from {src} with {overrides}")
