"""Stand-ins shared by several test modules."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class OnAnotherDevice(nn.Module):
    """A stand-in for a backbone on a GPU: its one parameter lives on the ``meta`` device.

    Its forward multiplies the input by that parameter, which raises "Tensor on device
    cpu is not on the expected device meta" when the input was left on the CPU, as a
    CUDA model would. Meta tensors hold no data, so it returns ``features(batch_size)``
    (known values, on the CPU) and records the devices it saw in ``seen``.
    """

    def __init__(self, features: Callable[[int], torch.Tensor]) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, device="meta"))
        self.features = features
        self.seen: list[torch.device] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x * self.scale  # fails on a device mismatch
        self.seen.append(x.device)
        return self.features(x.shape[0])


def colour_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` 32×32 colour images whose class (0-2) is their brightest channel: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = 0.3 * torch.randn(n, 3, 32, 32, generator=g)
    x[torch.arange(n), y] += 1.0
    return x, y
