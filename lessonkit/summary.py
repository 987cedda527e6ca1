"""Model summaries: parameter counts and multiply-adds, via torchinfo.

Introduced in lesson 03 ("The building blocks of a CNN"); lesson 08 reuses
it to compare architectures. (Plain parameter counts: :func:`lessonkit.count_parameters`.)
A thin layer over :func:`torchinfo.summary` so
that every lesson prints summaries the same way, without progress output and
without the memory estimates (which depend on the machine).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["summarize"]

_COLUMNS = ("output_size", "num_params", "mult_adds")


def summarize(model: nn.Module, input_size: Sequence[int], *, columns: Sequence[str] = _COLUMNS, depth: int = 3, device: str | torch.device = "cpu"):
    """A torchinfo summary: output shape, parameters and mult-adds of each layer.

    Introduced in lesson 03. Printing the result shows the table; its
    attributes give the totals (``total_params``, ``trainable_params``,
    ``total_mult_adds``).

    Parameters
    ----------
    model : nn.Module
    input_size : sequence of int
        The input batch shape, e.g. ``(1, 1, 28, 28)``.
    columns : sequence of str
        torchinfo column names.
    depth : int
        How deep to list nested modules.

    Returns
    -------
    torchinfo.ModelStatistics

    Examples
    --------
    >>> stats = summarize(nn.Conv2d(1, 8, 3), (1, 1, 28, 28))
    >>> stats.total_params, stats.total_mult_adds
    (80, 54080)
    """
    from torchinfo import summary

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Sequence) or not all(isinstance(v, int) and v > 0 for v in input_size):
        raise ValueError(f"input_size must be a sequence of positive ints such as (1, 3, 32, 32), got {input_size!r}")
    return summary(model, input_size=tuple(input_size), col_names=tuple(columns), depth=depth, device=device, verbose=0)
