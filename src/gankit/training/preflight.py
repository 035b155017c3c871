"""Checks of a built training state that find, before any file is written, what would
otherwise fail with a traceback at the first step: objective arguments of the wrong type,
and minibatches a packing discriminator cannot take."""
from __future__ import annotations

import torch

from gankit.config import Config
from gankit.errors import ConfigError
from gankit.training.state import TrainState

_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, ArithmeticError)


def check_minibatch(cfg: Config, s: TrainState) -> None:
    """A discriminator that judges packs of examples needs minibatches of whole packs; the
    minibatch shrinks to the data's size when ``data.limit`` leaves fewer examples."""
    pack = getattr(s.D, "pack", 1)
    m = s.data.batch_size
    if isinstance(pack, int) and pack > 1 and m % pack:
        field = "data.limit" if m < cfg.data.batch_size else "data.batch_size"
        why = f"the data hold only {m} example(s)" if m < cfg.data.batch_size else f"minibatches have {m} examples"
        raise ConfigError(f"field '{field}': {why}, but discriminator '{cfg.discriminator.name}' judges packs of "
                          f"{pack}; use a minibatch that is a multiple of {pack}")


@torch.no_grad()
def check_objective(cfg: Config, s: TrainState) -> None:
    """Both losses on one minibatch of zero logits: an argument the objective cannot use
    (``objective.args.d_scale=abc``) is one ConfigError naming the field."""
    n = max(s.data.batch_size // max(int(getattr(s.D, "pack", 1) or 1), 1), 1)
    classes = int(getattr(s.D, "classes", 0) or 0)  # a classifier D gives one logit per class
    logits = torch.zeros(n, classes) if classes else torch.zeros(n)
    try:
        d, g = s.objective.d_loss(logits, logits), s.objective.g_loss(logits)
    except _ERRORS as e:
        raise ConfigError(f"field 'objective.args': objective '{cfg.objective.name}' with args {cfg.objective.args} "
                          f"cannot compute its losses: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    for what, loss in (("discriminator", d), ("generator", g)):
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
            raise ConfigError(f"field 'objective.args': objective '{cfg.objective.name}' with args {cfg.objective.args} "
                              f"gives a {what} loss that is not a number")


def preflight(cfg: Config, s: TrainState) -> None:
    check_minibatch(cfg, s)
    check_objective(cfg, s)
