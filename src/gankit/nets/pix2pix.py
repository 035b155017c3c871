"""The image-to-image nets of pix2pix (Isola, Zhu, Zhou & Efros 2017).

- ``unet`` (G): an encoder of stride-2 4x4 convolutions down to 1x1 (or ``depth``
  halvings) and a mirrored decoder of transposed convolutions; with ``skips`` (the
  default) each decoder layer also sees the encoder's feature map of its size,
  concatenated on the channels (the paper's U-Net); ``skips: false`` is the paper's
  encoder-decoder ablation. Channels start at ``base`` and double per halving up to
  ``max_channels`` (the paper's C64-C128-C256-C512-... with ``base: 64``).
  G(z, y) translates the input image ``y`` = A and ignores ``z``: as in the paper, the only
  noise is dropout in the first ``dropout_layers`` decoder layers, kept on at test time
  (``test_dropout``), so outputs vary a little from call to call. At test time its batch
  norm layers use the running averages of training (PyTorch's eval mode);
  ``test_batch_stats: true`` normalises by the statistics of the batch being translated
  instead, as the paper's inference does (with a batch of one: instance normalisation).
- ``patchgan`` (D): a convolutional net whose every output cell classifies one
  ``patch`` x ``patch`` window of the (input, output) pair, stacked on the channels; the
  loss averages over the cells (D returns every cell's logit: ``logits_per_example`` of
  them per example). ``patch`` is 1 (PixelGAN: 1x1 convolutions), 7, 16, 34, 70 (the
  paper's default on 256x256), 142 or 286 (9 * 2**n - 2 for n stride-2 layers, then two
  stride-1 4x4 layers), or ``image`` (ImageGAN: one logit seeing the whole image).
  ``conditional: false`` gives D the output alone (the paper's unconditional "GAN" row).

Both take ``norm``: batch (the paper's), instance, or none. LeakyReLU 0.2 in the encoder and
D, ReLU in the decoder, N(0, 0.02) weights (dcgan_init).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nets.dcgan import dcgan_init
from gankit.nets.registry import register_net

PATCH_SIZES = {1: None, 7: 0, 16: 1, 34: 2, 70: 3, 142: 4, 286: 5}  # patch -> stride-2 layers


class BatchStatsNorm2d(nn.BatchNorm2d):
    """Batch norm that in eval mode still normalises by the statistics of the batch it sees,
    leaving the running averages as training left them (pix2pix's inference)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return super().forward(x)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def make_norm(kind: str, channels: int, test_batch_stats: bool = False) -> nn.Module:
    if kind == "batch":
        return BatchStatsNorm2d(channels) if test_batch_stats else nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {kind!r}")


def _paired_shapes(image_shape: Sequence[int], condition_shape: Optional[Sequence[int]]) -> tuple[int, int, int]:
    """(input channels, output channels, side); both images must be square and the same size."""
    if condition_shape is None:
        raise ValueError("an image-to-image net needs paired data (a dataset with input images, e.g. edges2fashion)")
    (c_out, h, w), (c_in, ha, wa) = image_shape, condition_shape
    if h != w or (ha, wa) != (h, w):
        raise ValueError(f"input {list(condition_shape)} and target {list(image_shape)} images must be square and the same size")
    return int(c_in), int(c_out), int(h)


@register_net("unet")
class UNetGenerator(nn.Module):
    def __init__(
        self,
        image_shape: Sequence[int],
        condition_shape: Optional[Sequence[int]] = None,
        output: str = "tanh",
        base: int = 64,
        max_channels: int = 512,
        depth: Optional[int] = None,
        skips: bool = True,
        norm: str = "batch",
        dropout: float = 0.5,
        dropout_layers: int = 3,
        test_dropout: bool = True,
        test_batch_stats: bool = False,
    ) -> None:
        super().__init__()
        c_in, c_out, side = _paired_shapes(image_shape, condition_shape)
        sizes = [side]
        while sizes[-1] > 1 and (depth is None or len(sizes) <= depth):
            sizes.append(sizes[-1] // 2)  # a 4x4, stride-2, pad-1 convolution halves (floors) the side
        d = len(sizes) - 1
        if d < 1 or (depth is not None and d != depth):
            raise ValueError(f"depth {depth}: a {side}x{side} image allows 1 to {max(1, side.bit_length() - 1)} halvings")
        if output not in ("tanh", "sigmoid"):
            raise ValueError(f"output must be 'tanh' or 'sigmoid', got {output!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.skips, self.dropout, self.test_dropout, self.output = skips, dropout, test_dropout, output
        ch = [min(base * 2**i, max_channels) for i in range(d)]
        self.down = nn.ModuleList()
        for i in range(d):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(c_in if i == 0 else ch[i - 1], ch[i], 4, 2, 1, bias=i == 0 or i == d - 1 or norm != "batch"))
            if 0 < i < d - 1:  # none on the input layer (DCGAN) nor at the 1x1 bottleneck (pix2pix's code)
                layers.append(make_norm(norm, ch[i], test_batch_stats))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        self.drop_at: list[bool] = []
        for j, i in enumerate(reversed(range(d))):  # decoder layer j maps size sizes[i + 1] to sizes[i]
            cin = ch[i] * (2 if skips and i < d - 1 else 1)
            cout = c_out if i == 0 else ch[i - 1]
            pad = sizes[i] - 2 * sizes[i + 1]  # 0, or 1 where the encoder floored an odd side
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1, output_padding=pad, bias=i == 0 or norm != "batch")]
            if i > 0:
                layers.append(make_norm(norm, cout, test_batch_stats))
            self.up.append(nn.Sequential(*layers))
            self.drop_at.append(i > 0 and j < dropout_layers and dropout > 0)
        dcgan_init(self)

    def forward(self, z: Optional[Tensor], y: Optional[Tensor] = None) -> Tensor:
        if y is None:
            raise ValueError("the U-Net translates an input image: y must be the input images A")
        feats = []
        h = y
        for layer in self.down:
            h = layer(h)
            feats.append(h)
        drop_live = self.training or self.test_dropout
        for j, layer in enumerate(self.up):
            i = len(self.down) - 1 - j
            if self.skips and j > 0:
                h = torch.cat([h, feats[i]], 1)
            h = layer(h)
            if self.drop_at[j]:
                h = F.dropout(h, self.dropout, training=drop_live)
        return torch.tanh(h) if self.output == "tanh" else torch.sigmoid(h)


