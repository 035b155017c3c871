"""Simultaneous updates: the training step of the released MNIST code of Goodfellow et al.
(2014) (goodfeli/adversarial, ``AdversaryCost2.get_gradients``), beside Algorithm 1.

    for number of training iterations do
        sample m noise samples z ~ p_g(z) and m examples x ~ p_data(x)
        one forward pass: G(z), D(x), D(G(z))
        D's loss and G's loss from that pass; D's gradient and G's gradient
        update D and G together

Both gradients are taken at the weights both nets had in the pass, so neither update sees
the other. G's loss reads the very logits D's loss reads on the generated examples: D's
dropout masks on them are shared, as in the released code, where both costs are built on
one ``dropout_fprop`` of the samples; D's pass on the real minibatch draws its own masks.
Selected by ``train.update: simultaneous`` (k is then 1); as in Algorithm 1, the objective
supplies the losses and the optimisers the update rule.
"""
from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.training.algorithm1 import Callback, StepStats
from gankit.training.state import TrainState


def _gradient(loss: Tensor, net: nn.Module, opt: torch.optim.Optimizer, scaler: Optional[torch.amp.GradScaler],
              retain_graph: bool = False) -> None:
    """``net``'s gradient of ``loss`` into its ``.grad`` (loss-scaled under fp16), no other net's."""
    opt.zero_grad(set_to_none=True)
    params = [p for p in net.parameters() if p.requires_grad]
    (loss if scaler is None else scaler.scale(loss)).backward(inputs=params, retain_graph=retain_graph)


def _update(net: nn.Module, opt: torch.optim.Optimizer, scaler: Optional[torch.amp.GradScaler], s: TrainState) -> None:
    s.shard.average_gradients(net)  # before the scaler's inf check, so every process skips or takes the same step
    if scaler is None:
        opt.step()
    else:
        scaler.step(opt)
        scaler.update()


def simultaneous_step(s: TrainState) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One update of D and of G from one pass; returns (D's loss, G's loss, D's logits on x, on G(z))."""
    x, y = s.data.next()  # in a data-parallel job, each process's slice of one global minibatch (as z)
    z, c = s.conditions.sample(s.data.batch_size)
    with s.autocast():  # forward passes in train.precision; the losses below in fp32
        fake = s.G(z, c.y)
        real_logits, fake_logits, _ = s.d_passes(s.D, x, y, fake, c.y, None)
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    d_loss = s.objective.d_loss(real_logits, fake_logits)
    if s.objective.penalty is not None:
        d_loss = d_loss + s.objective.penalty(s.D, x, fake.detach(), y)
    g_loss = s.objective.g_loss(fake_logits)
    if s.objective.reconstruction is not None:
        g_loss = g_loss + s.objective.reconstruction(fake, c.target)
    # both gradients before either step: each at the weights of the forward pass
    _gradient(d_loss, s.D, s.opt_d, s.scaler_d, retain_graph=True)
    _gradient(g_loss, s.G, s.opt_g, s.scaler_g)
    _update(s.D, s.opt_d, s.scaler_d, s)
    _update(s.G, s.opt_g, s.scaler_g, s)
    if s.objective.constrain is not None:
        s.objective.constrain(s.D)
    return d_loss.detach(), g_loss.detach(), real_logits.detach(), fake_logits.detach()


def simultaneous(s: TrainState, until_step: int, callbacks: Iterable[Callback] = ()) -> None:
    """Run iterations until ``s.step == until_step``; callbacks see every iteration."""
    if s.objective.supervised is not None or s.objective.g_real is not None:
        # a labelled term or a G loss on real data needs minibatches this one pass does not draw
        raise ConfigError("train.update: simultaneous does not train semi-supervised objectives (use alternating)")
    callbacks = list(callbacks)
    s.G.train()
    s.D.train()
    while s.step < until_step:
        s.shard.reseed(s.step)
        d_loss, g_loss, real_logits, fake_logits = simultaneous_step(s)
        s.step += 1
        s.schedule.apply(s.step)
        # over the global minibatch: the mean of the processes' losses, every process's logits
        stats = StepStats(s.step, s.shard.mean(d_loss), s.shard.mean(g_loss), s.shard.gather(real_logits), s.shard.gather(fake_logits))
        for cb in callbacks:
            cb(s, stats)
