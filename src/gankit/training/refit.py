"""``train.critic_refit_every``: re-start the critic and fit it alone before G moves on.

Every ``critic_refit_every`` generator steps (and before the first) D gets its initial
weights back and a fresh optimiser state, then takes ``critic_refit_steps`` steps alone.
Why: a critic that saturates stops following G (f-GAN's TV critic, whose optimum is a step
function); re-fitted from the same start it is near its optimum whenever G moves, so G
follows the divergence's own gradient (envelope theorem). Algorithm 1 is unchanged: this is
a callback after the generator step.
"""
from __future__ import annotations

from typing import Any

from gankit.config import Config
from gankit.training.algorithm1 import StepStats, discriminator_step
from gankit.training.build import initial_nets
from gankit.training.state import TrainState


class CriticRefit:
    def __init__(self, cfg: Config, state: TrainState, context: dict[str, Any]) -> None:
        self.every, self.steps = cfg.train.critic_refit_every, cfg.train.critic_refit_steps
        # the initial weights, also for a resumed run (its D holds trained weights by now)
        _, D0 = initial_nets(cfg, context)
        self.init = {k: v.detach().clone() for k, v in D0.state_dict().items()}
        if state.step == 0:
            self.refit(state)

    def refit(self, s: TrainState) -> None:
        s.D.load_state_dict(self.init)
        s.opt_d.state.clear()
        for _ in range(self.steps):
            discriminator_step(s)

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every == 0:
            self.refit(s)
