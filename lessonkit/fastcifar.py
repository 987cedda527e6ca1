"""CIFAR-10 to 94 % cheaply: the tricks of the fast-training recipe, one piece each.

Introduced in lesson 10 ("Colour photographs: CIFAR-10 from scratch").

The field trains CIFAR-10 to 94 % test accuracy in about ten epochs, not a
hundred, with a small network and a handful of tricks: Page's "How to train
your ResNet" (2018), tysam-code's hlb-CIFAR10 and Jordan's airbench (2024, "94 %
on CIFAR-10 in 3.29 seconds on a single GPU"). This module writes each trick as
a small piece the lesson can switch on and off, so that an ablation can measure
what each one buys:

=============================  ===============================================
piece                          trick
=============================  ===============================================
:func:`whitening_weights`      a first layer that whitens 2×2 patches, computed
                               from the training images, frozen
``identity_init`` option       the second convolution of each block starts as
                               the identity on its first channels
:class:`FrozenScaleBatchNorm`  batch norm that learns only its shift
``label_smoothing`` option     PyTorch's ``CrossEntropyLoss(label_smoothing=)``
:func:`warmup_decay`           a learning rate that rises, then falls linearly
                               (Nesterov SGD)
:class:`Lookahead`             a moving average of the weights, copied back
                               into the network every few steps
:func:`alternating_flip`       every image is mirrored on every other epoch
:func:`random_crop_reflect`    random translation with reflected borders
:func:`tta_logits`             test-time augmentation: mirrored and shifted
                               views, averaged
=============================  ===============================================

:class:`FastCifarNet` assembles the network and :func:`train_fast` the loop;
:class:`Recipe` names every switch. Hyperparameters follow airbench94
(Jordan 2024) in its "decoupled" form: the learning rate is per 1,024
examples of a summed loss, so changing the batch size keeps the step size.
The course's code is its own; the numbers are the published recipe's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._utils import check_batch, check_choice, check_int, check_number, check_odd, check_tensor, check_type
from .progress import progress

__all__ = [
    "whitening_weights",
    "FrozenScaleBatchNorm",
    "FastCifarNet",
    "warmup_decay",
    "Lookahead",
    "alternating_flip",
    "random_crop_reflect",
    "tta_logits",
    "Recipe",
    "FastRun",
    "train_fast",
    "native_bf16",
]


def _check_images(images: torch.Tensor, name: str = "images") -> None:
    check_batch(name, images)


def whitening_weights(images: torch.Tensor, patch_size: int = 2, eps: float = 5e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Convolution filters that whiten the ``patch_size``×``patch_size`` patches of ``images``.

    Every patch of ``C·p·p`` values is a vector; its covariance ``Σ = V Λ Vᵀ``
    (over every patch of every image) has eigenvectors ``V``. The filters are
    the eigenvectors scaled by ``1/√(λ + eps)``, so a convolution with them
    (and the returned bias, which subtracts the mean patch) maps patches to
    vectors with zero mean and, for ``eps = 0``, identity covariance. As in
    airbench, each filter comes twice, with both signs, so that a following
    ReLU/GELU keeps the negative half too: ``2·C·p·p`` output channels.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)`` float images, normalised as the network will see them
        (a few thousand training images are plenty).
    patch_size : int
        Side ``p`` of the square patches (the convolution's kernel size).
    eps : float
        Added to each eigenvalue: keeps the near-constant directions (which
        carry mostly noise) from being amplified without bound.

    Returns
    -------
    weight, bias : torch.Tensor
        ``(2·C·p·p, C, p, p)`` and ``(2·C·p·p,)``, float32, on ``images``'s device,
        largest-variance direction first.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(64, 3, 8, 8, generator=g).cumsum(-1)       # correlated neighbours
    >>> w, b = whitening_weights(x, patch_size=2, eps=0.0)
    >>> w.shape, b.shape
    (torch.Size([24, 3, 2, 2]), torch.Size([24]))
    >>> z = F.conv2d(x, w[:12], b[:12]).permute(0, 2, 3, 1).reshape(-1, 12).double()
    >>> torch.allclose(torch.cov(z.T, correction=0), torch.eye(12, dtype=torch.float64), atol=1e-3)
    True

    Introduced in lesson 10.
    """
    _check_images(images)
    check_int("patch_size", patch_size, minimum=1)
    check_number("eps", eps, minimum=0)
    c = images.shape[1]
    if min(images.shape[2:]) < patch_size:
        raise ValueError(f"images of side {tuple(images.shape[2:])} have no {patch_size}×{patch_size} patch")
    # every p×p patch as a row of C·p·p values, in the (C, p, p) order of a conv weight
    patches = F.unfold(images.double(), patch_size).transpose(1, 2).reshape(-1, c * patch_size * patch_size)
    mean = patches.mean(0)
    centred = patches - mean
    cov = centred.T @ centred / len(centred)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)                # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    filters = (eigenvectors / (eigenvalues.clamp(min=0) + eps).sqrt()).T  # row k: k-th direction, scaled
    bias = -(filters @ mean)
    weight = filters.reshape(-1, c, patch_size, patch_size)
    return torch.cat([weight, -weight]).float(), torch.cat([bias, -bias]).float()


