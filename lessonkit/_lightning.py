"""The Lightning classes behind :mod:`lessonkit.lightning`, loaded only when they are used.

``import lessonkit`` must work where Lightning is not installed (Colab without the
``lightning`` extra), so Lightning and torchmetrics are imported here, at the top of a
private module that :func:`lessonkit.lit_classifier` and
:func:`lessonkit.tensor_datamodule` import on their first call. Lesson 04 prints the
source of both classes: they are what a student writes for Lightning.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from .data import DeviceLoader
from .train import History


class LitClassifier(L.LightningModule):
    """``model`` trained as ``lk.fit`` trains it: cross-entropy, Adam, the same metrics per epoch."""

    def __init__(self, model: nn.Module, num_classes: int, lr: float = 1e-3) -> None:
        super().__init__()
        self.model, self.lr = model, lr
        # torchmetrics accumulate over the batches of an epoch; "micro" = the fraction of correct images
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.train_loss, self.val_loss = MeanMetric(), MeanMetric()
        self.history = History()  # the record lk.fit returns, for a side-by-side comparison

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.train_loss.update(loss.detach(), weight=len(y))  # the mean over images, as lk.fit's
        self.train_acc.update(logits.detach(), y)  # on the fly, in training mode, as lk.fit's
        return loss  # Lightning runs zero_grad, backward and the optimiser step

    def validation_step(self, batch, batch_idx: int) -> None:  # in eval mode, without gradients
        x, y = batch
        logits = self(x)
        self.val_loss.update(nn.functional.cross_entropy(logits, y), weight=len(y))
        self.val_acc.update(logits, y)

    def on_validation_epoch_end(self) -> None:
        loss, acc = self.val_loss.compute(), self.val_acc.compute()
        self.val_loss.reset(), self.val_acc.reset()
        if self.trainer.sanity_checking:  # the Trainer's trial run of a few batches: not an epoch
            return
        self.log_dict({"val_loss": loss, "val_acc": acc})  # what ModelCheckpoint can monitor
        if self.trainer.state.fn == "fit":  # not trainer.validate(), which only evaluates
            self.history.val_loss.append(loss.item())
            self.history.val_acc.append(acc.item())

    def on_train_epoch_end(self) -> None:
        loss, acc = self.train_loss.compute(), self.train_acc.compute()
        self.train_loss.reset(), self.train_acc.reset()
        self.log_dict({"train_loss": loss, "train_acc": acc})
        self.history.train_loss.append(loss.item())
        self.history.train_acc.append(acc.item())
        self.history.lr.append(self.optimizers().param_groups[0]["lr"])


class TensorDataModule(L.LightningDataModule):
    """Training and validation ``(images, targets)`` pairs, batched as ``lk.fit`` batches them."""

    def __init__(self, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
                 batch_size: int, val_batch_size: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.train, self.val, self.seed = train, val, seed
        self.batch_size, self.val_batch_size = batch_size, val_batch_size or batch_size

    def train_dataloader(self) -> DeviceLoader:
        # one loader for the whole fit, reshuffled each epoch by a generator seeded once: lk.fit's order
        return DeviceLoader(self.train, self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> DeviceLoader:
        return DeviceLoader(self.val, self.val_batch_size)  # in order
