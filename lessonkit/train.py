"""A plain training loop and evaluation with top-k accuracy.

Introduced in lesson 00 ("Your first CNN"); lesson 04 ("Training a CNN")
looks at what happens inside it. The loop is deliberately the textbook one:
forward, loss, backward, step, once per batch, then a pass over the validation
data.

Devices: every function here runs the model where its parameters are and
moves each batch there, so a model on a GPU works with batches that start on
the CPU (a ``DataLoader``) or already on the GPU (:class:`lessonkit.DeviceLoader`).
Results that leave the loop (:func:`predict`) come back to the CPU. On CUDA,
:func:`fit` trains with mixed precision by default (its ``amp`` option;
on the CPU, bfloat16 mixed precision is available with ``amp=True``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from ._utils import check_int, check_tensor, check_type
from .data import DeviceLoader
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
    check_tensor("logits", logits, ndim=2, layout="(N, C)")
    check_tensor("targets", targets, ndim=1, layout=f"({logits.shape[0]},)")
    if targets.shape[0] != logits.shape[0]:
        raise ValueError(f"targets must have shape ({logits.shape[0]},), got shape {tuple(targets.shape)}")
    if targets.dtype.is_floating_point:
        raise TypeError(f"targets must be integer class indices, got dtype {targets.dtype}")
    n_classes = logits.shape[1]
    k = _check_ks(k, n_classes)
    if logits.shape[0] == 0:
        return [float("nan") for _ in k]
    top = logits.topk(max(k), dim=1).indices
    hits = top == targets.to(top.device).view(-1, 1)
    return [hits[:, :kk].any(dim=1).float().mean().item() for kk in k]


def _check_ks(k: Sequence[int], n_classes: int) -> tuple[int, ...]:
    """The ``k`` of a top-k metric: a non-empty sequence of ints in ``[1, n_classes]``."""
    if isinstance(k, (str, bytes)) or not isinstance(k, Sequence):
        raise TypeError(f"k must be a sequence of ints such as (1, 5), got {type(k).__name__}")
    if not k:
        raise ValueError("k must name at least one k, got an empty sequence")
    return tuple(check_int("k", kk, minimum=1, maximum=n_classes) for kk in k)


@dataclass
class History:
    """Per-epoch metrics recorded by :func:`fit`.

    Each attribute is a list with one value per epoch; ``val_*`` stay empty
    when no validation data is given. ``lr`` is the learning rate of each
    epoch (of the optimiser's first parameter group).

    Examples
    --------
    >>> h = History(train_loss=[0.9, 0.5], train_acc=[0.6, 0.8])
    >>> h.epochs, h.as_dict()["train_loss"]
    (2, [0.9, 0.5])

    Introduced in lesson 00.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def as_dict(self) -> dict[str, list[float]]:
        """The metrics as a dict of lists (copies)."""
        return {k: list(v) for k, v in vars(self).items()}


def _to(batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def _model_device(model: nn.Module) -> torch.device:
    """:func:`_device_of`, after checking that ``model`` is a module."""
    check_type("model", model, nn.Module)
    return _device_of(model)


def _is_pair(data: object) -> bool:
    """Whether ``data`` is an ``(images, targets)`` pair of tensors rather than a loader."""
    return isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)


def _loader(data: Iterable, name: str, batch_size: int | None, *, shuffle: bool, device: torch.device, seed: int,
            size_name: str = "batch_size") -> Iterable:
    """``data`` itself, or for an ``(images, targets)`` pair a :class:`lessonkit.DeviceLoader` on ``device``."""
    if not _is_pair(data):
        if batch_size is not None:
            raise ValueError(f"{size_name} applies to an (images, targets) pair of tensors; {name} is a loader "
                             f"({type(data).__name__}) that has its own batch size, so leave {size_name} out")
        return data
    if batch_size is None:
        raise ValueError(f"{name} is an (images, targets) pair of tensors: give its {size_name}")
    check_int(size_name, batch_size, minimum=1)
    return DeviceLoader(tuple(data), batch_size, shuffle=shuffle, device=device, seed=seed)


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
    *,
    batch_size: int | None = None,
) -> dict[str, float]:
    """Loss and top-k accuracy of ``model`` over ``loader``.

    The model runs in eval mode; afterwards every submodule is back in its
    own mode (:func:`lessonkit.eval_mode`).

    Parameters
    ----------
    model : nn.Module
    loader : iterable of (x, y) batches, or an ``(images, targets)`` pair of tensors
        Batches on any device: each is moved to the model's device. A pair
        is cut into batches of ``batch_size``, in order, by a
        :class:`lessonkit.DeviceLoader` on the model's device.
    device : torch.device or str, optional
        The model's device (default). Another device raises ``ValueError``:
        this function does not move the model.
    k : sequence of int
    loss_fn : callable, optional
        Default: cross-entropy.
    batch_size : int, optional
        Only (and required) for an ``(images, targets)`` pair.

    Returns
    -------
    dict
        ``{"loss": ..., "top1": ..., "top5": ...}`` (one ``top<k>`` per k).

    Examples
    --------
    >>> data = [(torch.zeros(4, 3), torch.tensor([0, 1, 2, 0]))]
    >>> evaluate(nn.Linear(3, 3), data, k=(1, 3))["top3"]
    1.0

    The same data as a pair of tensors, cut into batches of 2:

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3, 3))
    >>> images = torch.zeros(4, 1, 1, 3)  # (N, C, H, W)
    >>> evaluate(net, (images, torch.tensor([0, 1, 2, 0])), k=(1, 3), batch_size=2)["top3"]
    1.0

    Introduced in lesson 00.
    """
    device = _run_device(model, device)
    loader = _loader(loader, "loader", batch_size, shuffle=False, device=device, seed=0)
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
    batch_size: int | None = None,
    val_batch_size: int | None = None,
    seed: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    loss_fn: Callable | None = None,
    device: torch.device | str | None = None,
    batch_transform: BatchTransform | None = None,
    history: History | None = None,
    amp: bool | None = None,
    channels_last: bool = False,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Moved to ``device`` (default: the device of its parameters).
    train_loader, val_loader : iterable of (x, y) batches, or an ``(images, targets)`` pair of tensors
        A pair is turned into a :class:`lessonkit.DeviceLoader` on ``device``:
        the training pair shuffled each epoch by a generator seeded with
        ``seed``, the validation pair in order. ``fit(model, (x, y), epochs=3,
        batch_size=64)`` is ``fit(model, DeviceLoader((x, y), 64, shuffle=True,
        device=device, seed=0), epochs=3)``, batch for batch.
    epochs : int
        At least 1.
    batch_size : int, optional
        Batch size of a training pair (required for one; not allowed with a loader).
    val_batch_size : int, optional
        Batch size of a validation pair (default: ``batch_size``).
    seed : int
        Seed of the shuffling of a training pair (default 0).
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
        ``torch.autocast`` (matrix products and convolutions in a 16-bit
        float type, the weights and the optimiser step stay in float32).

        - On CUDA: float16, with a ``torch.amp.GradScaler`` that scales the
          loss so that small float16 gradients do not underflow, then
          unscales them before the step (and skips a step whose gradients
          overflowed).
        - On the CPU: bfloat16 (``torch.autocast("cpu", dtype=torch.bfloat16)``).
          bfloat16 has float32's exponent range, so no scaler is needed.

        ``None`` (default): on for a CUDA device, off elsewhere. It stays off
        on the CPU even where the CPU computes bfloat16 natively (AVX-512-BF16,
        AMX): the course turns mixed precision on automatically only where it
        is faster *and* costs no accuracy, and the CPU's cost in accuracy has
        not been measured in the full profile (``benchmarks/training.py``
        measures its speed). ``True`` on a device other than CUDA or the CPU
        raises ``ValueError``.
    channels_last : bool
        Train in the channels-last memory format (NHWC): the model's 4-D
        weights (its convolutions') and every training batch, after
        ``batch_transform``, are converted with ``memory_format=torch.channels_last``.
        The numbers are the same up to float rounding (only the order of
        the values in memory changes); the convolution kernels of oneDNN
        (CPU) and cuDNN (tensor cores) are often faster on it
        (``benchmarks/training.py`` measures how much). Training batches
        must be 4-D ``(N, C, H, W)``: another shape raises ``ValueError``.
        Validation batches are left as they are (a convolution with
        channels-last weights returns channels-last outputs either way).
        The model stays channels-last after the call.

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

    Tensors in memory, batched (and shuffled with ``seed``) by ``fit`` itself:

    >>> x, y = torch.randn(20, 1, 2, 2), torch.randint(0, 2, (20,))
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> h = fit(net, (x, y), (x, y), epochs=2, batch_size=8, seed=0)
    >>> len(h.val_acc)
    2

    bfloat16 mixed precision on the CPU (opt-in); the weights stay in float32:

    >>> net = nn.Linear(3, 2)
    >>> fit(net, data, epochs=1, amp=True).epochs, net.weight.dtype
    (1, torch.float32)

    Channels-last memory format; the convolution's weights stay in it:

    >>> net = nn.Sequential(nn.Conv2d(1, 2, 2), nn.Flatten(), nn.Linear(2, 2))
    >>> _ = fit(net, (x, y), epochs=1, batch_size=8, channels_last=True)
    >>> net[0].weight.is_contiguous(memory_format=torch.channels_last)
    True

    Introduced in lesson 00.
    """
    check_type("model", model, nn.Module)
    check_int("epochs", epochs, minimum=1)
    check_int("seed", seed)
    if amp is not None and not isinstance(amp, bool):
        raise TypeError(f"amp must be True, False or None (automatic: on for CUDA, off elsewhere), got {amp!r}")
    if not isinstance(channels_last, bool):
        raise TypeError(f"channels_last must be True or False, got {channels_last!r}")
    device = torch.device(device) if device is not None else _model_device(model)
    train_loader = _loader(train_loader, "train_loader", batch_size, shuffle=True, device=device, seed=seed)
    if val_loader is not None:
        if val_batch_size is not None or not _is_pair(val_loader):
            val_loader = _loader(val_loader, "val_loader", val_batch_size, shuffle=False, device=device, seed=0, size_name="val_batch_size")
        else:  # a validation pair, in batches of the training size
            val_loader = _loader(val_loader, "val_loader", batch_size, shuffle=False, device=device, seed=0)
    elif val_batch_size is not None:
        raise ValueError("val_batch_size is given but there is no validation data (val_loader)")
    amp_dtype, scaler = _mixed_precision(device, amp)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # converts the 4-D parameters (convolution weights) only
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
            if channels_last:
                x = _channels_last(x)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext():
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


def _mixed_precision(device: torch.device, amp: bool | None) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
    """The autocast dtype (``None``: no autocast) and gradient scaler of :func:`fit` for ``amp`` on ``device``."""
    if amp is None:
        amp = device.type == "cuda"  # the CPU's bfloat16 stays opt-in: see fit's docstring
    if not amp:
        return None, None
    if device.type == "cuda":
        return torch.float16, torch.amp.GradScaler("cuda")
    if device.type == "cpu":
        return torch.bfloat16, None  # bfloat16 keeps float32's range: nothing underflows, no scaler
    raise ValueError(
        f"amp=True needs a CUDA device (float16 autocast with a gradient scaler) or the CPU (bfloat16 autocast), "
        f"but the model trains on {device}; use amp=None (on for CUDA, off elsewhere) or amp=False"
    )


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """The training batch ``x`` in channels-last memory format (for :func:`fit`); it must be 4-D."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"channels_last=True needs 4-D image batches (N, C, H, W), got a batch of shape {shape}; "
                         f"use channels_last=False for other inputs")
    return x.contiguous(memory_format=torch.channels_last)


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
