"""Algorithm 1 of Goodfellow et al. (2014): minibatch stochastic gradient training of GANs.

    for number of training iterations do
        for k steps do
            sample m noise samples z ~ p_g(z) and m examples x ~ p_data(x)
            update D by ascending its stochastic gradient of V
        sample m noise samples z ~ p_g(z)
        update G by descending its stochastic gradient

The objective supplies the two losses (and any penalty, constraint or reconstruction
term), the optimisers supply the update rule: variants change those, never this loop.
k is ``s.critic_steps()``: ``train.k``, or more at the iterations ``train.k_warmup`` names;
G takes ``train.g_steps`` steps (1, as the paper) per iteration, each on fresh noise.
Conditional models draw z together with what G is conditioned on (``s.conditions``):
random class labels for a cGAN, a real minibatch of (input, target) pairs for pix2pix,
a labelled minibatch for a semi-supervised D.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import Tensor

from gankit.training.state import TrainState, optimiser_step


@dataclass
class StepStats:
    """Detached results of one iteration; callbacks turn them into numbers when they log."""

    step: int
    d_loss: Tensor
    g_loss: Tensor
    real_logits: Tensor
    fake_logits: Tensor  # D on G(z) during the generator step


Callback = Callable[[TrainState, StepStats], None]


def discriminator_step(s: TrainState) -> tuple[Tensor, Tensor]:
    x, y = s.data.next()  # in a data-parallel job, each process's slice of one global minibatch (as z)
    z, c = s.conditions.sample(s.data.batch_size)
    with s.autocast():  # forward passes in train.precision; the losses below in fp32
        with torch.no_grad():
            fake = s.G(z, c.y)
        # a semi-supervised run's labelled minibatch, drawn with z, goes through D with the others
        labelled_x = None if c.labelled is None else c.labelled[0]
        real_logits, fake_logits, labelled_logits = s.d_passes(s.D, x, y, fake, c.y, labelled_x)
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    loss = s.objective.d_loss(real_logits, fake_logits)
    if s.objective.penalty is not None:
        loss = loss + s.objective.penalty(s.D, x, fake, y)
    if s.objective.supervised is not None:
        assert c.labelled is not None and labelled_logits is not None  # build_state pairs the two
        loss = loss + s.objective.supervised(labelled_logits.float(), c.labelled[1])
    optimiser_step(loss, s.D, s.opt_d, s.scaler_d, s.shard)
    if s.objective.constrain is not None:
        s.objective.constrain(s.D)
    return loss.detach(), real_logits.detach()


def generator_step(s: TrainState, m: int) -> tuple[Tensor, Tensor]:
    z, c = s.conditions.sample(m)
    s.D.requires_grad_(False)  # only G's gradient is needed; D's weights are not updated here
    try:
        with s.autocast():
            fake = s.G(z, c.y)
            if s.objective.g_real is None:
                fake_logits, real_term = s.D(fake, c.y), None
            else:  # e.g. feature matching: one pass of D over G(z) gives its logits and the features compared
                real_term, fake_logits = s.objective.g_real(s.D, s.data.next()[0], fake)
                real_term = real_term.float()
            fake_logits = fake_logits.float()
        loss = s.objective.g_loss(fake_logits)
        if real_term is not None:
            loss = loss + real_term
        if s.objective.reconstruction is not None:
            loss = loss + s.objective.reconstruction(fake, c.target)
        optimiser_step(loss, s.G, s.opt_g, s.scaler_g, s.shard)
    finally:
        s.D.requires_grad_(True)
    return loss.detach(), fake_logits.detach()


def algorithm1(s: TrainState, until_step: int, callbacks: Iterable[Callback] = ()) -> None:
    """Run iterations until ``s.step == until_step``; callbacks see every iteration."""
    callbacks = list(callbacks)
    s.G.train()
    s.D.train()
    while s.step < until_step:
        s.shard.reseed(s.step)
        for _ in range(s.critic_steps()):
            d_loss, real_logits = discriminator_step(s)
        for _ in range(s.g_steps):
            g_loss, fake_logits = generator_step(s, s.data.batch_size)
        s.step += 1
        s.schedule.apply(s.step)
        # over the global minibatch: the mean of the processes' losses, every process's logits
        stats = StepStats(s.step, s.shard.mean(d_loss), s.shard.mean(g_loss), s.shard.gather(real_logits), s.shard.gather(fake_logits))
        for cb in callbacks:
            cb(s, stats)
