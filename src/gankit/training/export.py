"""``gankit export``: the sampling generator alone, loadable by plain PyTorch.

The file is safetensors with G's own state-dict keys (the weight average where the run
keeps one, batch-norm statistics recomputed for it) and JSON metadata (see
``generator.GENERATOR_FORMAT``)::

    from safetensors import safe_open
    from safetensors.torch import load_file
    meta = safe_open("g.safetensors", "pt").metadata()
    net = json.loads(meta["net"])           # {"name": ..., "kwargs": {...}}
    G = MyGenerator(**net["kwargs"]); G.load_state_dict(load_file("g.safetensors"))
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save

from gankit import atomic
from gankit.errors import CheckpointError
from gankit.nets.registry import net_kwargs
from gankit.training.generator import GENERATOR_FORMAT, load_generator


def export_generator(run: str | Path, out: str | Path) -> Path:
    """Write the generator of ``run`` (run directory, checkpoint or export) to ``out``."""
    G, cfg, context, step = load_generator(run)
    out = Path(out)
    kwargs = net_kwargs("generator", cfg.generator.name, cfg.generator.args, **context)
    meta = {
        "format": GENERATOR_FORMAT,
        "net": json.dumps({"name": cfg.generator.name, "kwargs": kwargs}),
        "noise": json.dumps({
            "dim": cfg.noise.dim, "distribution": cfg.noise.distribution, "scale": cfg.noise.scale,
            "num_classes": context.get("num_classes", 0),
        }),
        "pixel_range": cfg.data.pixel_range,  # G's output range: unit [0, 1] or symmetric [-1, 1]
        "step": str(step),
        "config": json.dumps(cfg.to_dict()),
        "context": json.dumps(context),
    }
    # private contiguous copies: safetensors refuses shared or strided storage
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in G.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic.write_bytes(out, save(tensors, metadata=meta))
    except OSError as e:
        raise CheckpointError(f"{out}: could not write the exported generator ({e.strerror or e})") from None
    return out
