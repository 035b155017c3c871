"""Run configuration: presets are small YAML deltas over ``presets/defaults.yaml``.

Every field is validated by pydantic; an unknown key, a wrong type or an out-of-range
value becomes one :class:`ConfigError` naming the field.
"""
from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gankit.errors import ConfigError

# --dry-run: seconds, tiny data, the real code path. Overrides for training; the scale
# shrinks metric sample counts.
# The user's own overrides go after these, so an explicit setting (train.steps=40) wins.
DRY_RUN_OVERRIDES = [
    "dry_run=true",
    "data.limit=500",
    "data.batch_size=50",
    "train.steps=12",
    "log.every=4",
    "log.samples_every=6",
    "log.checkpoint_every=6",
    "log.tensorboard=true",
]
DRY_RUN_SCALE = 0.02
GENERATOR_WEIGHTS = ("average", "raw")  # which generator of a checkpoint sampling uses: its weight average or G itself
# --dry-run keeps a critic warm-up's shape, not its length: at most this many warm-up
# iterations at the start, of at most this many critic steps
DRY_RUN_WARMUP_FIRST, DRY_RUN_WARMUP_STEPS = 2, 5


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NetConfig(_Section):
    """A network by registry name, with keyword arguments for its constructor."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class DataConfig(_Section):
    name: str = "mnist"
    root: Optional[str] = None  # directory with the dataset's files; else installed/downloaded copies
    download: bool = True  # only tried when no local copy exists
    batch_size: int = Field(100, ge=1)
    limit: Optional[int] = Field(None, ge=1)  # keep the first N examples of each split (smoke runs)
    pixel_range: Literal["unit", "symmetric"] = "unit"  # [0, 1] or [-1, 1] as the nets see it
    conditional: bool = False  # feed labels to G and D (paired data: the input image A)
    direction: Literal["AtoB", "BtoA"] = "AtoB"  # paired data: translate A into B, or B into A
    flip: bool = False  # paired data: mirror both images of a pair at random (training batches)
    jitter: int = Field(0, ge=0)  # paired data: shift both images of a pair by up to this many pixels
    # semi-supervised: keep the labels of this many training examples per class (data/labelled.py);
    # the rest are unlabelled. label_seed picks them (null: the run's seed).
    labels_per_class: Optional[int] = Field(None, ge=1)
    label_seed: Optional[int] = None


class NoiseConfig(_Section):
    distribution: Literal["gaussian", "uniform"] = "gaussian"
    dim: int = Field(100, ge=1)
    scale: float = Field(1.0, gt=0)  # std for gaussian; half-width for uniform


class ObjectiveConfig(_Section):
    name: str = "non-saturating"
    args: dict[str, Any] = Field(default_factory=dict)
    r1: float = Field(0.0, ge=0)  # gamma of the R1 penalty added to D's loss (objectives/penalties.py)
    l1: float = Field(0.0, ge=0)  # paired data: lambda of the L1 term added to G's loss (objectives/reconstruction.py)


class OptimizerConfig(_Section):
    name: Literal["sgd", "adam", "rmsprop"] = "adam"
    lr: float = Field(2e-4, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = Field(1e-8, gt=0)
    alpha: float = Field(0.99, gt=0, lt=1)  # RMSProp smoothing
    weight_decay: float = Field(0.0, ge=0)

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {list(betas)}")
        return betas


class ScheduleConfig(_Section):
    """The paper's schedules, in steps: lr_t = max(lr / lr_decay**(t - lr_decay_start), min_lr)
    (lr itself before ``lr_decay_start``); momentum rises linearly from the optimiser's value to
    ``momentum_final`` between the two steps."""

    lr_decay: float = Field(1.0, ge=1.0)
    lr_decay_start: int = Field(0, ge=0)  # step at which the decay begins (0: from the start, as the paper)
    min_lr: float = Field(0.0, ge=0)
    # linear decay instead: lr holds until this fraction of train.steps, then falls linearly to 0
    # at the last step (Dai et al.'s 2017 code for the semi-supervised MNIST nets: lr * min(3 * (1 -
    # epoch / epochs), 1), i.e. from two thirds of the run)
    lr_linear_from: Optional[float] = Field(None, ge=0, lt=1)
    momentum_final: Optional[float] = Field(None, ge=0, lt=1)
    momentum_start_step: int = Field(0, ge=0)
    momentum_end_step: int = Field(1, ge=1)
    # momentum changes only at multiples of this many steps (pylearn2's MomentumAdjustor
    # moves it once an epoch: the epoch's length in steps)
    momentum_every: int = Field(1, ge=1)
    # how the SGD velocity holds the learning rate. torch: b <- mu b + g, w <- w - lr b (a new
    # lr rescales the whole velocity); pylearn2: v <- mu v - lr g, w <- w + v (each gradient
    # keeps the lr of its step). The two differ only while the lr changes.
    momentum_form: Literal["torch", "pylearn2"] = "torch"

    @model_validator(mode="after")
    def _one_lr_decay(self) -> "ScheduleConfig":
        if self.lr_linear_from is not None and self.lr_decay != 1.0:
            raise ValueError("schedule.lr_linear_from and schedule.lr_decay are two lr decays: set one")
        return self


class CriticWarmupConfig(_Section):
    """Extra critic steps, as the released WGAN code gives them: generator iteration t (0 for
    the first) has ``steps`` critic steps when t < ``first`` or t is a multiple of ``every``,
    else ``train.k``."""

    steps: int = Field(100, ge=1)
    first: int = Field(25, ge=0)
    every: int = Field(500, ge=0)  # 0: only the first iterations


class TrainConfig(_Section):
    steps: int = Field(20000, ge=1)  # outer iterations of Algorithm 1 (generator updates when g_steps is 1)
    k: int = Field(1, ge=1)  # discriminator steps per iteration
    # generator steps per iteration, each on fresh noise (the released improved-gan
    # minibatch-discrimination code takes 3 after each D step)
    g_steps: int = Field(1, ge=1)
    # alternating: Algorithm 1 (training/algorithm1.py); simultaneous: one pass over one
    # minibatch gives both nets' gradients, both step at once (the released MNIST code;
    # training/simultaneous.py)
    update: Literal["alternating", "simultaneous"] = "alternating"
    k_warmup: Optional[CriticWarmupConfig] = None  # more of them early on and now and then (WGAN)
    threads: Optional[int] = Field(None, ge=1)  # torch intra-op threads; None = torch's default
    ema_decay: Optional[float] = Field(None, gt=0, lt=1)  # keep an EMA of G's weights for sampling
    # the EMA's decay at update t is min(ema_decay, (1 + t) / (ema_warmup + t)): TensorFlow's
    # 10 weights step s by about s^8 (the last ~10% of the run); 3 by s (linear weights), 2
    # uniformly (Polyak) — polynomial-decay averaging (Shamir & Zhang 2013)
    ema_warmup: float = Field(10.0, ge=2)
    # keep an average of D's weights too, on the same ramp: a semi-supervised D classifies with
    # it (the released improved-gan code scores its test error on a running average of D)
    d_ema_decay: Optional[float] = Field(None, gt=0, lt=1)
    # Fast options, off by default because they change the numbers computed (see
    # docs/usage/metrics-speed.md for their measured effect on speed and quality):
    # bf16: autocast (CPU or CUDA) around G/D forward passes, losses fp32; fp16: CUDA autocast
    # with a loss scaler (CUDA only); auto: bf16 where the device has it in hardware (a CUDA
    # GPU with bf16, a CPU with AVX512-BF16 or AMX), else fp32, since emulated bf16 runs tens
    # of times slower than fp32. run.json records what a run used.
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    channels_last: bool = False  # NHWC memory format for conv nets and image batches
    compile: bool = False  # torch.compile G and D (static shapes: batches are always full)
    # D's step runs D once on real and generated examples together instead of once on each:
    # the same maths (other random stream, other rounding); only for a D that treats examples
    # independently (no batch norm, no packing)
    joint_d_batch: bool = False
    # every this many generator steps (and before the first) D is re-initialised and trained
    # alone for ``critic_refit_steps`` steps with a fresh optimiser state, so it is near its
    # optimum whenever G moves (a critic that saturates and stops following G, e.g. f-GAN's
    # TV critic; training/refit.py); 0: never
    critic_refit_every: int = Field(0, ge=0)
    critic_refit_steps: int = Field(0, ge=0)
    # where G, D, the data and the noise live: auto (CUDA when present), cpu, cuda, cuda:N or
    # mps. In a data-parallel job (torchrun) each process takes cuda:LOCAL_RANK.
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda|cuda:\d+|mps)$")
    # data-parallel jobs: batch norm over the global minibatch instead of each process's
    # slice (torch's SyncBatchNorm, CUDA only)
    sync_batchnorm: bool = False

    @model_validator(mode="after")
    def _one_d_step_when_simultaneous(self) -> "TrainConfig":
        if self.update == "simultaneous" and self.k != 1:
            raise ValueError(f"train.k must be 1 with train.update: simultaneous (one D and one G update per "
                             f"minibatch), got {self.k}")
        if self.update == "simultaneous" and self.k_warmup is not None:
            raise ValueError("train.k_warmup needs train.update: alternating (a simultaneous update has one D step)")
        if self.update == "simultaneous" and self.g_steps != 1:
            raise ValueError(f"train.g_steps must be 1 with train.update: simultaneous (one D and one G update per "
                             f"minibatch), got {self.g_steps}")
        return self


class LogConfig(_Section):
    every: int = Field(100, ge=1)  # metrics.jsonl / TensorBoard scalars
    samples_every: int = Field(2000, ge=1)  # PNG grid
    checkpoint_every: int = Field(2000, ge=1)  # steps
    checkpoint_seconds: float = Field(600.0, gt=0)  # and at most this many seconds apart
    keep_checkpoints: int = Field(3, ge=1)
    tensorboard: bool = True
    progress: bool = True
    diagnostics: bool = True  # progress/collapse diagnostics (training/diagnostics.py)
    diagnostics_every: int = Field(500, ge=1)
    # evaluation during training (training/evaluate.py): these metrics every eval_every
    # steps into metrics.jsonl and TensorBoard (Eval/...), on a fixed noise seed
    eval_every: Optional[int] = Field(None, ge=1)
    eval_metrics: list[str] = Field(default_factory=list)  # e.g. [fid2k]; names carry their sample counts
    best_metric: Optional[str] = None  # a figure of eval_metrics (e.g. fid2k); its best step is kept as best.safetensors

    @field_validator("eval_metrics")
    @classmethod
    def _registered_metrics(cls, names: list[str]) -> list[str]:
        if names:  # only then: the metric registry imports torch
            from gankit.metrics import METRICS

            unknown = [n for n in names if n not in METRICS]
            if unknown:
                raise ValueError(f"unknown metric(s) {', '.join(map(repr, unknown))} (see 'gankit metrics')")
        return names


MAX_SEED = 2**62  # the nets' random generators take 64-bit seeds; runs add small offsets to it


class Config(_Section):
    seed: int = Field(0, ge=0, le=MAX_SEED)
    # --dry-run: tiny data and counts, and metrics with a random-feature stand-in for
    # Inception; every output of such a run says "dry_run": true
    dry_run: bool = False
    data: DataConfig = Field(default_factory=DataConfig)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    generator: NetConfig
    discriminator: NetConfig
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    optim_g: OptimizerConfig = Field(default_factory=OptimizerConfig)
    optim_d: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    log: LogConfig = Field(default_factory=LogConfig)

    @model_validator(mode="after")
    def _best_metric_is_evaluated(self) -> "Config":
        log = self.log
        if log.best_metric is not None and (log.eval_every is None or not log.eval_metrics):
            raise ValueError("log.best_metric needs log.eval_every and log.eval_metrics")
        if log.eval_every is not None and not log.eval_metrics:
            raise ValueError("log.eval_every needs log.eval_metrics (e.g. [fid2k])")
        return self

    @model_validator(mode="after")
    def _dry_run_shortens_the_warmup(self) -> "Config":
        w = self.train.k_warmup
        if self.dry_run and w is not None:
            self.train.k_warmup = w.model_copy(update={
                "first": min(w.first, DRY_RUN_WARMUP_FIRST), "steps": min(w.steps, DRY_RUN_WARMUP_STEPS)})
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# ---------------------------------------------------------------------------------------
# Presets


def preset_names() -> list[str]:
    folder = resources.files("gankit") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml") and p.name != "defaults.yaml")


def preset_description(name: str) -> str:
    """The first sentence (up to a colon or semicolon) of a preset's leading comment: what
    it is, in one line."""
    text, _ = _preset_text(name)
    words: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        words += line.lstrip("#").split()
    block = " ".join(words)
    # a full stop that is not "et al." nor inside a number, or a colon/semicolon, ends it
    end = re.search(r"(?<!\bal)\.(?=\s|$)|[:;](?=\s|$)", block)
    return block[: end.start()] if end else block


class _Loader(yaml.SafeLoader):
    """YAML as presets and overrides read it: floats also without a dot (``1e-4``), as YAML
    1.2 reads them; PyYAML's 1.1 rules would leave ``lr=1e-4`` a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of config keys, got {type(data).__name__}")
    return data