class FrozenScaleBatchNorm(nn.BatchNorm2d):
    """Batch norm that learns only its shift; its scale stays at 1.

    With a ReLU-like activation after it, a learned scale is redundant with
    the next layer's weights, and freezing it removes a direction in which
    weight decay and the learning rate interact badly (Page 2018, airbench).
    Running statistics are kept as usual (``momentum`` is PyTorch's: the
    weight of the new batch, so airbench's "0.6" is ``momentum=0.4``).

    Parameters
    ----------
    num_features : int
        Channels.
    momentum : float
        PyTorch's running-statistics momentum.
    eps : float
        Added to the variance.
    freeze_scale : bool
        ``False`` gives an ordinary learned scale (for the ablation).

    Examples
    --------
    >>> bn = FrozenScaleBatchNorm(4)
    >>> bn.weight.requires_grad, bn.bias.requires_grad
    (False, True)
    >>> round(bn.momentum, 2)
    0.4

    Introduced in lesson 10.
    """

    def __init__(self, num_features: int, momentum: float = 0.4, eps: float = 1e-12, freeze_scale: bool = True) -> None:
        check_int("num_features", num_features, minimum=1)
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.weight.requires_grad_(not freeze_scale)


class _ConvGroup(nn.Module):
    """conv → pool → BN → GELU → conv → BN → GELU (airbench's block), with the course's options."""

    def __init__(self, cin: int, cout: int, *, kernel_size: int, downsample: str, identity_init: bool,
                 freeze_bn_scale: bool, squeeze_excitation: bool) -> None:
        super().__init__()
        pad = kernel_size // 2
        stride = 2 if downsample == "stride" else 1
        self.conv1 = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=pad, bias=False)
        self.pool = nn.MaxPool2d(2) if downsample == "pool" else nn.Identity()
        self.norm1 = FrozenScaleBatchNorm(cout, freeze_scale=freeze_bn_scale)
        self.conv2 = nn.Conv2d(cout, cout, kernel_size, padding=pad, bias=False)
        self.norm2 = FrozenScaleBatchNorm(cout, freeze_scale=freeze_bn_scale)
        self.act = nn.GELU()
        if squeeze_excitation:
            from .architectures import SqueezeExcitation  # lesson 08's block
            self.se: nn.Module = SqueezeExcitation(cout)
        else:
            self.se = nn.Identity()
        if identity_init:
            # the first `cin` output channels start as copies of the input channels
            with torch.no_grad():
                nn.init.dirac_(self.conv1.weight[: min(cin, cout)])
                nn.init.dirac_(self.conv2.weight[:cout])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.se(self.act(self.norm2(self.conv2(x))))


