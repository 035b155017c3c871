"""The GAN training loop people copy (the PyTorch DCGAN example, examples/dcgan/main.py, and
PyTorch-GAN's implementations/gan/gan.py), written for gankit's nets so the benchmark
compares loops, not architectures.

What makes it the "popular" loop, each on purpose and nothing more:
- a torchvision-style map Dataset holding uint8 images (as torchvision's MNIST/CIFAR10 do)
  that, per sample, makes a PIL image (``Image.fromarray(arr, mode="L")``; RGB for 3
  channels) and applies ``ToTensor()`` then ``Normalize((0.5,), (0.5,))`` when the nets
  take [-1, 1]. torchvision is not installed here, so those two transforms are reproduced
  step by step as torchvision implements them (PIL -> numpy copy -> tensor view/permute/
  contiguous -> float / 255; normalize on a clone: sub mean, div std) with Pillow, numpy
  and torch. PyTorch-GAN's ``Resize(img_size)`` is left out: at the images' own size
  torchvision returns the image unchanged;
- a default DataLoader (num_workers=0 on this 2-core machine, shuffle=True, default
  collation, the last partial batch kept);
- D outputs go through a sigmoid and ``nn.BCELoss`` against label tensors built every step;
- ``torch.optim.Adam`` with its defaults (beyond lr and betas);
- the generated batch of the D step is reused for the G step, so D's parameters also
  accumulate (unused) gradients during the G step (the DCGAN example's order).
Per iteration it computes the same value function and updates as gankit's Algorithm 1
with k = 1 and the non-saturating G loss; only the cost differs.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset


def to_tensor(pic: Image.Image) -> Tensor:
    """torchvision.transforms.functional.to_tensor for a PIL image of mode L or RGB."""
    img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
    img = img.permute((2, 0, 1)).contiguous()
    return img.to(dtype=torch.get_default_dtype()).div(255)


def normalize(tensor: Tensor, mean: list[float], std: list[float]) -> Tensor:
    """torchvision.transforms.functional.normalize (inplace=False)."""
    tensor = tensor.clone()
    mean_t = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    return tensor.sub_(mean_t).div_(std_t)


class PerSampleImages(Dataset):
    """Stores uint8 images like torchvision's MNIST (N, H, W) / CIFAR10 (N, H, W, C) do;
    converts one sample at a time through PIL, ToTensor and Normalize."""

    def __init__(self, images_unit: Tensor, symmetric: bool) -> None:
        raw = (images_unit * 255).round().to(torch.uint8)  # [N, C, H, W] in [0, 1] -> 8-bit levels
        c = raw.shape[1]
        self.data = raw[:, 0].numpy() if c == 1 else raw.permute(0, 2, 3, 1).contiguous().numpy()
        self.mode = "L" if c == 1 else None
        self.symmetric, self.channels = symmetric, c

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        img = Image.fromarray(self.data[i], mode=self.mode) if self.mode else Image.fromarray(self.data[i])
        x = to_tensor(img)  # transforms.ToTensor()
        if self.symmetric:
            x = normalize(x, [0.5] * self.channels, [0.5] * self.channels)  # transforms.Normalize
        return x, 0


class ReferenceLoop:
    def __init__(self, G: nn.Module, D: nn.Module, images_unit: Tensor, batch_size: int, noise_dim: int,
                 lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), symmetric: bool = False) -> None:
        self.G, self.D, self.noise_dim, self.batch_size = G, D, noise_dim, batch_size
        self.loader = DataLoader(PerSampleImages(images_unit, symmetric), batch_size=batch_size, shuffle=True)
        self.criterion = nn.BCELoss()
        self.opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
        self.opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
        self._it: Iterator = iter(self.loader)

    def _batch(self) -> Tensor:
        try:
            x, _ = next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
            x, _ = next(self._it)
        return x

    def step(self) -> None:
        real = self._batch()
        b = real.shape[0]
        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        self.D.zero_grad()
        label = torch.full((b,), 1.0)
        err_real = self.criterion(torch.sigmoid(self.D(real)), label)
        err_real.backward()
        noise = torch.randn(b, self.noise_dim)
        fake = self.G(noise)
        label.fill_(0.0)
        err_fake = self.criterion(torch.sigmoid(self.D(fake.detach())), label)
        err_fake.backward()
        self.opt_d.step()
        # (2) update G: maximize log(D(G(z))), reusing the same fake batch
        self.G.zero_grad()
        label.fill_(1.0)
        err_g = self.criterion(torch.sigmoid(self.D(fake)), label)
        err_g.backward()
        self.opt_g.step()

    def run(self, steps: int) -> None:
        self.G.train()
        self.D.train()
        for _ in range(steps):
            self.step()
