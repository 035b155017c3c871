"""The paper nets' layers: maxout's value and subgradient, and dropout's mask statistics."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.nets.layers import Dropout, Flatten, Maxout, keep_mask
from gankit.nets.mlp import MaxoutDiscriminator


def test_maxout_value_and_gradient_go_to_the_winning_piece():
    torch.manual_seed(0)
    layer = Maxout(7, units=4, pieces=3)
    x = torch.randn(5, 7, requires_grad=True)
    out = layer(x)
    pre = layer.linear(x).view(5, 4, 3)
    assert torch.allclose(out, pre.amax(dim=2), atol=1e-6)  # computed batch-last: same sums, another order
    upstream = torch.randn(5, 4)
    out.backward(upstream)
    # by hand: only the arg-max piece of each unit passes the upstream gradient back
    winners = pre.argmax(dim=2, keepdim=True)
    grad_pre = torch.zeros(5, 4, 3).scatter_(2, winners, upstream.unsqueeze(2)).view(5, 12)
    assert torch.allclose(layer.linear.weight.grad, grad_pre.T @ x.detach(), atol=1e-6)
    assert torch.allclose(x.grad, grad_pre @ layer.linear.weight.detach(), atol=1e-6)


@pytest.mark.parametrize("keep", [0.8, 0.5, 0.3])
def test_keep_mask_is_bernoulli_with_the_asked_probability(keep):
    torch.manual_seed(1)
    n = 400_000
    mask = keep_mask(torch.Size([n]), keep, torch.device("cpu"))
    frac = mask.float().mean().item()
    assert abs(frac - keep) < 5 * math.sqrt(keep * (1 - keep) / n)  # 5 standard errors
    # neighbours independent: the four 16-bit slices of one random word must not agree
    m = mask.float()
    p_both = (m[:-1] * m[1:]).mean().item()
    assert abs(p_both - keep * keep) < 5 * math.sqrt(keep * keep * (1 - keep * keep) / n)


def test_dropout_scales_kept_units_zeros_the_rest_and_passes_gradient_through_the_mask():
    torch.manual_seed(2)
    layer = Dropout(0.2).train()
    x = torch.rand(300, 784) + 0.5  # no zeros in x, so zeros in the output are dropped units
    x.requires_grad_(True)
    out = layer(x)
    kept = out != 0
    assert torch.allclose(out[kept], x.detach()[kept] / 0.8)
    assert abs(kept.float().mean().item() - 0.8) < 0.01
    out.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.8)
    # the mean activation is preserved in expectation (inverted dropout)
    assert abs(out.detach().mean().item() / x.detach().mean().item() - 1) < 0.01


def test_dropout_on_a_batch_last_view_keeps_its_layout_and_statistics():
    torch.manual_seed(3)
    x = (torch.rand(240, 500) + 0.5).t()  # (500, 240) seen through a transpose, as Maxout returns
    assert not x.is_contiguous()
    out = Dropout(0.5).train()(x)
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / 0.5)
    n = kept.numel()
    assert abs(kept.float().mean().item() - 0.5) < 5 * math.sqrt(0.25 / n)
    assert out.t().is_contiguous()  # the product ran in x's memory order


def test_dropout_is_the_identity_in_eval_mode_and_at_p0_and_follows_the_seed():
    x = torch.rand(10, 20)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    torch.manual_seed(3)
    a = Dropout(0.5).train()(x)
    torch.manual_seed(3)
    b = Dropout(0.5).train()(x)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)


def test_paper_discriminator_uses_dropout_only_in_training():
    torch.manual_seed(4)
    d = MaxoutDiscriminator()
    x = torch.rand(8, 1, 28, 28)
    d.eval()
    assert torch.equal(d(x), d(x))
    d.train()
    assert not torch.equal(d(x), d(x))


def test_flatten_gives_channels_last_gradients_and_the_same_numbers():
    # (C, H, W) order out, as nn.Flatten; for a channels_last input the gradient goes back
    # channels_last (the layout of the activation saved before it), with the same values.
    # The gradient is read where it enters the layer below (a leaf's .grad would be copied
    # into the leaf's own layout by autograd either way).
    x0 = torch.randn(3, 4, 2, 5)
    w = torch.randn(4 * 2 * 5)
    for cl in (False, True):
        got = {}
        for name, flatten in (("ref", nn.Flatten()), ("ours", Flatten())):
            x = (x0.contiguous(memory_format=torch.channels_last) if cl else x0.clone()).requires_grad_()
            h = x * 1.0  # keeps x's layout
            h.register_hook(lambda g, name=name: got.__setitem__(name, g))
            out = flatten(h)
            assert torch.equal(out, x0.flatten(1))
            (out * w).sum().backward()
        assert torch.equal(got["ours"], got["ref"])
        assert got["ours"].is_contiguous(memory_format=torch.channels_last) == cl
        assert got["ref"].is_contiguous()  # what nn.Flatten hands back in both cases
