"""The Lightning bridge of lesson 04: the same training as ``lk.fit``, through Lightning's ``Trainer``.

The oracle is ``lk.fit`` itself, run from the same initial weights on the same data:
the two loops must see the same batches in the same order and end with the same
weights (on one machine, the same float operations in the same order). The metrics
are checked against a hand computation (argmax against the targets). Tests that need
Lightning skip where it is not installed; the ones about its absence run everywhere.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

import lessonkit as lk

needs_lightning = pytest.mark.skipif(not lk.lightning_available(), reason="Lightning / torchmetrics not installed")


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian blobs as 1x6x6 'images': learnable, but not in one epoch."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 6, 6, generator=g) + (y.float() - 1).view(-1, 1, 1, 1) * 0.8
    return x, y


class Recorder(nn.Module):
    """A tiny CNN (with batch norm, so training and evaluation modes differ) that records its training batches."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(4, 3))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(x.detach().clone())
        return self.net(x)


def quiet_trainer(epochs: int, root, **kwargs):
    """The lesson's Trainer: CPU here, deterministic, no progress bar, summary or logger."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=root, monitor="val_acc", mode="max")
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, deterministic=True, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        default_root_dir=root, callbacks=[checkpoint], **kwargs)
    return trainer, checkpoint


@pytest.fixture
def runs(tmp_path):
    """The same Recorder trained 3 epochs by lk.fit and by Lightning, from the same initial weights."""
    train, val = blobs(90, 0), blobs(40, 1)
    torch.manual_seed(0)
    start = Recorder()
    by_fit, by_lightning = copy.deepcopy(start), copy.deepcopy(start)
    history = lk.fit(by_fit, train, val, epochs=3, batch_size=16, val_batch_size=25, lr=0.05, seed=7)
    lit = lk.lit_classifier(by_lightning, num_classes=3, lr=0.05)
    dm = lk.tensor_datamodule(train, val, batch_size=16, val_batch_size=25, seed=7)
    trainer, checkpoint = quiet_trainer(3, tmp_path)
    trainer.fit(lit, datamodule=dm)
    return dict(train=train, val=val, start=start, fit=by_fit, history=history, lit=lit, trainer=trainer,
                checkpoint=checkpoint, dm=dm)


@needs_lightning
def test_lightning_sees_the_batches_fit_sees(runs):
    fit_batches, lit_batches = runs["fit"].seen, runs["lit"].model.seen
    assert len(fit_batches) == len(lit_batches) == 3 * 6  # 90 images in batches of 16: 6 per epoch
    for a, b in zip(fit_batches, lit_batches):
        assert torch.equal(a, b)
    # and they are shuffled, differently in each epoch
    assert not torch.equal(fit_batches[0], runs["train"][0][:16])
    assert not torch.equal(fit_batches[0], fit_batches[6])


@needs_lightning
def test_lightning_ends_with_the_weights_and_history_of_fit(runs):
    fit_state, lit_state = runs["fit"].state_dict(), runs["lit"].model.state_dict()
    assert fit_state.keys() == lit_state.keys()
    for name in fit_state:
        torch.testing.assert_close(lit_state[name], fit_state[name], rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(runs["start"].net[0].weight, runs["fit"].net[0].weight)  # it did train
    h, lh = runs["history"], runs["lit"].history
    assert lh.epochs == h.epochs == 3
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert getattr(lh, key) == pytest.approx(getattr(h, key), abs=1e-5), key


@needs_lightning
def test_the_logged_accuracy_is_the_fraction_of_correct_images(runs):
    model = runs["lit"].model.eval()
    x, y = runs["val"]
    with torch.no_grad():
        by_hand = (model(x).argmax(1) == y).float().mean().item()
    assert runs["lit"].history.val_acc[-1] == pytest.approx(by_hand, abs=1e-6)
    assert runs["trainer"].callback_metrics["val_acc"].item() == pytest.approx(by_hand, abs=1e-6)
    assert 0.4 < by_hand < 1.0  # learning, not yet perfect: a test that could fail


@needs_lightning
def test_the_checkpoint_keeps_the_epoch_with_the_best_validation_accuracy(runs):
    checkpoint, history = runs["checkpoint"], runs["history"]
    assert checkpoint.best_model_score.item() == pytest.approx(max(history.val_acc), abs=1e-6)
    [metrics] = runs["trainer"].validate(runs["lit"], datamodule=runs["dm"], ckpt_path="best", verbose=False)
    assert metrics["val_acc"] == pytest.approx(max(history.val_acc), abs=1e-6)
    assert len(runs["lit"].history.val_acc) == 3  # validating a checkpoint records no epoch


@needs_lightning
def test_lit_classifier_runs_on_the_device():
    """Its metrics live with the module: on a device, with batches moved there as the Trainer moves them."""
    from test_devices import META, StandIn, to_cpu  # the shadow device: a stand-in for a GPU (see test_devices)

    x, y = blobs(12, 3)
    torch.manual_seed(0)
    lit = lk.lit_classifier(Recorder(), num_classes=3)
    on_cpu = copy.deepcopy(lit)
    expected = on_cpu.training_step((x, y), 0).item()
    with StandIn():
        lit = lit.to(META)
        batch = lit.transfer_batch_to_device((x, y), META, 0)
        got = to_cpu(lit.training_step(batch, 0)).item()
        lit.eval()
        lit.validation_step(lit.transfer_batch_to_device((x, y), META, 0), 0)
        acc = to_cpu(lit.val_acc.compute()).item()
    assert got == pytest.approx(expected, abs=1e-6)
    on_cpu.eval()
    on_cpu.validation_step((x, y), 0)
    assert acc == pytest.approx(on_cpu.val_acc.compute().item(), abs=1e-6)


@needs_lightning
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: lk.lit_classifier("net", 3), TypeError, "model must be a Module, got str"),
        (lambda: lk.lit_classifier(nn.Linear(2, 3), 1), ValueError, "num_classes must be an int >= 2, got 1"),
        (lambda: lk.lit_classifier(nn.Linear(2, 3), 3, lr=0), ValueError, "lr must be > 0, got 0"),
        (lambda: lk.tensor_datamodule(torch.zeros(4, 1, 2, 2), blobs(4, 1), batch_size=2), TypeError, "train must be an"),
        (lambda: lk.tensor_datamodule((torch.zeros(4, 2, 2), torch.zeros(4, dtype=torch.long)), blobs(4, 1), batch_size=2),
         ValueError, r"train\[0\] \(images\) must have shape \(N, C, H, W\)"),
        (lambda: lk.tensor_datamodule((torch.zeros(4, 1, 2, 2), torch.zeros(3, dtype=torch.long)), blobs(4, 1), batch_size=2),
         ValueError, r"must have shape \(4,\), got shape \(3,\)"),
        (lambda: lk.tensor_datamodule((torch.zeros(4, 1, 2, 2), torch.zeros(4)), blobs(4, 1), batch_size=2),
         TypeError, "integer class indices"),
        (lambda: lk.tensor_datamodule(blobs(4, 0), blobs(4, 1), batch_size=0), ValueError, "batch_size must be an int >= 1"),
        (lambda: lk.tensor_datamodule(blobs(4, 0), [1, 2], batch_size=2), TypeError, r"val\[0\] \(images\) must be a torch.Tensor"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_importing_lessonkit_does_not_import_lightning():
    code = "import sys, lessonkit; print(sorted(m for m in ('lightning', 'torchmetrics') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_without_lightning_it_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lightning" else real(name, *a))
    assert lk.lightning_available() is False
    with pytest.raises(ModuleNotFoundError, match=r'pip install "lessonkit\[lightning\]"'):
        lk.lit_classifier(nn.Linear(2, 3), 3)
    with pytest.raises(ModuleNotFoundError, match="pip install lightning torchmetrics"):
        lk.tensor_datamodule(blobs(4, 0), blobs(4, 1), batch_size=2)
