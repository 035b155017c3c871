"""An objective is a small piece: a discriminator loss, a generator loss, and optionally a
regulariser added to D's loss, a constraint applied to D after its step and, for paired
data, a reconstruction term added to G's loss.

Switching objectives is a preset key (``objective.name``); the training loop never asks
which one it has.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional

from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.registry import Registry, import_object

# penalty(D, real, fake, y) -> scalar added to D's loss (e.g. a gradient penalty)
Penalty = Callable[[nn.Module, Tensor, Tensor, Optional[Tensor]], Tensor]
# reconstruction(G's output, its paired target) -> scalar added to G's loss (paired data)
Reconstruction = Callable[[Tensor, Tensor], Tensor]
# supervised(D's logits on a labelled minibatch, its labels) -> scalar added to D's loss (semi-supervised)
Supervised = Callable[[Tensor, Tensor], Tensor]
# g_real(D, a real minibatch, G's output) -> (scalar added to G's loss, D's logits on G's output):
# e.g. feature matching, whose pass of D over G's output gives both
RealTerm = Callable[[nn.Module, Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Objective:
    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]  # (D's logits on real, on fake) -> loss D minimises
    g_loss: Callable[[Tensor], Tensor]  # (D's logits on fake) -> loss G minimises
    penalty: Optional[Penalty] = None
    constrain: Optional[Callable[[nn.Module], None]] = None  # applied to D after each D step
    reconstruction: Optional[Reconstruction] = None  # e.g. pix2pix's lambda * L1 (objectives/reconstruction.py)
    supervised: Optional[Supervised] = None  # needs labelled minibatches (data.labels_per_class)
    g_real: Optional[RealTerm] = None  # compares G's output with a real minibatch through D
    # True when sigmoid(D's output) is a probability of "real" (the value function and its
    # kin); False for critic scores (WGAN, hinge, least squares), which logs show raw
    d_probability: bool = True


OBJECTIVES: Registry[Callable[..., Objective]] = Registry("objective")
register_objective = OBJECTIVES.register


def build_objective(name: str, args: dict[str, Any] | None = None) -> Objective:
    args = dict(args or {})
    # "module:factory" is the user's own objective factory, found without registering it
    factory = import_object(name, "objective.name") if ":" in name else OBJECTIVES.get(name, field="objective.name")
    params = inspect.signature(factory).parameters
    for key in args:
        if key not in params:
            raise ConfigError(
                f"field 'objective.args.{key}': not an option of objective '{name}' "
                f"(options: {', '.join(params) or 'none'})"
            )
    try:
        objective = factory(**args)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"field 'objective.args': objective '{name}': {e}") from None
    if not isinstance(objective, Objective):
        raise ConfigError(f"field 'objective.name': '{name}' returned a {type(objective).__name__}, not a gankit Objective")
    return objective