def _preset_text(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise ConfigError(f"preset file {name_or_path}: not found")
        return path.read_text(), str(path)
    res = resources.files("gankit") / "presets" / f"{name_or_path}.yaml"
    if not res.is_file() or name_or_path == "defaults":
        raise ConfigError(f"unknown preset '{name_or_path}' (known: {', '.join(preset_names())}; or a path to a .yaml file)")
    return res.read_text(), f"preset {name_or_path}"


def deep_merge(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """``delta`` over ``base``, section by section. A section that names another ``name``
    (a different net or objective) starts from empty ``args``: arguments of one net mean
    nothing to another, so a preset can say ``base: wgan`` and swap the objective."""
    out = copy.deepcopy(base)
    for key, value in delta.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            if "name" in value and value["name"] != current.get("name"):
                current = {k: v for k, v in current.items() if k != "args"}
            # a net's args are keyword arguments: each replaces the base's value whole
            out[key] = {**current, **value} if key == "args" else deep_merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_preset(name_or_path: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset may name a ``base`` preset it is a delta over (default: defaults.yaml)."""
    text, source = _preset_text(name_or_path)
    delta = _read_yaml(text, source)
    base_name = delta.pop("base", None)
    if base_name is None:
        defaults = _read_yaml((resources.files("gankit") / "presets" / "defaults.yaml").read_text(), "defaults.yaml")
        return deep_merge(defaults, delta)
    if not isinstance(base_name, str):
        raise ConfigError(f"{source}: field 'base' must name a preset, got {base_name!r}")
    if base_name in seen:
        raise ConfigError(f"{source}: presets form a cycle through 'base: {base_name}'")
    return deep_merge(_resolve_preset(base_name, seen + (name_or_path,)), delta)


def parse_override(item: str) -> tuple[list[str], Any]:
    """``train.k=3`` -> (['train', 'k'], 3). Values are parsed as YAML scalars/lists."""
    if "=" not in item:
        raise ConfigError(f"override '{item}': expected key=value, e.g. train.k=3")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if not key.strip() or any(not p for p in parts):
        raise ConfigError(f"override '{item}': empty key")
    try:
        value = yaml.load(raw, Loader=_Loader) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    for item in overrides:
        parts, value = parse_override(item)
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override '{item}': '{p}' is not a section")
            node = nxt
        if parts[-1] == "name" and node.get("name") != value:
            # another net or objective: the old one's arguments mean nothing to it (as in
            # deep_merge); args given after the name still apply
            node.pop("args", None)
        node[parts[-1]] = value
    return out


def _printable(name: str) -> str:
    # Escape control characters (a newline in a YAML key) so an error message stays one line.
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)


def validate(raw: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(_printable(str(p)) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        got = err.get("input")
        got_s = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {got!r})"
        more = f" [and {len(e.errors()) - 1} more problem(s)]" if len(e.errors()) > 1 else ""
        raise ConfigError(f"{source}: field '{loc}': {msg}{got_s}{more}") from None


def load_config(preset: str, overrides: list[str] | None = None) -> Config:
    raw = apply_overrides(_resolve_preset(preset), overrides or [])
    return validate(raw, f"preset {preset}" if not preset.endswith((".yaml", ".yml")) else preset)


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(raw).__name__}")
    return validate(raw, source)
