"""Looking inside a trained CNN: hooks, feature maps, activation maximisation, CAM and Grad-CAM.

Introduced in lesson 09 ("Looking inside a trained network"). Layers are
named by their ``model.named_modules()`` path, e.g. ``"features.0"`` or
``"layer4"``. Every hook this module registers is removed when the
``with`` block (or the function) ends, even after an exception.

The model may live on any device: every function here moves its input to the
model's device and returns its result on the CPU, ready for plotting and for
arithmetic with other CPU tensors. (A model on PyTorch's ``meta`` device, which
the tests use as a stand-in for a GPU, has no data to copy: its results stay
on ``meta``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._utils import check_batch, check_int, check_number, check_probability, check_type
from .progress import progress
from .train import _device_of, _to_host, eval_mode

__all__ = [
    "get_layer",
    "capture_activations",
    "feature_maps",
    "maximize_activation",
    "class_activation_map",
    "grad_cam",
    "overlay_heatmap",
]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The sub-module of ``model`` called ``name`` (a ``named_modules()`` path).

    Raises
    ------
    ValueError
        If there is no such layer; the message lists some valid names.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    >>> get_layer(net, "0")
    Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))

    Introduced in lesson 09.
    """
    check_type("model", model, nn.Module)
    check_type("name", name, str)
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        names = [n for n in modules if n]
        close = [n for n in names if name and (name in n or n in name)][:8] or names[:8]
        raise ValueError(f"model has no layer named {name!r}; valid names include {close} ({len(names)} in total, see model.named_modules())")
    return modules[name]


