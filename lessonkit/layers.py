"""Batch normalisation and dropout written from scratch.

Introduced in lesson 04 ("Training a CNN"). These are teaching versions of
:class:`torch.nn.BatchNorm2d` and :class:`torch.nn.Dropout`: the same
arithmetic, written out in a few lines, and tested against PyTorch's layers
(`tests/test_layers.py`). Use PyTorch's layers in real models.
"""

from __future__ import annotations

import torch
from torch import nn

from ._utils import check_batch, check_int, check_number, check_probability

__all__ = ["BatchNorm2d", "Dropout"]


class BatchNorm2d(nn.Module):
    """Batch normalisation over ``(N, H, W)`` for each channel (Ioffe & Szegedy, 2015).

    Training mode: normalise with the batch mean and the *biased* batch
    variance, then scale by ``weight`` and shift by ``bias``; update the running
    statistics with ``running = (1 - momentum)·running + momentum·batch``,
    using the *unbiased* batch variance for ``running_var`` (as PyTorch does).
    Eval mode: normalise with the running statistics.

    Parameters
    ----------
    num_features : int
        Number of channels C.
    eps : float
        Added to the variance before the square root.
    momentum : float
        Weight of the new batch in the running statistics.

    Examples
    --------
    >>> bn = BatchNorm2d(3)
    >>> y = bn(torch.randn(8, 3, 4, 4) * 5 + 2)
    >>> mean, var = y.mean(dim=(0, 2, 3)), y.var(dim=(0, 2, 3), unbiased=False)
    >>> bool(mean.abs().max() < 1e-5), bool((var - 1).abs().max() < 1e-3)  # per channel
    (True, True)
    >>> x = torch.randn(8, 3, 4, 4)
    >>> torch.allclose(BatchNorm2d(3)(x), nn.BatchNorm2d(3)(x), atol=1e-5)  # PyTorch's layer agrees
    True

    Introduced in lesson 04.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        check_int("num_features", num_features, minimum=1)
        check_probability("momentum", momentum)
        check_number("eps", eps, minimum=0, strict_minimum=True)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.num_features)
        if self.training:
            n = x.shape[0] * x.shape[2] * x.shape[3]
            if n < 2:
                raise ValueError(f"training-mode batch norm needs more than one value per channel, got input {tuple(x.shape)}")
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + self.eps)
        return x_hat * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class Dropout(nn.Module):
    """Inverted dropout (Srivastava et al., 2014).

    Training mode: zero each value with probability ``p`` and multiply the
    survivors by ``1 / (1 - p)``, so the expected output equals the input.
    Eval mode: the identity.

    Parameters
    ----------
    p : float
        Drop probability, ``0 <= p < 1``.

    Examples
    --------
    >>> drop = Dropout(0.5)
    >>> sorted(set(drop(torch.ones(1000)).tolist()))
    [0.0, 2.0]
    >>> drop.eval()(torch.ones(3)).tolist()
    [1.0, 1.0, 1.0]

    Introduced in lesson 04.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        check_number("p", p)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