class FastCifarNet(nn.Module):
    """The fast-training recipe's network: a whitening layer and three conv groups.

    ``whiten`` (a 2×2 convolution, no padding, ``2·3·2·2 = 24`` channels) → GELU
    → three groups of conv → 2×2 max-pool → BN → GELU → conv → BN → GELU,
    widening to ``widths`` → 3×3 max-pool → linear layer, its output scaled
    by ``1/9`` (airbench94's shape). On 32×32 images the sides go 31 → 15 →
    7 → 3 → 1.

    Parameters
    ----------
    widths : sequence of 3 ints
        Channels of the three groups; airbench94 uses ``(64, 256, 256)``.
    num_classes : int
        Outputs.
    identity_init : bool
        Start each group's convolutions as the identity on their first
        channels (``torch.nn.init.dirac_``).
    freeze_bn_scale : bool
        Batch norms learn their shift only (:class:`FrozenScaleBatchNorm`).
    kernel_size : int
        Odd kernel size of the groups' convolutions (lesson 10's exercise).
    downsample : {"pool", "stride"}
        Max-pooling after the first convolution of a group, or a stride-2
        convolution instead.
    squeeze_excitation : bool
        A squeeze-and-excitation block (lesson 08) at the end of each group.

    Examples
    --------
    >>> net = FastCifarNet((16, 32, 32))
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> net.whiten.weight.requires_grad, net.whiten.weight.shape
    (False, torch.Size([24, 3, 2, 2]))

    Introduced in lesson 10.
    """

    def __init__(self, widths: Sequence[int] = (64, 256, 256), num_classes: int = 10, *, identity_init: bool = True,
                 freeze_bn_scale: bool = True, kernel_size: int = 3, downsample: str = "pool",
                 squeeze_excitation: bool = False) -> None:
        super().__init__()
        check_type("widths", widths, (tuple, list))
        if len(widths) != 3:
            raise ValueError(f"widths must hold 3 channel counts, got {widths!r}")
        for w in widths:
            check_int("each width", w, minimum=1)
        check_int("num_classes", num_classes, minimum=2)
        check_odd("kernel_size", kernel_size)
        check_choice("downsample", downsample, ("pool", "stride"))
        self.widths = tuple(widths)
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.act = nn.GELU()
        groups, cin = [], 24
        for w in widths:
            groups.append(_ConvGroup(cin, w, kernel_size=kernel_size, downsample=downsample,
                                     identity_init=identity_init, freeze_bn_scale=freeze_bn_scale,
                                     squeeze_excitation=squeeze_excitation))
            cin = w
        self.groups = nn.Sequential(*groups)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(widths[-1], num_classes, bias=False)
        self.scale = 1 / 9

    def init_whitening(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the first layer to :func:`whitening_weights` of ``images`` (on the layer's device)."""
        weight, bias = whitening_weights(images, patch_size=2, eps=eps)
        with torch.no_grad():
            self.whiten.weight.copy_(weight)
            self.whiten.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.act(self.whiten(x)))
        return self.head(self.pool(x).flatten(1)) * self.scale


def warmup_decay(total_steps: int, warmup: float = 0.23, start: float = 0.2, end: float = 0.07) -> Callable[[int], float]:
    """A learning-rate factor that rises linearly, then falls linearly: for ``LambdaLR``.

    From ``start`` at step 0 to 1 at ``warmup·total_steps``, then down to
    ``end`` at ``total_steps`` (airbench94's schedule). The warm-up keeps the
    first steps, taken while batch norm's statistics and the whitening bias
    settle, from throwing the weights far; the long linear decay lets the
    last epochs settle into a minimum.

    Examples
    --------
    >>> f = warmup_decay(100)
    >>> [round(f(s), 3) for s in (0, 23, 100)]
    [0.2, 1.0, 0.07]

    Introduced in lesson 10.
    """
    check_int("total_steps", total_steps, minimum=1)
    check_number("warmup", warmup, minimum=0, maximum=0.99)
    check_number("start", start, minimum=0)
    check_number("end", end, minimum=0)
    warm = int(total_steps * warmup)

    def factor(step: int) -> float:
        if step < warm:
            return start + (1 - start) * step / warm
        frac = min(1.0, (step - warm) / max(1, total_steps - warm))
        return 1 + (end - 1) * frac

    return factor


class Lookahead:
    """A moving average of a network's weights, written back into the network.

    ``update(model, decay)`` moves the average towards the current weights,
    ``avg ← decay·avg + (1 − decay)·w``, then sets the weights to the
    average: the "slow weights" of lookahead (Zhang et al. 2019), as airbench
    uses it every 5 steps with a decay that shrinks as training ends. Every
    floating-point tensor of the state dict takes part (batch norm's running
    statistics too); integer counters do not.

    Examples
    --------
    >>> net = nn.Linear(1, 1, bias=False)
    >>> with torch.no_grad(): _ = net.weight.fill_(0.0)
    >>> la = Lookahead(net)
    >>> with torch.no_grad(): _ = net.weight.fill_(1.0)     # training moved the weight to 1
    >>> la.update(net, decay=0.75)
    >>> net.weight.item()                                  # 0.75·0 + 0.25·1
    0.25

    Introduced in lesson 10.
    """

    def __init__(self, model: nn.Module) -> None:
        check_type("model", model, nn.Module)
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        """Blend the current weights into the average, then copy the average back."""
        check_number("decay", decay, minimum=0, maximum=1)
        state = model.state_dict()
        for k, avg in self.average.items():
            avg.lerp_(state[k].to(avg.dtype), 1 - decay)
            state[k].copy_(avg)


def alternating_flip(images: torch.Tensor, epoch: int, first_flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images that ``first_flip`` marks on even epochs, and the others on odd epochs.

    Random flipping mirrors each image with probability 1/2 every epoch, so
    over two epochs a quarter of the images are never seen mirrored and a
    quarter are seen mirrored twice. Alternating (Jordan 2024) draws the
    choice once, for epoch 0, and then inverts it every epoch: every image is
    seen both ways in every pair of epochs.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)``.
    epoch : int
        Epoch number, from 0.
    first_flip : torch.Tensor
        ``(N,)`` bool: which images are mirrored on epoch 0.

    Examples
    --------
    >>> x = torch.arange(4.0).view(1, 1, 1, 4).repeat(2, 1, 1, 1)
    >>> mask = torch.tensor([True, False])
    >>> alternating_flip(x, 0, mask)[:, 0, 0].tolist()
    [[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]]
    >>> alternating_flip(x, 1, mask)[:, 0, 0].tolist()
    [[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]]

    Introduced in lesson 10.
    """
    check_tensor("images", images)
    check_int("epoch", epoch, minimum=0)
    check_tensor("first_flip", first_flip)
    if first_flip.dtype != torch.bool or first_flip.shape != images.shape[:1]:
        raise ValueError(f"first_flip must be a bool tensor of shape ({len(images)},), got {first_flip.dtype} "
                         f"of shape {tuple(first_flip.shape)}")
    mask = first_flip.to(images.device) ^ bool(epoch % 2)
    return torch.where(mask.view(-1, 1, 1, 1), images.flip(-1), images)


def random_crop_reflect(images: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image by a random whole-pixel offset in ``-pad … pad``, borders reflected.

    The same as padding by ``pad`` with reflection (``F.pad(mode="reflect")``)
    and cropping the original size at a uniformly random position, per image:
    the "random crop" of the recipe, done on the whole batch on its device.
    Reflected borders continue the image instead of adding a black frame.

    Examples
    --------
    >>> x = torch.arange(16.0).view(1, 1, 4, 4)
    >>> g = torch.Generator().manual_seed(0)
    >>> y = random_crop_reflect(x, 1, generator=g)
    >>> y.shape
    torch.Size([1, 1, 4, 4])
    >>> any(torch.equal(y, F.pad(x, (1,) * 4, mode="reflect")[..., i:i + 4, j:j + 4]) for i in range(3) for j in range(3))
    True

    Introduced in lesson 10.
    """
    _check_images(images)
    check_int("pad", pad, minimum=0)
    if pad == 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (pad,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(images.device)
    rows = (dy.view(n, 1) + torch.arange(h, device=images.device)).view(n, 1, h, 1).expand(n, c, h, w + 2 * pad)
    tall = padded.gather(2, rows)
    cols = (dx.view(n, 1) + torch.arange(w, device=images.device)).view(n, 1, 1, w).expand(n, c, h, w)
    return tall.gather(3, cols)


@torch.no_grad()
def tta_logits(model: nn.Module, images: torch.Tensor, level: int = 2, batch_size: int = 1000) -> torch.Tensor:
    """Logits averaged over augmented views of each image (test-time augmentation).

    ``level=0``: the image alone. ``level=1``: the mean of the image's and
    its mirror's logits. ``level=2`` (airbench): half of level 1, plus half the
    mean of level 1 on two copies shifted by one pixel (up-left and
    down-right, borders reflected): six views in all. The network is put in
    evaluation mode and restored afterwards.

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    >>> x = torch.randn(3, 3, 2, 2)
    >>> by_hand = (net(x) + net(x.flip(-1))) / 2
    >>> torch.allclose(tta_logits(net, x, level=1), by_hand)
    True

    Introduced in lesson 10.
    """
    from .train import _device_of, eval_mode

    check_type("model", model, nn.Module)
    _check_images(images)
    check_choice("level", level, (0, 1, 2))
    device = _device_of(model)

    def mirror(x: torch.Tensor) -> torch.Tensor:
        return (model(x) + model(x.flip(-1))) / 2 if level >= 1 else model(x)

    out = []
    with eval_mode(model):
        for chunk in images.split(batch_size):
            x = chunk.to(device)
            logits = mirror(x)
            if level == 2:
                h, w = x.shape[-2:]
                padded = F.pad(x, (1,) * 4, mode="reflect")
                shifted = (mirror(padded[..., :h, :w]) + mirror(padded[..., 2:, 2:])) / 2
                logits = (logits + shifted) / 2
            out.append(logits.float())
    return torch.cat(out)


def native_bf16() -> bool:
    """Whether this machine computes bfloat16 natively: a CUDA GPU with bf16, or a CPU with AMX/AVX-512-BF16.

    Elsewhere bfloat16 autocast is emulated and several times slower than
    float32, so :func:`train_fast` keeps it off.

    Examples
    --------
    >>> isinstance(native_bf16(), bool)
    True

    Introduced in lesson 10.
    """
    if torch.cuda.is_available():
        # is_bf16_supported() also counts emulation (e.g. a T4); bf16 tensor cores start with Ampere (8.0).
        return torch.cuda.get_device_capability() >= (8, 0)
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Every switch and number of the fast-training recipe (defaults: airbench94's).

    Turn one trick off with :func:`dataclasses.replace`, e.g.
    ``dataclasses.replace(Recipe(), lookahead=False)``, for an ablation.
    ``lr`` and ``weight_decay`` are per 1,024 examples of a summed loss
    ("decoupled", as in airbench), so they do not change with ``batch_size``.

    Examples
    --------
    >>> r = Recipe(epochs=2)
    >>> r.widths, r.epochs, dataclasses.replace(r, tta=0).tta
    ((64, 256, 256), 2, 0)

    Introduced in lesson 10.
    """

    widths: tuple[int, int, int] = (64, 256, 256)
    epochs: float = 9.9
    batch_size: int = 1024
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_lr_scale: float = 64.0
    label_smoothing: float = 0.2
    whiten: bool = True
    whiten_bias_epochs: int = 3
    identity_init: bool = True
    freeze_bn_scale: bool = True
    schedule: bool = True
    lookahead: bool = True
    alternating_flip: bool = True
    translate: int = 2
    tta: int = 2
    kernel_size: int = 3
    downsample: str = "pool"
    squeeze_excitation: bool = False


@dataclasses.dataclass
class FastRun:
    """What :func:`train_fast` measured.

    ``epoch_acc``: test accuracy after each epoch (no test-time augmentation);
    ``epoch_seconds``: cumulative training time at the end of each epoch;
    ``test_acc``: final accuracy with the recipe's test-time augmentation;
    ``correct``: per test image, whether the final prediction was right (for
    paired comparisons); ``train_flops``: floating-point operations of
    training (3 × forward multiply-adds × 2 per image seen); ``seconds``:
    training time (whitening included, evaluation excluded).

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> x, y = torch.randn(32, 3, 32, 32), torch.arange(32) % 10
    >>> run = train_fast(x, y, x[:8], y[:8], Recipe(widths=(4, 8, 8), epochs=1, batch_size=16),
    ...                  amp=False)
    >>> len(run.epoch_acc), run.images_seen, run.correct.shape
    (1, 32, torch.Size([8]))

    Introduced in lesson 10.
    """

    model: nn.Module
    epoch_acc: list[float]
    epoch_seconds: list[float]
    test_acc: float
    correct: torch.Tensor
    train_flops: float
    seconds: float
    images_seen: int


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device`` when ``enabled``, else nothing (autocast knows no other devices)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1).cpu() == y.cpu()).float().mean().item()


def train_fast(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
               recipe: Recipe = Recipe(), *, device: torch.device | str | None = None, amp: bool | None = None,
               seed: int = 0, eval_every_epoch: bool = True, desc: str = "training") -> FastRun:
    """Train :class:`FastCifarNet` with ``recipe`` and evaluate it on the test images.

    Parameters
    ----------
    x_train, y_train : torch.Tensor
        Normalised float images ``(N, 3, H, W)`` and int labels, kept on the
        device for the whole run (augmentation happens there).
    x_test, y_test : torch.Tensor
        The evaluation images and labels.
    recipe : Recipe
        The switches and numbers.
    device : torch.device or str, optional
        Default: :func:`lessonkit.device`.
    amp : bool, optional
        bfloat16 autocast. ``None``: on where :func:`native_bf16` says the
        hardware computes bfloat16 natively, off elsewhere.
    seed : int
        Seeds the initialisation, the shuffling and the augmentation.
    eval_every_epoch : bool
        Measure test accuracy after each epoch (for learning curves).
    desc : str
        Progress-bar label.

    Returns
    -------
    FastRun

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = torch.randn(64, 3, 32, 32, generator=g), torch.arange(64) % 10
    >>> run = train_fast(x, y, x[:16], y[:16], Recipe(widths=(8, 16, 16), epochs=1, batch_size=32), device="cpu")
    >>> len(run.epoch_acc), run.images_seen, run.correct.shape
    (1, 64, torch.Size([16]))

    Introduced in lesson 10.
    """
    from .profile import device as default_device
    from .summary import count_mult_adds

    check_type("recipe", recipe, Recipe)
    _check_images(x_train, "x_train")
    _check_images(x_test, "x_test")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(f"images and labels must pair up, got {len(x_train)} / {len(y_train)} training and "
                         f"{len(x_test)} / {len(y_test)} test")
    device = torch.device(device) if device is not None else default_device()
    use_amp = native_bf16() if amp is None else amp
    if use_amp and device.type not in ("cpu", "cuda"):
        raise ValueError(f"bfloat16 autocast runs on the CPU or CUDA, not on {device}")

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = FastCifarNet(recipe.widths, identity_init=recipe.identity_init, freeze_bn_scale=recipe.freeze_bn_scale,
                       kernel_size=recipe.kernel_size, downsample=recipe.downsample,
                       squeeze_excitation=recipe.squeeze_excitation)
    if not recipe.whiten:  # an ordinary learned first layer for the ablation
        net.whiten.reset_parameters()
        net.whiten.weight.requires_grad_(True)
    net = net.to(device).to(memory_format=torch.channels_last)
    x_train, y_train = x_train.to(device), y_train.to(device)

    n = len(x_train)
    batch = min(recipe.batch_size, n)
    steps_per_epoch = n // batch
    total_steps = max(1, math.ceil(steps_per_epoch * recipe.epochs))
    kilostep = 1024 * (1 + 1 / (1 - recipe.momentum))     # Nesterov's step, per 1,024 summed examples
    lr = recipe.lr / kilostep
    wd = recipe.weight_decay * batch / kilostep
    lr_bias = lr * recipe.bias_lr_scale
    norm_biases = [p for name, p in net.named_parameters() if "norm" in name and p.requires_grad]
    others = [p for name, p in net.named_parameters() if "norm" not in name and p.requires_grad]
    optimizer = torch.optim.SGD([dict(params=norm_biases, lr=lr_bias, weight_decay=wd / lr_bias),
                                 dict(params=others, lr=lr, weight_decay=wd / lr)],
                                momentum=recipe.momentum, nesterov=True)
    factor = warmup_decay(total_steps) if recipe.schedule else (lambda step: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing, reduction="sum")
    lookahead = Lookahead(net) if recipe.lookahead else None

    started = time.perf_counter()
    if recipe.whiten:
        # A random subset: a data set stored sorted by class would otherwise whiten one class's statistics.
        net.init_whitening(x_train[torch.randperm(n, generator=g)[:5000].to(device)])
        if lookahead is not None:
            lookahead = Lookahead(net)
    first_flip = torch.rand(n, generator=g) < 0.5
    epoch_acc, epoch_seconds, step, trained = [], [], 0, 0.0
    bar = progress(total=total_steps, desc=desc)
    for epoch in range(math.ceil(recipe.epochs)):
        net.whiten.bias.requires_grad_(recipe.whiten and epoch < recipe.whiten_bias_epochs or not recipe.whiten)
        if recipe.alternating_flip:
            images = alternating_flip(x_train, epoch, first_flip)
        else:
            images = torch.where((torch.rand(n, generator=g) < 0.5).to(device).view(-1, 1, 1, 1),
                                 x_train.flip(-1), x_train)
        images = random_crop_reflect(images, recipe.translate, generator=g)
        order = torch.randperm(n, generator=g).to(device)
        net.train()
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            x = images[idx].contiguous(memory_format=torch.channels_last)
            with _autocast(device, use_amp):
                loss = loss_fn(net(x), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            bar.update(1)
            if lookahead is not None and step % 5 == 0:
                lookahead.update(net, decay=0.95**5 * (step / total_steps) ** 3)
            if step >= total_steps:
                break
        if lookahead is not None and step >= total_steps:
            lookahead.update(net, decay=1.0)
        trained = time.perf_counter() - started
        epoch_seconds.append(trained)
        if eval_every_epoch or step >= total_steps:
            with _autocast(device, use_amp):
                epoch_acc.append(_accuracy(tta_logits(net, x_test, level=0), y_test))
        started = time.perf_counter() - trained          # evaluation time is not training time
        if step >= total_steps:
            break
    bar.close()
    with _autocast(device, use_amp):
        logits = tta_logits(net, x_test, level=recipe.tta)
    correct = logits.argmax(1).cpu() == y_test.cpu()
    mult_adds = count_mult_adds(net, (1, *x_train.shape[1:]))
    images_seen = step * batch
    return FastRun(model=net, epoch_acc=epoch_acc, epoch_seconds=epoch_seconds, test_acc=correct.float().mean().item(),
                   correct=correct, train_flops=6.0 * mult_adds * images_seen, seconds=trained,
                   images_seen=images_seen)
