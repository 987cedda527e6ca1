"""Classification metrics beyond accuracy: top-k error and the confusion matrix.

Introduced in lesson 04 ("Training a CNN"). Top-k *accuracy* lives in
:func:`lessonkit.topk_accuracy` (lesson 00); the ImageNet challenge reported
its complement, the top-k *error*, which :func:`topk_error` computes from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._utils import check_int, check_tensor
from .train import topk_accuracy

__all__ = ["topk_error", "confusion_matrix", "per_class_accuracy"]


def topk_error(logits: torch.Tensor, targets: torch.Tensor, k: Sequence[int] = (1, 5)) -> list[float]:
    """Fraction of rows whose target is *not* among the ``k`` largest logits.

    ``1 - topk_accuracy(logits, targets, k)``, for each ``k``; ``logits`` and
    ``targets`` may be on different devices.

    Examples
    --------
    >>> logits = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    >>> topk_error(logits, torch.tensor([2, 2]), k=(1, 2))
    [1.0, 0.0]

    Introduced in lesson 04.
    """
    return [1.0 - a for a in topk_accuracy(logits, targets, k)]


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count of (true class, predicted class) pairs.

    Parameters
    ----------
    predictions : torch.Tensor
        ``(N,)`` predicted class indices, or ``(N, C)`` logits/probabilities
        (their argmax is used).
    targets : torch.Tensor
        ``(N,)`` true class indices, on any device (predictions from a model
        on the GPU, targets from a CPU loader).
    num_classes : int

    Returns
    -------
    torch.Tensor
        ``(num_classes, num_classes)`` int64 on the CPU; row = true class,
        column = predicted class, so the diagonal holds the correct predictions.

    Examples
    --------
    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2).tolist()
    [[1, 1], [0, 1]]

    Introduced in lesson 04.
    """
    check_int("num_classes", num_classes, minimum=1)
    check_tensor("predictions", predictions, ndim=(1, 2), layout="(N,) or (N, num_classes)")
    check_tensor("targets", targets, ndim=1, layout="(N,)")
    if predictions.ndim == 2:
        if predictions.shape[1] != num_classes:
            raise ValueError(f"logits must have {num_classes} columns, got shape {tuple(predictions.shape)}")
        predictions = predictions.argmax(dim=1)
    if predictions.ndim != 1 or targets.ndim != 1 or predictions.shape != targets.shape:
        raise ValueError(
            f"predictions must be (N,) or (N, C) and targets (N,) with the same N, "
            f"got {tuple(predictions.shape)} and {tuple(targets.shape)}"
        )
    for name, t in (("predictions", predictions), ("targets", targets)):
        if t.dtype.is_floating_point:
            raise TypeError(f"{name} must be integer class indices, got {t.dtype}")
        if t.numel() and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes - 1}], got values from {int(t.min())} to {int(t.max())}")
    flat = targets.long().cpu() * num_classes + predictions.long().cpu()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Recall of each class from a confusion matrix: diagonal / row sum (NaN for an empty row).

    Examples
    --------
    >>> per_class_accuracy(torch.tensor([[1, 1], [0, 1]])).tolist()
    [0.5, 1.0]

    Introduced in lesson 04.
    """
    check_tensor("cm", cm, ndim=2, layout="(C, C)")
    if cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (C, C) tensor, got shape {tuple(cm.shape)}")
    rows = cm.sum(dim=1).double()
    return torch.where(rows > 0, cm.diagonal().double() / rows.clamp(min=1), torch.full_like(rows, float("nan")))