@register_net("patchgan")
class PatchDiscriminator(nn.Module):
    def __init__(
        self,
        image_shape: Sequence[int],
        condition_shape: Optional[Sequence[int]] = None,
        patch: Union[int, str] = 70,
        base: int = 64,
        max_channels: int = 512,
        norm: str = "batch",
        conditional: bool = True,
    ) -> None:
        super().__init__()
        c_in, c_out, side = _paired_shapes(image_shape, condition_shape)
        self.conditional = conditional
        cin = c_out + (c_in if conditional else 0)
        c = lambda i: min(base * 2**i, max_channels)  # noqa: E731
        layers: list[nn.Module] = []
        if patch == 1:  # PixelGAN
            layers = [nn.Conv2d(cin, c(0), 1), nn.LeakyReLU(0.2), nn.Conv2d(c(0), c(1), 1, bias=norm != "batch"),
                      make_norm(norm, c(1)), nn.LeakyReLU(0.2), nn.Conv2d(c(1), 1, 1)]
            grid = side
        elif patch == "image" or patch in PATCH_SIZES:
            n = PATCH_SIZES.get(patch)  # type: ignore[arg-type]
            if patch == "image":
                n = max(0, (side // 4).bit_length() - 1)  # halve down to a 4x4 to 7x7 map, then one full-map kernel
            size, ch = side, cin
            for i in range(n):
                layers += [nn.Conv2d(ch, c(i), 4, 2, 1, bias=i == 0 or norm != "batch")]
                layers += ([make_norm(norm, c(i))] if i > 0 else []) + [nn.LeakyReLU(0.2)]
                size, ch = size // 2, c(i)
            if patch == "image":
                layers.append(nn.Conv2d(ch, 1, size))
                grid = 1
            else:
                layers += [nn.Conv2d(ch, c(n), 4, 1, 1, bias=n == 0 or norm != "batch")]
                layers += ([make_norm(norm, c(n))] if n > 0 else []) + [nn.LeakyReLU(0.2), nn.Conv2d(c(n), 1, 4, 1, 1)]
                grid = size - 2
            if grid < 1:
                raise ValueError(f"patch {patch} does not fit a {side}x{side} image (use a smaller patch or 'image')")
        else:
            raise ValueError(f"patch must be one of {', '.join(map(str, PATCH_SIZES))} or 'image', got {patch!r}")
        self.net = nn.Sequential(*layers)
        self.patch = patch
        self.logits_per_example = grid * grid  # the loss averages these; see training.state.examples_mixed_by
        dcgan_init(self)

    def cells(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        """The patch logits as a map [N, 1, h, w]."""
        if self.conditional:
            if y is None:
                raise ValueError("a conditional PatchGAN needs the input image y beside the output x")
            x = torch.cat([y.to(x.dtype), x], 1)
        return self.net(x)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.cells(x, y).flatten()
