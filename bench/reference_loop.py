"""The GAN training loop people copy (the PyTorch DCGAN example and its many descendants),
written for gankit's nets so the benchmark compares loops, not architectures.

What makes it the "popular" loop, each on purpose:
- a DataLoader over a map-style Dataset that converts and normalises every sample in
  ``__getitem__`` (the ToTensor/Normalize transform chain), collated per batch;
- D outputs go through a sigmoid and ``nn.BCELoss`` against label tensors built every step;
- ``torch.optim.Adam`` with its defaults (beyond lr and betas);
- the generated batch of the D step is reused for the G step, so D's parameters also
  accumulate (unused) gradients during the G step.
Per iteration it computes the same value function and updates as gankit's Algorithm 1
with k = 1 and the non-saturating G loss; only the cost differs.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset


class PerSampleImages(Dataset):
    """Stores uint8 images like a folder/IDX dataset does; converts one sample at a time."""

    def __init__(self, images_unit: Tensor, symmetric: bool) -> None:
        self.raw = (images_unit * 255).round().to(torch.uint8)
        self.symmetric = symmetric

    def __len__(self) -> int:
        return self.raw.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = self.raw[i].float().div(255)  # ToTensor
        if self.symmetric:
            x = (x - 0.5) / 0.5  # Normalize((0.5,), (0.5,))
        return x, 0


class ReferenceLoop:
    def __init__(self, G: nn.Module, D: nn.Module, images_unit: Tensor, batch_size: int, noise_dim: int,
                 lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), symmetric: bool = False) -> None:
        self.G, self.D, self.noise_dim, self.batch_size = G, D, noise_dim, batch_size
        self.loader = DataLoader(PerSampleImages(images_unit, symmetric), batch_size=batch_size, shuffle=True, drop_last=True)
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