@contextmanager
def capture_activations(model: nn.Module, layers: str | Sequence[str], *, detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of named layers during the forward passes inside a ``with`` block.

    Forward hooks are registered on entry and always removed on exit. The
    yielded dict maps each layer name to its output from the most recent
    forward pass.

    Parameters
    ----------
    model : nn.Module
    layers : str or sequence of str
        ``named_modules()`` paths; a missing name raises ``ValueError``
        before any hook is registered.
    detach : bool
        Store detached tensors (default). Use ``False`` to keep the graph,
        e.g. to take gradients with respect to an activation.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    >>> with capture_activations(net, ["0", "1"]) as acts:
    ...     _ = net(torch.randn(1, 1, 8, 8))
    >>> acts["1"].shape, len(net[0]._forward_hooks)
    (torch.Size([1, 4, 6, 6]), 0)

    Introduced in lesson 09.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("layers must name at least one layer")
    modules = [get_layer(model, n) for n in names]
    store: dict[str, torch.Tensor] = {}

    def make_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returned {type(output).__name__}, expected a tensor")
            store[name] = output.detach() if detach else output

        return hook

    handles = []
    try:
        for n, m in zip(names, modules):
            handles.append(m.register_forward_hook(make_hook(n)))
        yield store
    finally:
        for h in handles:
            h.remove()


def feature_maps(model: nn.Module, x: torch.Tensor, layers: str | Sequence[str]) -> dict[str, torch.Tensor]:
    """The outputs of the named layers for input ``x`` (eval mode, no gradients).

    Parameters
    ----------
    model : nn.Module
    x : torch.Tensor
        ``(N, C, H, W)``.
    layers : str or sequence of str

    Returns
    -------
    dict of str -> torch.Tensor
        In the order of ``layers``, on the CPU (``x`` is moved to the model's device).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    >>> feature_maps(net, torch.randn(2, 1, 8, 8), "0")["0"].shape
    torch.Size([2, 4, 6, 6])

    Introduced in lesson 09.
    """
    check_batch("x", x)
    names = [layers] if isinstance(layers, str) else list(layers)
    with eval_mode(model), capture_activations(model, names) as acts, torch.no_grad():
        model(x.to(_device_of(model)))
    missing = [n for n in names if n not in acts]
    if missing:
        raise ValueError(f"layers {missing} were not called in the forward pass")
    return {n: _to_host(acts[n]) for n in names}


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def maximize_activation(
    model: nn.Module,
    layer: str,
    channel: int | Sequence[int],
    *,
    in_channels: int = 3,
    size: int = 56,
    upscaling_steps: int = 8,
    upscaling_factor: float = 1.2,
    steps: int = 20,
    lr: float = 0.05,
    blur_sigma: float = 0.5,
    jitter: int = 0,
    l2: float = 0.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """An image that strongly excites one channel of a layer (activation maximisation).

    Starts from faint noise of side ``size`` (``0.5 + 0.05·N(0, 1)`` per
    pixel) and runs ``steps`` of gradient ascent (Adam) on the mean
    activation of ``channel`` in ``layer``; then, ``upscaling_steps`` times,
    enlarges the image by ``upscaling_factor``, blurs it slightly and
    continues. Plain gradient ascent finds high-frequency patterns that no
    photograph contains; three regularisers make the result readable:

    - growing the image coarse-to-fine and blurring it between stages
      (``blur_sigma``) suppress the high frequencies;
    - ``jitter``: before each step the image is rolled by a random shift of
      up to ``jitter`` pixels in each direction, so a pattern that only works
      at one exact pixel offset gains nothing;
    - ``l2``: the objective becomes ``activation - l2/2 · ‖z‖²``, where
      ``z = (image - mean) / std`` is what the network sees, which keeps the
      colours near the dataset's mean instead of saturating. For a single
      linear filter ``w`` (activation ``w·z``) the optimum is ``z = w / l2``:
      the image that excites a filter most, at a given norm, is the filter.

    Several channels are optimised at once, each in its own image of one
    batch (the images do not interact: the model runs in eval mode).

    Parameters
    ----------
    model : nn.Module
        Used in eval mode; its parameters are not changed.
    layer : str
        A ``named_modules()`` path whose output is ``(N, C, H, W)``.
    channel : int or sequence of int
        ``0 <= channel < C``; a sequence gives one image per channel.
    in_channels : int
        Channels of the image to optimise (3 for RGB networks).
    jitter : int
        Largest random shift in pixels before each step (0: none).
    l2 : float
        Weight of the L2 penalty on the normalised image (0: none).
    mean, std : sequence of float, optional
        The normalisation the network expects; the image is optimised in
        [0, 1] pixel space and normalised before each forward pass.
    seed : int
        Seeds the starting noise and the jitter.

    Returns
    -------
    torch.Tensor
        ``(in_channels, H, W)`` for one channel, ``(len(channel), in_channels,
        H, W)`` for a sequence; in [0, 1] on the CPU, ready for
        :func:`lessonkit.to_display`.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    >>> maximize_activation(net, "1", 2, size=16, upscaling_steps=1, steps=2).shape
    torch.Size([3, 19, 19])
    >>> maximize_activation(net, "1", [0, 3], size=16, upscaling_steps=0, steps=2, jitter=2, l2=0.01).shape
    torch.Size([2, 3, 16, 16])

    Introduced in lesson 09.
    """
    get_layer(model, layer)  # a missing name fails here, before any work
    if isinstance(channel, Sequence) and not isinstance(channel, str):
        channels = [check_int(f"channel[{i}]", c) for i, c in enumerate(channel)]
        if not channels:
            raise ValueError("channel must name at least one channel")
    else:
        channels = [check_int("channel", channel)]
    for name, v in dict(in_channels=in_channels, size=size, steps=steps).items():
        check_int(name, v, minimum=1)
    check_int("upscaling_steps", upscaling_steps, minimum=0)
    check_number("upscaling_factor", upscaling_factor, minimum=1.0)
    check_int("jitter", jitter, minimum=0)
    check_number("l2", l2, minimum=0.0)
    check_int("seed", seed)
    dev = _device_of(model)
    m = torch.tensor(mean if mean is not None else [0.0] * in_channels).view(1, -1, 1, 1)
    s = torch.tensor(std if std is not None else [1.0] * in_channels).view(1, -1, 1, 1)
    if m.shape[1] != in_channels or s.shape[1] != in_channels:
        raise ValueError(f"mean and std need {in_channels} values each, got {m.shape[1]} and {s.shape[1]}")
    m, s = m.to(dev), s.to(dev)

    g = torch.Generator().manual_seed(seed)
    k = len(channels)
    img = (0.5 + 0.05 * torch.randn(k, in_channels, size, size, generator=g)).to(dev)
    rows, wanted = torch.arange(k, device=dev), torch.tensor(channels, device=dev)
    grads_before = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with eval_mode(model), capture_activations(model, layer, detach=False) as acts:
            for stage in progress(range(upscaling_steps + 1), desc="upscaling", leave=False):
                img = img.detach().requires_grad_(True)
                opt = torch.optim.Adam([img], lr=lr)
                for _ in range(steps):
                    opt.zero_grad()
                    x = img
                    if jitter:
                        dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist()
                        x = torch.roll(img, shifts=(dy, dx), dims=(2, 3))
                    z = (x - m) / s
                    model(z)
                    a = acts[layer]
                    if a.ndim != 4:
                        raise ValueError(f"layer {layer!r} outputs shape {tuple(a.shape)}; expected (N, C, H, W)")
                    bad = [c for c in channels if not 0 <= c < a.shape[1]]
                    if bad:
                        raise ValueError(f"channel must be in [0, {a.shape[1]}) for layer {layer!r}, got {bad[0] if k == 1 else channels}")
                    loss = -a[rows, wanted].mean(dim=(1, 2)).sum()     # each image its own channel
                    if l2:
                        loss = loss + 0.5 * l2 * (z * z).sum()
                    loss.backward()
                    opt.step()
                    with torch.no_grad():
                        img.clamp_(0.0, 1.0)
                if stage < upscaling_steps:
                    with torch.no_grad():
                        new = int(round(img.shape[-1] * upscaling_factor))
                        img = F.interpolate(img, size=(new, new), mode="bicubic", align_corners=False)
                        if blur_sigma > 0:
                            img = _gaussian_blur(img, blur_sigma)
                        img = img.clamp(0.0, 1.0)
    finally:
        for p, r in zip(model.parameters(), grads_before):
            p.requires_grad_(r)
    out = _to_host(img.detach())
    return out if isinstance(channel, Sequence) and not isinstance(channel, str) else out[0]


def _targets(target: int | Sequence[int] | torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
    n, c = logits.shape
    if target is None:
        return logits.argmax(dim=1)
    t = _to_host(torch.as_tensor(target)).reshape(-1)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"target must be an int class index (or one per image), got dtype {t.dtype}")
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"target must be one class index or {n} (one per image), got {t.numel()}")
    if not t.is_meta and ((t < 0).any() or (t >= c).any()):
        raise ValueError(f"target class must be in [0, {c}), got {t.tolist()}")
    return t.to(logits.device)


def _minmax(cam: torch.Tensor) -> torch.Tensor:
    lo = cam.flatten(1).min(dim=1).values.view(-1, 1, 1)
    cam = cam - lo
    hi = cam.flatten(1).max(dim=1).values.view(-1, 1, 1)
    return cam / (hi + 1e-7)


def _finish(cam: torch.Tensor, size: tuple[int, int] | None, normalize: bool) -> torch.Tensor:
    # Min-max scaling before and after upsampling, as pytorch_grad_cam does: bilinear
    # interpolation commutes with affine rescaling, so the two-stage version differs from a
    # single one only through the 1e-7 guard, i.e. for maps whose range is below ~1e-6.
    if normalize:
        cam = _minmax(cam)
    if size is not None:
        cam = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        if normalize:
            cam = _minmax(cam)
    return cam


def class_activation_map(
    model: nn.Module,
    x: torch.Tensor,
    features: str,
    classifier: str,
    target: int | Sequence[int] | torch.Tensor | None = None,
    *,
    upsample: bool = True,
    normalize: bool = True,
) -> torch.Tensor:
    """Class activation maps (Zhou et al., 2016) for a network ending in global average pooling + one linear layer.

    ``CAM_c = sum_k w[c, k] · A_k`` where ``A`` is the output of
    ``features`` (the last convolutional feature maps, the input of the
    global average pooling) and ``w`` the weight of the ``classifier``
    linear layer.

    Parameters
    ----------
    model : nn.Module
    x : torch.Tensor
        ``(N, C, H, W)``.
    features : str
        Layer whose output is pooled; must have as many channels as the
        classifier has inputs.
    classifier : str
        The final ``nn.Linear``.
    target : int, sequence of int or None
        Class per image (default: the predicted class).
    upsample : bool
        Resize the maps bilinearly to the input's ``(H, W)``.
    normalize : bool
        Scale each map to [0, 1] (min-max). Use ``False`` for the raw map.

    Returns
    -------
    torch.Tensor
        ``(N, H', W')`` on the CPU (``x`` is moved to the model's device).

    Examples
    --------
    >>> from lessonkit.models import SimpleCNN
    >>> net = SimpleCNN(1, 10).eval()
    >>> class_activation_map(net, torch.randn(2, 1, 28, 28), "features", "head.2").shape
    torch.Size([2, 28, 28])

    Introduced in lesson 09.
    """
    check_batch("x", x)
    fc = get_layer(model, classifier)
    if not isinstance(fc, nn.Linear):
        raise TypeError(f"classifier {classifier!r} must be an nn.Linear, got {type(fc).__name__}")
    with eval_mode(model), capture_activations(model, features) as acts, torch.no_grad():
        logits = model(x.to(_device_of(model)))
    if logits.ndim != 2:
        raise ValueError(f"model must output logits of shape (N, classes), got {tuple(logits.shape)}")
    a = acts[features]
    if a.ndim != 4 or a.shape[1] != fc.in_features:
        raise ValueError(f"layer {features!r} outputs shape {tuple(a.shape)}; expected (N, {fc.in_features}, h, w) to match the classifier's inputs")
    t = _targets(target, logits)
    w = fc.weight.detach()[t]  # (N, K)
    cam = torch.einsum("nk,nkhw->nhw", w, a)
    return _to_host(_finish(cam, tuple(x.shape[-2:]) if upsample else None, normalize))


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    target: int | Sequence[int] | torch.Tensor | None = None,
    *,
    upsample: bool = True,
    normalize: bool = True,
    relu: bool = True,
) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., 2017): feature maps weighted by their average gradient.

    For class ``c`` and the output ``A`` of ``layer``:
    ``α_k = mean_ij ∂y_c/∂A_kij`` and ``map = ReLU(Σ_k α_k A_k)``, where
    ``y_c`` is the class *logit* (before softmax). Works for any
    differentiable network; gradients are taken only with respect to the
    activation, so the parameters' ``.grad`` are left untouched.

    Parameters
    ----------
    model : nn.Module
        Evaluated in eval mode (its mode is restored afterwards).
    x : torch.Tensor
        ``(N, C, H, W)``.
    layer : str
        A ``named_modules()`` path whose output is ``(N, K, h, w)``,
        usually the last convolutional stage.
    target : int, sequence of int or None
        Class per image (default: the predicted class).
    upsample, normalize : bool
        As in :func:`class_activation_map`; with both (default) the result
        matches ``pytorch_grad_cam.GradCAM``.
    relu : bool
        Keep only positive evidence (default, as in the paper).

    Returns
    -------
    torch.Tensor
        ``(N, H', W')`` on the CPU (``x`` is moved to the model's device).

    Examples
    --------
    >>> from lessonkit.models import SimpleCNN
    >>> net = SimpleCNN(1, 10).eval()
    >>> grad_cam(net, torch.randn(2, 1, 28, 28), "features.1", target=3).shape
    torch.Size([2, 28, 28])

    Introduced in lesson 09.
    """
    check_batch("x", x)
    with eval_mode(model):
        with capture_activations(model, layer, detach=False) as acts, torch.enable_grad():
            logits = model(x.to(_device_of(model)))
            if logits.ndim != 2:
                raise ValueError(f"model must output logits of shape (N, classes), got {tuple(logits.shape)}")
            if layer not in acts:
                raise ValueError(f"layer {layer!r} was not called in the forward pass")
            a = acts[layer]
            if a.ndim != 4:
                raise ValueError(f"layer {layer!r} outputs shape {tuple(a.shape)}; expected (N, K, h, w)")
            if not a.requires_grad:
                raise ValueError(f"layer {layer!r} output does not depend on anything that requires grad; choose a layer after the first parameterised one")
            t = _targets(target, logits)
            score = logits.gather(1, t.view(-1, 1)).sum()
            (grads,) = torch.autograd.grad(score, a)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = (weights * a.detach()).sum(dim=1)
    if relu:
        cam = cam.clamp_min(0)
    return _to_host(_finish(cam, tuple(x.shape[-2:]) if upsample else None, normalize))


def overlay_heatmap(image: np.ndarray | torch.Tensor, heatmap: np.ndarray | torch.Tensor, *, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a heatmap in [0, 1] over an image: ``(1 - alpha) · image + alpha · colormap(heatmap)``.

    Parameters
    ----------
    image : array ``(H, W)``, ``(H, W, 3)`` or tensor ``(C, H, W)``
        Values in [0, 1] (as returned by :func:`lessonkit.to_display`).
    heatmap : array ``(H, W)``
        Values in [0, 1], same height and width as the image.
    alpha : float
        Weight of the heatmap, in [0, 1].
    cmap : str
        A matplotlib colormap name.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` float RGB in [0, 1].

    Examples
    --------
    >>> overlay_heatmap(np.zeros((4, 4)), np.ones((4, 4)), alpha=1.0, cmap="gray")[0, 0]
    array([1., 1., 1.])

    Introduced in lesson 09.
    """
    from .plot import to_display

    img = to_display(image) if isinstance(image, torch.Tensor) or np.ndim(image) == 3 else np.asarray(image, dtype=np.float64)
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    h = heatmap.detach().cpu().numpy() if isinstance(heatmap, torch.Tensor) else np.asarray(heatmap)
    if h.ndim != 2:
        raise ValueError(f"heatmap must have shape (H, W), got {h.shape}")
    if h.shape != img.shape[:2]:
        raise ValueError(f"heatmap shape {h.shape} must equal the image's (H, W) = {img.shape[:2]}")
    check_probability("alpha", alpha)
    if np.nanmin(h) < -1e-6 or np.nanmax(h) > 1 + 1e-6:
        raise ValueError(f"heatmap values must be in [0, 1] (normalise it first), got [{np.nanmin(h):.3g}, {np.nanmax(h):.3g}]")
    colours = matplotlib.colormaps[cmap](np.clip(h, 0.0, 1.0))[..., :3]
    return (1.0 - alpha) * img + alpha * colours
