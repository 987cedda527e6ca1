"""A plain training loop and evaluation with top-k accuracy.

Introduced in lesson 00 ("Your first CNN"); lesson 04 ("Training a CNN")
looks at what happens inside it. The loop is deliberately the textbook one:
forward, loss, backward, step, once per batch, then a pass over the validation
data. Nothing in it depends on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .progress import progress

__all__ = ["History", "fit", "evaluate", "topk_accuracy", "predict"]

BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def topk_accuracy(logits: torch.Tensor, targets: torch.Tensor, k: Sequence[int] = (1,)) -> list[float]:
    """Fraction of rows whose target is among the ``k`` largest logits.

    Parameters
    ----------
    logits : torch.Tensor
        Shape ``(N, C)``.
    targets : torch.Tensor
        Integer class indices, shape ``(N,)``.
    k : sequence of int
        Each ``1 <= k <= C``.

    Returns
    -------
    list of float
        One accuracy in [0, 1] per ``k``.

    Examples
    --------
    >>> logits = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    >>> topk_accuracy(logits, torch.tensor([2, 2]), k=(1, 2))
    [0.0, 1.0]
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
    if targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(f"targets must have shape ({logits.shape[0]},), got {tuple(targets.shape)}")
    if targets.dtype.is_floating_point:
        raise TypeError(f"targets must be integer class indices, got {targets.dtype}")
    n_classes = logits.shape[1]
    for kk in k:
        if not 1 <= kk <= n_classes:
            raise ValueError(f"k must be between 1 and the number of classes ({n_classes}), got {kk}")
    if logits.shape[0] == 0:
        return [float("nan") for _ in k]
    top = logits.topk(max(k), dim=1).indices
    hits = top == targets.view(-1, 1)
    return [hits[:, :kk].any(dim=1).float().mean().item() for kk in k]


@dataclass
class History:
    """Per-epoch metrics recorded by :func:`fit`.

    Each attribute is a list with one value per epoch; ``val_*`` stay empty
    when no validation loader is given.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def as_dict(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in vars(self).items()}


def _to(batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device | str | None = None,
    k: Sequence[int] = (1,),
    loss_fn: Callable | None = None,
) -> dict[str, float]:
    """Loss and top-k accuracy of ``model`` over ``loader``.

    Returns
    -------
    dict
        ``{"loss": ..., "top1": ..., "top5": ...}`` (one ``top<k>`` per k).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total, loss_sum = 0, 0.0
    hits = [0.0 for _ in k]
    try:
        for batch in loader:
            x, y = _to(batch, device)
            out = model(x)
            n = y.shape[0]
            loss_sum += loss_fn(out, y).item() * n
            for i, acc in enumerate(topk_accuracy(out, y, k)):
                hits[i] += acc * n
            total += n
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("the loader produced no batches")
    result = {"loss": loss_sum / total}
    result.update({f"top{kk}": h / total for kk, h in zip(k, hits)})
    return result


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets over a loader, on the CPU: ``(N, C)`` and ``(N,)``."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    outs, ys = [], []
    try:
        for batch in loader:
            x, y = _to(batch, device)
            outs.append(model(x).cpu())
            ys.append(y.cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs), torch.cat(ys)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    loss_fn: Callable | None = None,
    device: torch.device | str | None = None,
    batch_transform: BatchTransform | None = None,
    history: History | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Moved to ``device`` (default: the device of its parameters).
    train_loader, val_loader : iterable of (x, y) batches
    epochs : int
        At least 1.
    optimizer : torch.optim.Optimizer, optional
        Default: Adam with learning rate ``lr``.
    scheduler : LRScheduler, optional
        Stepped once per epoch, after validation.
    loss_fn : callable, optional
        Default: cross-entropy. It may take soft targets (MixUp/CutMix).
    batch_transform : callable, optional
        ``(x, y) -> (x, y)`` applied on the device to each training batch, for
        batched augmentation (lesson 07).
    history : History, optional
        Continue an existing history (e.g. a second training phase).

    Notes
    -----
    Training accuracy is measured on the fly (with dropout and batch-norm in
    training mode) and only for integer targets; validation accuracy is
    measured by :func:`evaluate` in eval mode after each epoch.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    history = history or History()

    epoch_bar = progress(range(epochs), desc="epochs", unit="epoch")
    for _ in epoch_bar:
        model.train()
        seen, loss_sum, correct, counted = 0, 0.0, 0, 0
        for batch in progress(train_loader, desc="train", leave=False, unit="batch"):
            x, y = _to(batch, device)
            if batch_transform is not None:
                x, y = batch_transform(x, y)
            optimizer.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            optimizer.step()
            n = x.shape[0]
            seen += n
            loss_sum += loss.item() * n
            if y.ndim == 1:
                correct += (out.argmax(1) == y).sum().item()
                counted += n
        history.train_loss.append(loss_sum / max(seen, 1))
        history.train_acc.append(correct / counted if counted else float("nan"))
        history.lr.append(optimizer.param_groups[0]["lr"])
        postfix = {"loss": f"{history.train_loss[-1]:.3f}"}
        if val_loader is not None:
            metrics = evaluate(model, val_loader, device, loss_fn=nn.CrossEntropyLoss())
            history.val_loss.append(metrics["loss"])
            history.val_acc.append(metrics["top1"])
            postfix["val_acc"] = f"{metrics['top1']:.3f}"
        epoch_bar.set_postfix(postfix)
        if scheduler is not None:
            scheduler.step()
    return history
