"""gankit as a library: the calls ``import gankit`` exposes (lazily, see ``gankit.__init__``).

::

    cfg = gankit.load_config("dcgan-mnist", ["train.steps=2000"])
    result = gankit.train(cfg)                     # a temporary run directory unless out= is given
    G = gankit.load_generator(result.run_dir)      # or a checkpoint, or a `gankit export` file
    x = G.sample(64, seed=0)                       # [64, C, H, W] in [0, 1]
    gankit.evaluate(result.run_dir, ["fid2k"])     # or evaluate(x, [...], data="mnist")

See docs/usage/api.md for each call with a runnable example.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from gankit.config import DRY_RUN_OVERRIDES, DRY_RUN_SCALE, Config, apply_overrides, config_from_dict, load_config
from gankit.data.datasets import Dataset, load_dataset
from gankit.errors import ConfigError, GankitError
from gankit.training.algorithm1 import Callback
from gankit.training.build import generate
from gankit.training.generator import load_generator as _load_generator
from gankit.training.generator import sample_noise
from gankit.training.state import TrainState

__all__ = ["Generator", "TrainResult", "evaluate", "load_config", "load_generator", "train"]

DataLike = Union[Dataset, Tensor, tuple, "torch.utils.data.Dataset", "torch.utils.data.DataLoader", str, Path]
NetLike = Union[str, type, Callable[..., nn.Module]]


@dataclass
class Generator:
    """A trained generator: the ``nn.Module`` (eval mode) with what it takes to sample it."""

    module: nn.Module
    config: Config
    context: dict[str, Any]
    step: int

    @property
    def num_classes(self) -> int:
        return int(self.context.get("num_classes", 0))

    def noise(self, n: int, seed: int = 0) -> tuple[Tensor, Optional[Tensor]]:
        """The first ``n`` noise vectors (and labels, if conditional) of ``seed``: the ones
        ``sample(n, seed)`` and ``gankit sample --seed`` draw."""
        return sample_noise(self.config, self.context, seed).sample(n)

    @torch.no_grad()
    def __call__(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """G(z) in [0, 1] for noise ``z`` you chose (latent walks, arithmetic)."""
        from gankit.training.build import to_unit_range

        if self.num_classes and labels is None:
            raise GankitError("this generator is conditional: pass labels")
        return to_unit_range(self.module(z, labels), self.config.data.pixel_range).clamp(0, 1)

    def sample(self, n: int, seed: int = 0, labels: Optional[Tensor] = None) -> Tensor:
        """``n`` samples [n, C, H, W] (or [n, d] points) in [0, 1]; the same as
        ``gankit sample RUN --n n --seed seed``."""
        if labels is not None and (self.num_classes == 0 or labels.shape != (n,)):
            raise GankitError(f"labels: expected {n} class labels for a conditional generator")
        return generate(self.module, n, sample_noise(self.config, self.context, seed), self.config.data.pixel_range, labels)


@dataclass
class TrainResult:
    """What ``train`` returns: the trained generator, where the run lives, and its state."""

    generator: Generator
    run_dir: Path
    step: int
    state: TrainState = field(repr=False)


def _config(config: Union[Config, str, dict], overrides: Sequence[str]) -> Config:
    if isinstance(config, Config):
        return config_from_dict(apply_overrides(config.to_dict(), list(overrides))) if overrides else config
    if isinstance(config, dict):
        return config_from_dict(apply_overrides(config, list(overrides)))
    if isinstance(config, (str, Path)):
        return load_config(str(config), list(overrides))
    raise ConfigError(f"config: expected a Config, a preset name or a dict, got {type(config).__name__}")


def _net_name(net: NetLike, role: str) -> str:
    """A net given as a class (or factory) by its import path: what the config and the run's
    checkpoints record, so ``load_generator`` finds it again."""
    if isinstance(net, str):
        return net
    if isinstance(net, nn.Module):
        raise ConfigError(f"{role}: pass the class ({type(net).__name__}), not an instance: gankit builds and seeds the net itself")
    if callable(net):
        from gankit.nets.registry import import_path

        return import_path(net)
    raise ConfigError(f"{role}: expected a net name, an import path or a class, got {type(net).__name__}")


def train(
    config: Union[Config, str, dict],
    out: Optional[Union[str, Path]] = None,
    *,
    overrides: Sequence[str] = (),
    data: Optional[DataLike] = None,
    generator: Optional[NetLike] = None,
    discriminator: Optional[NetLike] = None,
    callbacks: Iterable[Callback] = (),
    dry_run: bool = False,
    resume: str = "auto",
    progress: Optional[bool] = None,
) -> TrainResult:
    """Train ``config`` (a Config, preset name or dict) into run directory ``out`` (a new
    temporary directory when None).

    ``data`` replaces the preset's dataset: a tensor [N, C, H, W] in [0, 1], ``(x, y)``, a
    torch ``Dataset``/``DataLoader`` or a gankit ``Dataset`` (converted in memory), or an
    image folder (recorded as ``data.name: folder-SIDE``, ``data.root``). ``generator`` and
    ``discriminator`` replace the nets: a class (recorded by import path, keeping the
    preset's args only when the name is unchanged) or a name. ``dry_run`` applies the
    CLI's ``--dry-run`` settings first, then ``overrides``.
    """
    from gankit.data.convert import as_dataset
    from gankit.training.run import train as train_run

    extra: list[str] = []
    raw = _config(config, []).to_dict()
    if dry_run:
        raw = apply_overrides(raw, DRY_RUN_OVERRIDES)
    for role, net in (("generator", generator), ("discriminator", discriminator)):
        if net is not None:
            name = _net_name(net, role)
            if name != raw[role]["name"]:
                raw[role] = {"name": name, "args": {}}
    dataset: Optional[Dataset] = None
    if isinstance(data, (str, Path)):
        from gankit.data.folder import SIDES

        side = raw["data"]["name"].rpartition("-")[2]
        extra += [f"data.name={'folder-' + side if side.isdigit() and int(side) in SIDES else 'folder'}", f"data.root={data}"]
    elif data is not None:
        dataset = as_dataset(data, name=None if not isinstance(data, Dataset) else data.name)
        extra.append(f"data.name={dataset.name}")
    cfg = config_from_dict(apply_overrides(raw, extra + list(overrides)))
    run_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="gankit-run-"))
    state = train_run(cfg, run_dir, resume=resume, callbacks=callbacks, progress=progress, data=dataset)
    # from the final checkpoint, as `gankit sample` loads it: the same samples for a seed
    return TrainResult(load_generator(run_dir), run_dir, state.step, state)


def load_generator(path: Union[str, Path]) -> Generator:
    """The generator of a run directory, checkpoint file or ``gankit export`` file."""
    return Generator(*_load_generator(path))


def evaluate(
    samples_or_run: Union[Tensor, Generator, str, Path],
    metrics: Sequence[str],
    *,
    data: Optional[Union[str, DataLike]] = None,
    seed: int = 0,
    dry_run: bool = False,
    options: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Figures of ``metrics`` (names as ``gankit metrics`` lists them) for a run directory,
    checkpoint, export or ``Generator``, or for a tensor of samples [N, C, H, W] in [0, 1].
    ``data`` is the reference dataset (a registered name or your own data; default: the
    run's). ``dry_run`` shrinks the counts and swaps Inception for random features; the
    result says ``"dry_run"`` either way."""
    from gankit.data.convert import as_dataset
    from gankit.metrics.registry import EvalContext
    from gankit.metrics.registry import evaluate as run_metrics
    from gankit.training.evaluate import DryRunFeatures, check_metrics, generator_context

    names = list(metrics)
    check_metrics(names)
    ref: Optional[Dataset] = None
    if isinstance(data, str) and not Path(data).is_dir():
        ref = load_dataset(data)
    elif data is not None:
        ref = as_dataset(data)
    if isinstance(samples_or_run, Tensor):
        if ref is None:
            raise ConfigError("data: evaluating a tensor of samples needs the reference data (a dataset name or your own)")
        x = samples_or_run.detach().float().cpu()

        def take(n: int) -> Tensor:
            if n > x.shape[0]:
                raise GankitError(f"samples: a metric needs {n} samples, {x.shape[0]} were given")
            return x[:n]

        opts: dict[str, Any] = {"fid_extractor": DryRunFeatures()} if dry_run else {}
        ctx = EvalContext(sample=take, data=ref, seed=seed, scale=DRY_RUN_SCALE if dry_run else 1.0, options={**opts, **(options or {})})
        step: Optional[int] = None
    else:
        G = samples_or_run if isinstance(samples_or_run, Generator) else load_generator(samples_or_run)
        if ref is None:
            cfg = G.config
            ref = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download)
        ctx = generator_context(G.module, G.config, G.num_classes, ref, seed, seed, dry_run)
        ctx.options.update(options or {})
        step = G.step
    figures: dict[str, Any] = run_metrics(names, ctx)
    if step is not None:
        figures["step"] = step
    figures["dry_run"] = dry_run
    return figures
