"""The bridge to PyTorch Lightning: lesson 04's training once more, as a LightningModule.

Introduced in lesson 04 ("Training a CNN"), whose last section trains the same
network twice, with :func:`lessonkit.fit` and with Lightning's ``Trainer``, and
shows what each of Lightning's pieces does that ``fit`` does by hand.

Lightning and torchmetrics are optional (``pip install "lessonkit[lightning]"``):
``import lessonkit`` never imports them, so the course runs where they are
absent (Colab without the extra). :func:`lightning_available` says whether they
can be used; :func:`lit_classifier` and :func:`tensor_datamodule` import them on
their first call, from the private module ``lessonkit._lightning`` that holds
the two classes, and raise ``ModuleNotFoundError`` with the command that
installs them when they are missing.

The two classes are written to reproduce ``fit`` exactly: the same loss and
optimiser (cross-entropy, Adam), the same batches in the same order (a
:class:`lessonkit.DeviceLoader` shuffled with the same seed), and the same
metrics in a :class:`lessonkit.History`. On one machine the two runs then end
with the same weights, which ``tests/test_lightning.py`` checks.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

import torch
from torch import nn

from ._utils import check_batch, check_int, check_number, check_tensor, check_type

__all__ = ["LIGHTNING_INSTALL", "lightning_available", "lit_classifier", "tensor_datamodule"]

#: The command that installs what this module needs.
LIGHTNING_INSTALL = 'pip install "lessonkit[lightning]"  (or: pip install lightning torchmetrics)'


def lightning_available() -> bool:
    """Whether Lightning and torchmetrics are installed (without importing them).

    Returns
    -------
    bool
        ``True`` if both ``lightning`` and ``torchmetrics`` can be imported.

    Examples
    --------
    >>> isinstance(lightning_available(), bool)
    True

    Introduced in lesson 04.
    """
    return all(importlib.util.find_spec(name) is not None for name in ("lightning", "torchmetrics"))


def _classes() -> ModuleType:
    """The private module with the Lightning classes, imported on first use."""
    if not lightning_available():
        raise ModuleNotFoundError(
            f"this needs PyTorch Lightning and torchmetrics, which are not installed; install them with {LIGHTNING_INSTALL}"
        )
    return importlib.import_module("._lightning", __package__)


def lit_classifier(model: nn.Module, num_classes: int, *, lr: float = 1e-3) -> Any:
    """``model`` as a ``LightningModule`` that trains it as :func:`lessonkit.fit` does.

    Cross-entropy, Adam with learning rate ``lr``; training loss and accuracy
    measured on the fly, validation loss and accuracy (torchmetrics'
    ``MulticlassAccuracy``) after each epoch, logged as ``train_loss``,
    ``train_acc``, ``val_loss`` and ``val_acc`` (what a ``ModelCheckpoint`` can
    monitor) and recorded in the module's ``history``, a
    :class:`lessonkit.History` like the one ``fit`` returns.

    Parameters
    ----------
    model : nn.Module
        A classifier returning ``(N, num_classes)`` logits; trained in place.
    num_classes : int
    lr : float
        Adam's learning rate (``fit``'s default).

    Returns
    -------
    lightning.LightningModule
        With ``.model`` (the model) and ``.history``.

    Raises
    ------
    ModuleNotFoundError
        If Lightning or torchmetrics is not installed (the message says how to install them).

    Examples
    --------
    >>> lit = lit_classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), num_classes=3)
    >>> type(lit).__name__, lit.history.epochs
    ('LitClassifier', 0)

    Introduced in lesson 04.
    """
    check_type("model", model, nn.Module)
    check_int("num_classes", num_classes, minimum=2)
    lr = check_number("lr", lr, minimum=0, strict_minimum=True)
    return _classes().LitClassifier(model, num_classes, lr)


def _check_pair(name: str, pair: object) -> tuple[torch.Tensor, torch.Tensor]:
    """An ``(images, targets)`` pair: float ``(N, C, H, W)`` images and ``(N,)`` integer targets."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"{name} must be an (images, targets) pair of tensors, got {type(pair).__name__}")
    images, targets = pair
    check_batch(f"{name}[0] (images)", images)
    check_tensor(f"{name}[1] (targets)", targets, ndim=1, layout=f"({images.shape[0]},)")
    if targets.shape[0] != images.shape[0]:
        raise ValueError(f"{name}[1] (targets) must have shape ({images.shape[0]},), got shape {tuple(targets.shape)}")
    if targets.is_floating_point():
        raise TypeError(f"{name}[1] (targets) must be integer class indices, got dtype {targets.dtype}")
    return images, targets


def tensor_datamodule(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    batch_size: int,
    val_batch_size: int | None = None,
    seed: int = 0,
) -> Any:
    """A ``LightningDataModule`` over ``(images, targets)`` pairs, batched as :func:`lessonkit.fit` batches them.

    ``fit(model, train, val, batch_size=b, val_batch_size=v, seed=s)`` and a
    ``Trainer`` given ``tensor_datamodule(train, val, batch_size=b,
    val_batch_size=v, seed=s)`` see the same batches in the same order: the
    training pair reshuffled each epoch by a :class:`lessonkit.DeviceLoader`
    seeded once with ``seed``, the validation pair in order. The batches start
    on the CPU; the ``Trainer`` moves them to its device.

    Parameters
    ----------
    train : (images, targets)
        Float images ``(N, C, H, W)`` and integer targets ``(N,)``.
    val : (images, targets)
        Validation data, evaluated after each epoch.
    batch_size : int
    val_batch_size : int, optional
        Default: ``batch_size`` (as in ``fit``).
    seed : int
        Seed of the shuffling (``fit``'s ``seed``).

    Returns
    -------
    lightning.LightningDataModule

    Raises
    ------
    ModuleNotFoundError
        If Lightning or torchmetrics is not installed (the message says how to install them).

    Examples
    --------
    >>> x, y = torch.zeros(10, 1, 4, 4), torch.zeros(10, dtype=torch.long)
    >>> dm = tensor_datamodule((x, y), (x, y), batch_size=4, val_batch_size=5)
    >>> [len(yb) for _, yb in dm.train_dataloader()], [len(yb) for _, yb in dm.val_dataloader()]
    ([4, 4, 2], [5, 5])

    Introduced in lesson 04.
    """
    train, val = _check_pair("train", train), _check_pair("val", val)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if val_batch_size is not None:
        val_batch_size = check_int("val_batch_size", val_batch_size, minimum=1)
    seed = check_int("seed", seed)
    return _classes().TensorDataModule(train, val, batch_size, val_batch_size, seed)
