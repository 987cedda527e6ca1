"""A plain training loop and evaluation with top-k accuracy.

Introduced in lesson 00 ("Your first CNN"); lesson 04 ("Training a CNN")
looks at what happens inside it. The loop is deliberately the textbook one:
forward, loss, backward, step, once per batch, then a pass over the validation
data.

Devices: every function here runs the model where its parameters are and
moves each batch there, so a model on a GPU works with batches that start on
the CPU (a ``DataLoader``) or already on the GPU (:class:`lessonkit.DeviceLoader`).
Results that leave the loop (:func:`predict`) come back to the CPU. On CUDA,
:func:`fit` trains with mixed precision by default (its ``amp`` option).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .progress import progress

__all__ = ["History", "fit", "evaluate", "topk_accuracy", "predict", "eval_mode"]

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

    ``logits`` and ``targets`` may be on different devices (logits from a
    model on the GPU, targets from a CPU loader).

    Returns
    -------
    list of float
        One accuracy in [0, 1] per ``k``.

    Examples
    --------
    >>> logits = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    >>> topk_accuracy(logits, torch.tensor([2, 2]), k=(1, 2))
    [0.0, 1.0]

    Introduced in lesson 00.
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
    hits = top == targets.to(top.device).view(-1, 1)
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


def _model_device(model: nn.Module) -> torch.device:
    """:func:`interpret._device_of`, after checking that ``model`` is a module."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return _device_of(model)


def _run_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """Where :func:`evaluate` and :func:`predict` run: the model's device, which ``device`` may only confirm."""
    here = _model_device(model)
    if device is None:
        return here
    device = torch.device(device)
    has_tensors = next(model.parameters(), None) is not None or next(model.buffers(), None) is not None
    if has_tensors and (device.type, device.index or 0) != (here.type, here.index or 0):
        raise ValueError(
            f"the model is on {here} but device={device}; move the model first (model.to(device)) "
            f"or leave device out: batches are moved to the model's device"
        )
    return device


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device | str | None = None,
    k: Sequence[int] = (1,),
    loss_fn: Callable | None = None,
) -> dict[str, float]:
    """Loss and top-k accuracy of ``model`` over ``loader``.

    The model runs in eval mode; afterwards every submodule is back in its
    own mode (:func:`lessonkit.eval_mode`).

    Parameters
    ----------
    model : nn.Module
    loader : iterable of (x, y) batches
        On any device: each batch is moved to the model's device.
    device : torch.device or str, optional
        The model's device (default). Another device raises ``ValueError``:
        this function does not move the model.
    k : sequence of int
    loss_fn : callable, optional
        Default: cross-entropy.

    Returns
    -------
    dict
        ``{"loss": ..., "top1": ..., "top5": ...}`` (one ``top<k>`` per k).

    Examples
    --------
    >>> data = [(torch.zeros(4, 3), torch.tensor([0, 1, 2, 0]))]
    >>> evaluate(nn.Linear(3, 3), data, k=(1, 3))["top3"]
    1.0

    Introduced in lesson 00.
    """
    device = _run_device(model, device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    total, loss_sum = 0, 0.0
    hits = [0.0 for _ in k]
    with eval_mode(model):
        for batch in loader:
            x, y = _to(batch, device)
            out = model(x)
            n = y.shape[0]
            loss_sum += loss_fn(out, y).item() * n
            for i, acc in enumerate(topk_accuracy(out, y, k)):
                hits[i] += acc * n
            total += n
    if total == 0:
        raise ValueError("the loader produced no batches")
    result = {"loss": loss_sum / total}
    result.update({f"top{kk}": h / total for kk, h in zip(k, hits)})
    return result


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets over a loader, on the CPU: ``(N, C)`` and ``(N,)``.

    The model runs in eval mode (each submodule's mode is restored afterwards)
    on its own device; each batch is moved there, and the results back to the
    CPU. ``device``: as in :func:`evaluate`.

    Examples
    --------
    >>> logits, targets = predict(nn.Linear(3, 2), [(torch.zeros(5, 3), torch.zeros(5, dtype=torch.long))])
    >>> logits.shape, targets.device.type
    (torch.Size([5, 2]), 'cpu')

    Introduced in lesson 00.
    """
    device = _run_device(model, device)
    outs, ys = [], []
    with eval_mode(model):
        for batch in loader:
            x, y = _to(batch, device)
            outs.append(model(x).cpu())
            ys.append(y.cpu())
    if not outs:
        raise ValueError("the loader produced no batches")
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
    amp: bool | None = None,
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
    amp : bool, optional
        Automatic mixed precision: the forward pass and the loss run under
        ``torch.autocast("cuda")`` (float16 where it is safe), and a
        ``torch.amp.GradScaler`` scales the loss so that small float16
        gradients do not underflow, then unscales them before the step (and
        skips a step whose gradients overflowed). ``None`` (default): on for a
        CUDA device, off elsewhere. ``True`` on another device raises
        ``ValueError``: the CPU's mixed precision uses bfloat16, a different
        trade-off that this course does not use.

    Notes
    -----
    Training accuracy is measured on the fly (with dropout and batch-norm in
    training mode) and only for integer targets; validation accuracy is
    measured by :func:`evaluate` in eval mode after each epoch.
    Batches may come on any device: each is moved to ``device`` first.

    Examples
    --------
    >>> data = [(torch.randn(8, 3), torch.randint(0, 2, (8,)))]
    >>> fit(nn.Linear(3, 2), data, epochs=2).epochs
    2

    Introduced in lesson 00.
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if amp is not None and not isinstance(amp, bool):
        raise TypeError(f"amp must be True, False or None (automatic: on for CUDA), got {amp!r}")
    device = torch.device(device) if device is not None else _model_device(model)
    use_amp = device.type == "cuda" if amp is None else amp
    if use_amp and device.type != "cuda":
        raise ValueError(
            f"amp=True needs a CUDA device (float16 autocast with a gradient scaler), but the model trains on {device}; "
            f"use amp=None (on for CUDA, off elsewhere) or amp=False"
        )
    model.to(device)
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
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
            with torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext():
                out = model(x)
                loss = loss_fn(out, y)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
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


def _device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model without either."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _to_host(t: torch.Tensor) -> torch.Tensor:
    """``t`` on the CPU; a ``meta`` tensor (shapes without data) stays where it is."""
    return t if t.is_meta else t.cpu()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the ``with`` block, then restore every submodule's own mode.

    Restoring with ``model.train(was_training)`` would be wrong when the model
    shares layers with another one (a slice of a backbone, say): it would set
    all of them to the slice's mode. This records and restores each module.

    Introduced in lesson 00.

    Examples
    --------
    >>> net = nn.Sequential(nn.BatchNorm1d(2), nn.Dropout())
    >>> net[1].eval()
    Dropout(p=0.5, inplace=False)
    >>> with eval_mode(net):
    ...     net[0].training
    False
    >>> net[0].training, net[1].training
    (True, False)
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training
