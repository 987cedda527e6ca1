"""Model summaries: parameters and multiply-adds, counted by one method for every layer.

Introduced in lesson 03 ("The building blocks of a CNN"); lesson 08 reuses
it to compare architectures. (Plain parameter counts: :func:`lessonkit.count_parameters`.)

Multiply-adds are counted by PyTorch's own FLOP counter,
:class:`torch.utils.flop_counter.FlopCounterMode`, which sees the operators a
forward pass really runs (convolutions, matrix products), whatever module
calls them: a ``nn.Linear`` applied to a channels-last 4-D tensor (ConvNeXt)
costs what its matrix product costs. One multiply-add is two FLOPs, so
``mult-adds = FLOPs / 2``; this is also how torchvision computes the "GFLOPS"
it publishes with its weights (``weights.meta["_ops"]``), which the tests
reproduce. Element-wise operations (activations, normalisation, pooling,
bias additions) are not counted, as in torchvision's figures.

(torchinfo's mult-adds, which this module used before, count a linear layer
as its parameter count whatever the shape of its input, so they miss a factor
of H·W for channels-last linear layers: 0.32 G instead of 4.46 G for
ConvNeXt-T.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._utils import check_int, check_type
from .train import _device_of, eval_mode

__all__ = ["LayerSummary", "ModelSummary", "count_mult_adds", "count_parameters", "summarize"]


@dataclass(frozen=True)
class LayerSummary:
    """One row of a :class:`ModelSummary`.

    Attributes
    ----------
    name : str
        The module's name in the model (``"features.0"``; ``""`` for the model itself).
    kind : str
        The module's class name.
    depth : int
        0 for the model, 1 for its children, ...
    output_shape : tuple of int or None
        Shape of the module's (first) tensor output; ``None`` if it was not called
        or did not return a tensor.
    params : int
        Parameters the row accounts for (see :func:`summarize`).
    mult_adds : int
        Multiply-adds the row accounts for (see :func:`summarize`).
    expanded : bool
        Whether the module's children are listed as rows of their own.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    >>> row = summarize(net, (1, 1, 8, 8)).rows[1]
    >>> row.name, row.kind, row.output_shape, row.params, row.mult_adds
    ('0', 'Conv2d', (1, 4, 6, 6), 40, 1296)

    Introduced in lesson 03.
    """

    name: str
    kind: str
    depth: int
    output_shape: tuple[int, ...] | None
    params: int
    mult_adds: int
    expanded: bool


def _format_count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


@dataclass(frozen=True)
class ModelSummary:
    """Per-layer table and totals returned by :func:`summarize`; ``print`` it to see the table.

    Attributes
    ----------
    rows : tuple of LayerSummary
    total_params : int
        All parameters of the model (shared parameters once).
    trainable_params : int
        Those with ``requires_grad``.
    total_mult_adds : int
        Multiply-adds of one forward pass of the given input (FLOPs / 2).
    input_size : tuple of int
        The input batch shape ``(N, C, H, W)``, as torchinfo's ``input_size``.

    Examples
    --------
    >>> stats = summarize(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), (1, 1, 8, 8))
    >>> stats.total_params, stats.trainable_params, stats.total_mult_adds, stats.input_size
    (40, 40, 1296, (1, 1, 8, 8))
    >>> print(str(stats).splitlines()[1])
    Input: [1, 1, 8, 8]

    Introduced in lesson 03.
    """

    rows: tuple[LayerSummary, ...]
    total_params: int
    trainable_params: int
    total_mult_adds: int
    input_size: tuple[int, ...]

    def __str__(self) -> str:
        header = ("Layer (type)", "Output shape", "Params", "Mult-adds")
        lines = []
        for r in self.rows:
            label = "  " * r.depth + (f"{r.name} ({r.kind})" if r.name else r.kind)
            shape = "--" if r.output_shape is None else str(list(r.output_shape))
            own = r.expanded  # an expanded row shows only what its children do not
            params = "--" if own and r.params == 0 else f"{r.params:,}"
            mult_adds = "--" if own and r.mult_adds == 0 else f"{r.mult_adds:,}"
            lines.append((label, shape, params, mult_adds))
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]

        def fmt(cells: Sequence[str]) -> str:
            return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])

        rule = "=" * len(fmt(header))
        body = [rule, f"Input: {list(self.input_size)}", rule, fmt(header), "-" * len(rule)]
        body += [fmt(l) for l in lines]
        body += [
            rule,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total mult-adds: {self.total_mult_adds:,} ({_format_count(self.total_mult_adds)})",
            rule,
        ]
        return "\n".join(body)

    def __repr__(self) -> str:
        return str(self)


def _check_args(model: object, input_size: object) -> tuple[int, ...]:
    """``model`` a module, ``input_size`` a batch shape such as ``(1, 3, 32, 32)``."""
    check_type("model", model, nn.Module)
    if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Sequence):
        raise TypeError(f"input_size must be a sequence of ints such as (1, 3, 32, 32), got {type(input_size).__name__}")
    if len(input_size) == 0:
        raise ValueError("input_size must be a batch shape such as (1, 3, 32, 32), got ()")
    return tuple(check_int(f"input_size[{i}]", v, minimum=1) for i, v in enumerate(input_size))


def _measure(model: nn.Module, input_size: tuple[int, ...], device: str | torch.device | None) -> tuple[int, dict[int, int], dict[int, tuple[int, ...]]]:
    """Total mult-adds, mult-adds per module (inclusive of its children) and output shapes, in one pass."""
    counter = FlopCounterMode(display=False)
    inclusive: dict[int, int] = {}
    shapes: dict[int, tuple[int, ...]] = {}
    started: dict[int, list[int]] = {}

    def pre_hook(module: nn.Module, args: object) -> None:
        started.setdefault(id(module), []).append(counter.get_total_flops())

    def post_hook(module: nn.Module, args: object, output: object) -> None:
        key = id(module)
        inclusive[key] = inclusive.get(key, 0) + counter.get_total_flops() - started[key].pop()
        first = output[0] if isinstance(output, (tuple, list)) and output else output
        if key not in shapes and isinstance(first, torch.Tensor):
            shapes[key] = tuple(first.shape)

    handles = []
    for m in {id(m): m for m in model.modules()}.values():
        handles.append(m.register_forward_pre_hook(pre_hook))
        handles.append(m.register_forward_hook(post_hook))
    try:
        x = torch.zeros(input_size, device=device if device is not None else _device_of(model))
        with eval_mode(model), torch.no_grad(), counter:
            model(x)
    finally:
        for h in handles:
            h.remove()
    total = counter.get_total_flops()
    return total // 2, {k: v // 2 for k, v in inclusive.items()}, shapes


def count_mult_adds(model: nn.Module, input_size: Sequence[int], *, device: str | torch.device | None = None) -> int:
    """Multiply-adds of one forward pass of a zero input of shape ``input_size``.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2),
    the same method as torchvision's published "GFLOPS". Convolutions and
    matrix products are counted, whichever module runs them; element-wise
    work (activations, normalisation, pooling, bias additions) is not. The
    model runs in eval mode under ``torch.no_grad()``; its modes are restored.

    Introduced in lesson 03.

    Parameters
    ----------
    model : nn.Module
    input_size : sequence of int
        The input batch shape, e.g. ``(1, 1, 28, 28)``; the count grows with the batch.
    device : str or torch.device
        Where the input is created (default: the model's device); ``"meta"``
        counts a model built on the meta device without allocating anything.

    Returns
    -------
    int

    Examples
    --------
    >>> count_mult_adds(nn.Conv2d(1, 8, 3), (1, 1, 28, 28))  # 8 filters x 9 weights x 26 x 26 positions
    48672
    >>> count_mult_adds(nn.Linear(16, 4), (1, 7, 7, 16))     # applied at 7 x 7 positions
    3136
    """
    size = _check_args(model, input_size)
    return _measure(model, size, device)[0]


def summarize(model: nn.Module, input_size: Sequence[int], *, depth: int = 3, device: str | torch.device | None = None) -> ModelSummary:
    """Output shape, parameters and multiply-adds of each layer, and the totals.

    Multiply-adds come from :func:`count_mult_adds`'s method (PyTorch's FLOP
    counter, FLOPs / 2), measured per module during one forward pass. The
    table lists modules down to ``depth``; a module whose children are listed
    shows only the parameters and multiply-adds that are its own (for
    example ConvNeXt's layer scale), ``--`` if none, so that each column sums
    to the total (for a model whose modules are each called once). A module
    at the depth limit shows everything inside it.

    Introduced in lesson 03.

    Parameters
    ----------
    model : nn.Module
    input_size : sequence of int
        The input batch shape, e.g. ``(1, 1, 28, 28)``.
    depth : int
        How deep to list nested modules (>= 0).
    device : str or torch.device
        Where the input is created; default: the model's device (a GPU model stays on its GPU).

    Returns
    -------
    ModelSummary
        Print it for the table; ``total_params``, ``trainable_params`` and
        ``total_mult_adds`` give the totals.

    Examples
    --------
    >>> stats = summarize(nn.Conv2d(1, 8, 3), (1, 1, 28, 28))
    >>> stats.total_params, stats.total_mult_adds
    (80, 48672)
    """
    size = _check_args(model, input_size)
    check_int("depth", depth, minimum=0)
    total, inclusive, shapes = _measure(model, size, device)

    rows: list[LayerSummary] = []

    def visit(name: str, module: nn.Module, level: int) -> None:
        children = list(module.named_children())
        expanded = level < depth and bool(children)
        if expanded:
            params = sum(p.numel() for p in module.parameters(recurse=False))
            mult_adds = inclusive.get(id(module), 0) - sum(inclusive.get(id(c), 0) for _, c in children)
        else:
            params = sum(p.numel() for p in module.parameters())
            mult_adds = inclusive.get(id(module), 0)
        rows.append(LayerSummary(name, type(module).__name__, level, shapes.get(id(module)), params, mult_adds, expanded))
        if expanded:
            for child_name, child in children:
                visit(f"{name}.{child_name}" if name else child_name, child, level + 1)

    visit("", model, 0)
    params = list(model.parameters())
    return ModelSummary(
        rows=tuple(rows),
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_mult_adds=total,
        input_size=size,
    )


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts of ``module``.

    Introduced in lesson 02; lesson 12 uses it to count what fine-tuning trains.

    Examples
    --------
    >>> count_parameters(nn.Linear(3, 2))
    (8, 8)
    """
    check_type("module", module, nn.Module)
    params = list(module.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
