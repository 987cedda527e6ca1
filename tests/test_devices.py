"""Every lessonkit entry point that takes a model and data works when they start on different devices.

On Colab's GPU a lesson trains ``net`` on ``cuda`` and then hands lessonkit
images that still live on the CPU (issue 12). This machine has no GPU, so the
tests put the model on a *stand-in* device and leave the data on the CPU; a
function that forgets to move the data (or the other way round) then fails
here as it would fail on a GPU.

Two stand-ins, both reporting ``torch.device("meta")``:

``meta``
    PyTorch's own meta device: tensors with shapes and no values. Any
    operation that mixes meta and CPU tensors raises "Tensor on device meta is
    not on the expected device cpu" (or "Expected all tensors to be on the
    same device"), exactly as CUDA would. It is the stronger witness because
    the checks are PyTorch's, but a meta tensor has no values, so it can only
    run code that never looks at a number (no ``.item()``, no ``.cpu()``).

``shadow``
    A meta tensor that remembers its values: :class:`Shadow` wraps a CPU
    tensor, reports the device ``meta``, and runs every operation on the
    wrapped CPU values. The :class:`StandIn` dispatch mode turns ``.to("meta")``
    and factory calls with ``device="meta"`` into shadows (and ``.to("cpu")``
    back into plain tensors), and raises the error CUDA raises when an
    operation mixes a shadow with a CPU tensor that is not a 0-d scalar, or
    draws random numbers on the device with a CPU ``torch.Generator``. So code
    that reads numbers (``.item()``, ``argmax``, copying results to the CPU,
    training) runs, and its results are compared with the same call on the
    CPU: they must be equal, which also checks the stand-in itself.

The inventory test at the end lists every public function that takes a model,
so a new one cannot be added without saying how its devices are tested.
"""

from __future__ import annotations

import contextlib
import copy
import inspect

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

import lessonkit as lk
from stand_ins import colour_task

META = torch.device("meta")
aten = torch.ops.aten

# Operations that real accelerators allow across devices: copies, and indexing
# a device tensor with CPU indices.
_CROSS_DEVICE = {
    aten._to_copy.default,
    aten.copy_.default,
    aten.index.Tensor,
    aten.index_put_.default,
    aten.index_put.default,
    aten._index_put_impl_.default,
}


class Shadow(torch.Tensor):
    """A tensor that reports the device ``meta`` but holds (and computes with) a CPU tensor ``elem``."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor, requires_grad: bool = False):
        r = torch.Tensor._make_wrapper_subclass(
            cls, elem.size(), strides=elem.stride(), storage_offset=elem.storage_offset(),
            dtype=elem.dtype, layout=elem.layout, device=META, requires_grad=requires_grad,
        )
        r.elem = elem.detach()
        return r

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Shadow({self.elem!r})"

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})


def _to_meta(device) -> bool:
    return device is not None and torch.device(device).type == "meta"


def _run(func, args, kwargs):
    flat, _ = tree_flatten((args, kwargs))
    tensors = [t for t in flat if isinstance(t, torch.Tensor)]
    shadows = [t for t in tensors if isinstance(t, Shadow)]
    creates_on_meta = _to_meta(kwargs.get("device"))
    if any(t.is_meta and not isinstance(t, Shadow) for t in tensors) and (shadows or creates_on_meta):
        raise AssertionError(f"the stand-in missed how a tensor was put on the device: a valueless meta tensor reached {func}")
    if shadows and func not in _CROSS_DEVICE:
        plain = [t for t in tensors if not isinstance(t, Shadow) and t.ndim > 0]
        if plain:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found at least two devices, "
                f"meta and {plain[0].device}! (in {func}, stand-in device)"
            )
    generators = [g for g in flat if isinstance(g, torch.Generator)]
    if (shadows or creates_on_meta) and any(g.device.type != "meta" for g in generators):
        raise RuntimeError(f"Expected a 'meta' device type for generator but found '{generators[0].device.type}' (in {func}, stand-in device)")
    if not shadows and not creates_on_meta:
        return func(*args, **kwargs)

    def unwrap(t):
        return t.elem if isinstance(t, Shadow) else t

    args_, kw = tree_map(unwrap, args), tree_map(unwrap, kwargs)
    to_cpu_copy = "device" in kw and not creates_on_meta  # e.g. .cpu(): the result is a plain CPU tensor
    if creates_on_meta:
        kw["device"] = torch.device("cpu")
    out = func(*args_, **kw)
    if "device" in kw and any(out is a for a in tree_flatten(args_)[0]):
        out = out.clone()  # a transfer is a copy, never an alias of its source
    if to_cpu_copy:
        return out
    if func is aten.copy_.default and not isinstance(args[0], Shadow):
        return args[0]
    # An in-place or out= operation returns its input: give back the same Shadow.
    owners = {id(t.elem): t for t in shadows}

    def wrap(t):
        if isinstance(t, torch.Tensor) and not isinstance(t, Shadow):
            return owners[id(t)] if id(t) in owners else Shadow(t)
        return t

    return tree_map(wrap, out)


class _ShadowDispatch(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})


class _NewTensorsOnTheDevice(TorchFunctionMode):
    """``torch.tensor(data, device="meta")`` builds its tensor below the dispatcher: build it on the CPU, then move it."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.tensor, torch.as_tensor, torch.asarray) and _to_meta(kwargs.get("device")):
            return func(*args, **{**kwargs, "device": "cpu"}).to(META)
        return func(*args, **kwargs)


@contextlib.contextmanager
def StandIn():
    """Inside this block, ``meta`` is a device whose tensors keep their values (see the module docstring)."""
    with _NewTensorsOnTheDevice(), _ShadowDispatch():
        yield


def to_cpu(value):
    """Plain CPU tensors of everything in a nested result (call inside :class:`StandIn`)."""
    return tree_map(lambda t: t.to("cpu") if isinstance(t, torch.Tensor) else t, value)


def on_the_device(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the shadow device (call inside :class:`StandIn`)."""
    return copy.deepcopy(model).to(META)


def assert_same(a, b):
    fa, sa = tree_flatten(a)
    fb, sb = tree_flatten(b)
    assert sa == sb
    for x, y in zip(fa, fb):
        if isinstance(x, torch.Tensor):
            assert not isinstance(x, Shadow) and not isinstance(y, Shadow)
            torch.testing.assert_close(x, y)
        elif isinstance(x, float):
            assert x == pytest.approx(y, nan_ok=True)
        else:
            assert x == y


# --------------------------------------------------------------------------
# The stand-ins themselves
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["meta", "shadow"])
def test_the_stand_ins_reject_mixed_devices_as_cuda_would(kind):
    layer = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    if kind == "meta":
        with pytest.raises((RuntimeError, NotImplementedError), match="meta"):
            layer.to(META)(x)
        return
    with StandIn():
        dev_layer = on_the_device(layer)
        assert isinstance(dev_layer.weight, Shadow) and isinstance(dev_layer.weight, nn.Parameter)
        assert dev_layer.weight.device == META
        with pytest.raises(RuntimeError, match="at least two devices, meta and cpu"):
            dev_layer(x)
        with pytest.raises(RuntimeError, match="generator"):
            torch.randn(3, device=META, generator=torch.Generator().manual_seed(0))
        out = dev_layer(x.to(META))
        assert isinstance(out, Shadow) and out.device == META
        assert (x.sum() * 0 + torch.tensor(2.0)).item() == 2.0  # plain CPU code is untouched
        back = to_cpu(out)
    torch.testing.assert_close(back, layer(x))


def test_the_shadow_device_trains_exactly_like_the_cpu():
    """The stand-in's oracle: a training step gives bit-for-bit the CPU's numbers."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2))
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, 2, (8,))

    def step(m, xb, yb):
        opt = torch.optim.Adam(m.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(m(xb), yb)
            loss.backward()
            opt.step()
        return loss.item()

    cpu_model = copy.deepcopy(model)
    expected = step(cpu_model, x, y)
    with StandIn():
        m = on_the_device(model)
        got = step(m, x.to(META), y.to(META))
        state = to_cpu(m.state_dict())
    assert got == expected
    assert_same(state, cpu_model.state_dict())


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


def blobs(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5 + y.float().view(-1, 1, 1, 1)
    return x, y


def small_cnn(seed=0, in_channels=1, dropout=0.0):
    torch.manual_seed(seed)
    return lk.SimpleCNN(in_channels, 3, widths=(4, 8), dropout=dropout)


# --------------------------------------------------------------------------
# train.py, metrics.py
# --------------------------------------------------------------------------


def _fit(model, loader_kind, device=None, **kwargs):
    x, y = blobs()
    if loader_kind == "cpu loader":
        train = lk.make_loader(torch.utils.data.TensorDataset(x, y), 32, shuffle=True, seed=0)
        val = lk.make_loader(torch.utils.data.TensorDataset(*blobs(48, 1)), 32)
    else:  # batches already on the model's device, as lesson 07 makes them
        dev = device or next(model.parameters()).device
        train = lk.DeviceLoader((x, y), 32, shuffle=True, device=dev, seed=0)
        val = lk.DeviceLoader(blobs(48, 1), 32, device=dev)
    lk.seed_everything(0)
    history = lk.fit(model, train, val, epochs=2, lr=0.01, device=device, **kwargs)
    return history.as_dict()


@pytest.mark.parametrize(
    "loader_kind, augment",
    [
        ("cpu loader", None),
        ("device loader", None),
        ("device loader", "shift+flip"),  # the batched augmentations of lesson 07, on the device
        ("device loader", "affine"),
        ("device loader", "mixup"),
        ("cpu loader", "cutmix"),
    ],
)
def test_fit_trains_on_the_device_from_cpu_or_device_batches(loader_kind, augment):
    def transform():
        g = torch.Generator().manual_seed(1)
        return {
            None: None,
            "shift+flip": lambda x, y: lk.RandomHorizontalFlip(0.5, generator=g)(*lk.RandomTranslate(2, generator=g)(x, y)),
            "affine": lk.RandomAffine(10.0, translate=(0.1, 0.1), generator=g),
            "mixup": lk.MixUp(0.4, num_classes=3, generator=g),
            "cutmix": lk.CutMix(1.0, num_classes=3, generator=g),
        }[augment]

    model = small_cnn(dropout=0.2)
    cpu_model = copy.deepcopy(model)
    expected = _fit(cpu_model, loader_kind, batch_transform=transform())
    with StandIn():
        m = on_the_device(model)
        got = _fit(m, loader_kind, batch_transform=transform())
        assert all(p.device == META for p in m.parameters())
        state = to_cpu(m.state_dict())
    assert_same(got, expected)
    assert_same(state, cpu_model.state_dict())


def test_fit_moves_a_cpu_model_to_the_device_it_is_given():
    model = small_cnn()
    expected = _fit(copy.deepcopy(model), "cpu loader")
    with StandIn():
        m = copy.deepcopy(model)
        got = _fit(m, "cpu loader", device="meta")
        assert all(p.device == META for p in m.parameters())
    assert_same(got, expected)


@pytest.mark.parametrize("loader_kind", ["cpu loader", "device loader"])
def test_evaluate_and_predict_on_the_device(loader_kind):
    model = small_cnn(dropout=0.5).train()
    x, y = blobs(70)
    cpu_loader = lk.make_loader(torch.utils.data.TensorDataset(x, y), 32)
    expected_eval = lk.evaluate(model, cpu_loader, k=(1, 2))
    expected_pred = lk.predict(model, cpu_loader)
    with StandIn():
        m = on_the_device(model)
        loader = cpu_loader if loader_kind == "cpu loader" else lk.DeviceLoader((x, y), 32, device=META)
        got_eval = lk.evaluate(m, loader, k=(1, 2))
        logits, targets = lk.predict(m, loader)
        assert not isinstance(logits, Shadow) and logits.device.type == "cpu"  # predict promises CPU results
        assert not isinstance(targets, Shadow) and targets.device.type == "cpu"
        assert m.training  # the mode is restored
    assert_same(got_eval, expected_eval)
    assert_same((logits, targets), expected_pred)


def test_metrics_accept_logits_on_the_device_and_targets_on_the_cpu():
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(50, 6, generator=g), torch.randint(0, 6, (50,), generator=g)
    expected = (lk.topk_accuracy(logits, targets, (1, 3)), lk.topk_error(logits, targets, (1, 3)), lk.confusion_matrix(logits, targets, 6))
    with StandIn():
        dev_logits = logits.to(META)
        got = (lk.topk_accuracy(dev_logits, targets, (1, 3)), lk.topk_error(dev_logits, targets, (1, 3)), lk.confusion_matrix(dev_logits, targets, 6))
        got_pred = lk.confusion_matrix(dev_logits.argmax(1), targets, 6)
        got = to_cpu(got)
    assert_same(got, expected)
    torch.testing.assert_close(to_cpu(got_pred), expected[2])


# --------------------------------------------------------------------------
# shift.py
# --------------------------------------------------------------------------


def test_shift_experiments_on_the_device():
    model = small_cnn().train()
    x, y = blobs(40)
    expected = (
        lk.accuracy_vs_shift(model, x, y, [-2, 0, 3], fill=-1.0, batch_size=16),
        lk.shift_probabilities(model, x[0], [-1, 0, 2], axis="y", mode="roll"),
    )
    with StandIn():
        m = on_the_device(model)
        accs = lk.accuracy_vs_shift(m, x, y, [-2, 0, 3], fill=-1.0, batch_size=16)
        accs_dev = lk.accuracy_vs_shift(m, x.to(META), y.to(META), [-2, 0, 3], fill=-1.0, batch_size=16)
        probs = lk.shift_probabilities(m, x[0], [-1, 0, 2], axis="y", mode="roll")
        assert not isinstance(probs, Shadow) and probs.device.type == "cpu"
        assert m.training
        moved = to_cpu(lk.translate(x.to(META), dx=torch.tensor([1, -1] * 20), fill=[0.5]))
    assert_same((accs, probs), expected)
    assert accs_dev == expected[0]
    torch.testing.assert_close(moved, lk.translate(x, dx=torch.tensor([1, -1] * 20), fill=[0.5]))


@pytest.mark.parametrize("fn", ["accuracy_vs_shift", "shift_probabilities"])
def test_shift_experiments_on_meta(fn):
    """Plain meta: the data reaches the model on its device (the result itself needs values, so it fails later)."""
    m = small_cnn().to(META)
    x, y = blobs(8)
    call = (lambda: lk.accuracy_vs_shift(m, x, y, [0, 1])) if fn == "accuracy_vs_shift" else (lambda: lk.shift_probabilities(m, x[0], [0, 1]))
    with pytest.raises(Exception) as info:
        call()
    # Only the final read of numbers may fail; never a device mismatch.
    assert "expected device" not in str(info.value) and "two devices" not in str(info.value)


# --------------------------------------------------------------------------
# receptive.py, summary.py
# --------------------------------------------------------------------------


def test_receptive_field_probes_on_the_device():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2))
    expected = (
        lk.empirical_receptive_field(model, (1, 24, 24)),
        lk.input_gradient(model, (1, 24, 24)),
        lk.input_gradient(model, (1, 24, 24), probe=False, n_samples=2),
    )
    with StandIn():
        m = on_the_device(model)
        got = (
            lk.empirical_receptive_field(m, (1, 24, 24)),
            lk.input_gradient(m, (1, 24, 24)),
            lk.input_gradient(m, (1, 24, 24), probe=False, n_samples=2),
        )
        assert all(not isinstance(g, Shadow) and g.device.type == "cpu" for g in got[1:])
        assert all(p.device == META for p in m.parameters())
    assert_same(got, expected)


def test_summarize_leaves_the_model_on_its_device():
    model = small_cnn()
    expected = lk.summarize(model, (1, 1, 8, 8))
    with StandIn():
        m = on_the_device(model)
        got = lk.summarize(m, (1, 1, 8, 8))
        mult_adds = lk.count_mult_adds(m, (2, 1, 8, 8))
        assert all(p.device == META for p in m.parameters())
    assert got.total_params == expected.total_params
    assert got.total_mult_adds == expected.total_mult_adds > 0
    assert mult_adds == lk.count_mult_adds(model, (2, 1, 8, 8))


# --------------------------------------------------------------------------
# interpret.py (issue 12: lesson 09 passes CPU images to a model trained on the GPU)
# --------------------------------------------------------------------------


def _interpret_calls():
    return {
        "feature_maps": lambda m, x: lk.feature_maps(m, x, ["features.0", "features.1"]),
        "class_activation_map": lambda m, x: lk.class_activation_map(m, x, "features", "head.2", target=1),
        "class_activation_map (predicted class)": lambda m, x: lk.class_activation_map(m, x, "features", "head.2"),
        "grad_cam": lambda m, x: lk.grad_cam(m, x, "features.1", target=[0, 1, 2, 0]),
        "grad_cam (predicted class)": lambda m, x: lk.grad_cam(m, x, "features.1"),
    }


@pytest.mark.parametrize("name", list(_interpret_calls()))
def test_interpretation_with_the_model_on_meta_and_images_on_the_cpu(name):
    model = small_cnn(in_channels=3).eval()
    x = torch.randn(4, 3, 16, 16)
    expected = _interpret_calls()[name](model, x)
    result = _interpret_calls()[name](copy.deepcopy(model).to(META), x)
    assert tree_map(lambda t: t.shape, result) == tree_map(lambda t: t.shape, expected)


@pytest.mark.parametrize("name", list(_interpret_calls()))
def test_interpretation_on_the_device_gives_the_cpu_results(name):
    model = small_cnn(in_channels=3).train()
    x = torch.randn(4, 3, 16, 16)
    expected = _interpret_calls()[name](copy.deepcopy(model), x)
    with StandIn():
        m = on_the_device(model)
        got = to_cpu(_interpret_calls()[name](m, x))
        assert m.training and m.features[0][1].training  # every submodule's mode is restored
    assert_same(got, expected)
    heat = got if isinstance(got, torch.Tensor) else None
    if heat is not None and heat.min() >= 0 and heat.max() <= 1:
        with StandIn():  # a heatmap still on the device can be drawn over an image still on the device
            overlay = lk.overlay_heatmap(x[0].to(META).clamp(0, 1), heat[0].to(META))
        np.testing.assert_allclose(overlay, lk.overlay_heatmap(x[0].clamp(0, 1), heat[0]))


def test_capture_activations_and_maximize_activation_on_the_device():
    model = small_cnn(in_channels=3).eval()
    x = torch.randn(2, 3, 16, 16)
    kwargs = dict(size=12, upscaling_steps=1, steps=3, mean=[0.5] * 3, std=[0.25] * 3)
    with lk.capture_activations(model, "features.0") as acts:
        model(x)
    expected = (acts["features.0"], lk.maximize_activation(model, "features.1", 2, **kwargs))
    with StandIn():
        m = on_the_device(model)
        with lk.capture_activations(m, "features.0") as acts:
            m(x.to(META))
        img = lk.maximize_activation(m, "features.1", 2, **kwargs)
        got = to_cpu((acts["features.0"], img))
    assert_same(got, expected)


# --------------------------------------------------------------------------
# retrieval.py, pretrained.py, app
# --------------------------------------------------------------------------


def test_extract_features_and_search_on_the_device():
    backbone = small_cnn(in_channels=3).features
    images = torch.randn(10, 3, 12, 12)
    labels = torch.arange(10) % 3
    ds = torch.utils.data.TensorDataset(images, labels)
    expected = (lk.extract_features(backbone, images, batch_size=4), lk.extract_features(backbone, ds, batch_size=4))
    with StandIn():
        b = on_the_device(backbone)
        got = (lk.extract_features(b, images, batch_size=4), lk.extract_features(b, ds, batch_size=4))
        index = lk.SearchIndex(got[0][0].to(META), labels.to(META))
        scores, idx = index.search(got[0][0][:3].to(META), k=2)
        metrics = lk.retrieval_metrics(index, got[0][0].to(META), labels.to(META), ks=(1, 2))
    assert_same(got, expected)
    ref = lk.SearchIndex(expected[0][0], labels)
    assert_same((scores, idx), ref.search(expected[0][0][:3], k=2))
    assert metrics == lk.retrieval_metrics(ref, expected[0][0], labels, ks=(1, 2))


def _tiny_pm(categories=None):
    from lessonkit import pretrained as P

    torch.manual_seed(0)
    stages = [("stem", nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))), ("stage1", nn.Conv2d(4, 6, 3))]
    backbone = P._staged(stages)
    model = nn.Sequential(backbone, nn.Linear(6, 5)) if categories else backbone
    return P.PretrainedModel(model, backbone, "mobilenet_v2", "test", (0.5,) * 3, (0.5,) * 3, categories, 6, "0.stage1", ["stem", "stage1"], "0" * 16)


def test_transfer_model_puts_the_new_head_on_the_backbones_device():
    pm = _tiny_pm()
    x = torch.randn(4, 3, 10, 10)
    with StandIn():
        pm.model.to(META)
        net = lk.transfer_model(pm, 3)
        assert {p.device for p in net.parameters()} == {META}
        out = net.eval()(x.to(META))
        assert out.shape == (4, 3)
        preds, _ = lk.predict(net, [(x, torch.zeros(4, dtype=torch.long))])
    assert preds.shape == (4, 3)


def test_classify_on_the_device():
    from PIL import Image

    pm = _tiny_pm(categories=[f"class {i}" for i in range(5)])
    image = Image.fromarray((np.arange(40 * 30 * 3) % 251).astype(np.uint8).reshape(40, 30, 3))
    expected = pm.classify(image, k=3)
    with StandIn():
        pm.model.to(META)
        got = pm.classify(image, k=3)
    assert got == expected


# --------------------------------------------------------------------------
# models.py, layers.py, architectures.py: forward passes create nothing on the CPU
# --------------------------------------------------------------------------


def _modules():
    return {
        "MLP": (lambda: lk.MLP((1, 8, 8), 3, dropout=0.3), (4, 1, 8, 8)),
        "SimpleCNN": (lambda: lk.SimpleCNN(1, 3, widths=(4, 8), dropout=0.3), (4, 1, 8, 8)),
        "BatchNorm2d": (lambda: lk.BatchNorm2d(2), (4, 2, 5, 5)),
        "Dropout": (lambda: lk.Dropout(0.5), (4, 2, 5, 5)),
        "LeNet5": (lambda: lk.LeNet5(), (2, 1, 28, 28)),
        "AlexNetSmall": (lambda: lk.AlexNetSmall(), (2, 3, 32, 32)),
        "InceptionModule": (lambda: lk.InceptionModule(4, 2, 2, 3, 2, 3, 2), (2, 4, 8, 8)),
        "BasicBlock": (lambda: lk.BasicBlock(4, 8, stride=2), (2, 4, 8, 8)),
        "Bottleneck": (lambda: lk.Bottleneck(8, 2), (2, 8, 8, 8)),
        "XResBlock": (lambda: lk.XResBlock(4, 8, stride=2), (2, 4, 8, 8)),
        "SqueezeExcitation": (lambda: lk.SqueezeExcitation(8, reduction=2), (2, 8, 4, 4)),
        "DenseBlock": (lambda: lk.DenseBlock(4, 2, growth_rate=4, bn_size=2), (2, 4, 6, 6)),
        "ResNeXtBlock": (lambda: lk.ResNeXtBlock(8, 8, cardinality=2, group_width=2), (2, 8, 6, 6)),
        "ConvNeXtBlock": (lambda: lk.ConvNeXtBlock(8), (2, 8, 8, 8)),
        "DeepNet": (lambda: lk.DeepNet(residual=True, blocks_per_stage=1, width=4), (2, 1, 16, 16)),
    }


@pytest.mark.parametrize("name", list(_modules()))
def test_course_modules_run_on_the_device(name):
    make, shape = _modules()[name]
    torch.manual_seed(0)
    module = make().train()
    x = torch.randn(*shape)
    torch.manual_seed(1)
    expected = module(x)
    torch.manual_seed(0)
    module = make().train()
    with StandIn():
        m = module.to(META)
        torch.manual_seed(1)
        got = to_cpu(m(x.to(META)))
    torch.testing.assert_close(got, expected.detach())


# --------------------------------------------------------------------------
# The inventory
# --------------------------------------------------------------------------

# Every public function or class whose first parameter is a model, with the test
# above that runs it with the model on another device than its data, or why it needs none.
COVERED = {
    "fit": "test_fit_trains_on_the_device_from_cpu_or_device_batches, test_fit_moves_a_cpu_model_to_the_device_it_is_given",
    "evaluate": "test_evaluate_and_predict_on_the_device",
    "predict": "test_evaluate_and_predict_on_the_device",
    "accuracy_vs_shift": "test_shift_experiments_on_the_device",
    "shift_probabilities": "test_shift_experiments_on_the_device",
    "empirical_receptive_field": "test_receptive_field_probes_on_the_device",
    "input_gradient": "test_receptive_field_probes_on_the_device",
    "summarize": "test_summarize_leaves_the_model_on_its_device",
    "count_mult_adds": "test_summarize_leaves_the_model_on_its_device",
    "capture_activations": "test_capture_activations_and_maximize_activation_on_the_device",
    "maximize_activation": "test_capture_activations_and_maximize_activation_on_the_device",
    "feature_maps": "test_interpretation_*",
    "class_activation_map": "test_interpretation_*",
    "grad_cam": "test_interpretation_*",
    "extract_features": "test_extract_features_and_search_on_the_device",
    "transfer_model": "test_transfer_model_puts_the_new_head_on_the_backbones_device",
    "TransferNet": "test_transfer_model_puts_the_new_head_on_the_backbones_device",
    "PretrainedModel": "test_classify_on_the_device (PretrainedModel.classify)",
    "SimilarityFinder": "tests/test_app.py::test_finder_runs_the_backbone_on_its_device",
    "reference_features": "tests/test_app.py::test_finder_runs_the_backbone_on_its_device (the finder's features)",
    "reference_metrics": "tests/test_app.py::test_finder_runs_the_backbone_on_its_device (the finder's metrics)",
    "train_fast": "test_train_fast_on_the_device_gives_the_cpu_run",
    "tta_logits": "test_tta_and_lookahead_with_the_model_on_the_device",
    "Lookahead": "test_tta_and_lookahead_with_the_model_on_the_device",
    "FastRun": "no data: the record train_fast returns (train_fast is covered)",
    "lit_classifier": "tests/test_lightning.py::test_lit_classifier_runs_on_the_device (the Trainer moves module and batches)",
    # No data: they only read or flag parameters, or the model's structure.
    "receptive_field": "no data: layer geometry only",
    "count_parameters": "no data",
    "freeze": "no data",
    "unfreeze": "no data",
    "unfreeze_from": "no data",
    "get_layer": "no data",
    "eval_mode": "no data",
    "cache_key": "no data: hashes the backbone's weights",
}
_MODEL_PARAMETERS = {"model", "backbone", "module", "pm", "layers", "net"}


def test_every_entry_point_that_takes_a_model_is_covered():
    takes_a_model = set()
    for name in lk.__all__:
        obj = getattr(lk, name)
        if not callable(obj):
            continue
        try:
            params = list(inspect.signature(obj).parameters)
        except (TypeError, ValueError):
            continue
        if params and params[0] in _MODEL_PARAMETERS:
            takes_a_model.add(name)
    assert takes_a_model - set(COVERED) == set(), "a new entry point takes a model: add a device test for it here"
    assert set(COVERED) - set(lk.__all__) == set()


# --------------------------------------------------------------------------
# Lesson 10's fast-training recipe
# --------------------------------------------------------------------------


def test_train_fast_on_the_device_gives_the_cpu_run():
    x, y = colour_task(64, 0)
    recipe = lk.Recipe(widths=(4, 8, 8), epochs=2, batch_size=16)
    expected = lk.train_fast(x, y, x[:16], y[:16], recipe, device="cpu", amp=False)
    with StandIn():
        got = lk.train_fast(x, y, x[:16], y[:16], recipe, device=META, amp=False)
        assert all(p.device == META for p in got.model.parameters())
        state = to_cpu(got.model.state_dict())
    assert torch.equal(got.correct, expected.correct)
    assert got.epoch_acc == expected.epoch_acc and got.train_flops == expected.train_flops
    assert_same(state, expected.model.state_dict())


def test_tta_and_lookahead_with_the_model_on_the_device():
    torch.manual_seed(0)
    net = lk.FastCifarNet((4, 8, 8)).eval()
    x = torch.randn(5, 3, 32, 32)
    expected = lk.tta_logits(net, x, level=2)
    cpu = copy.deepcopy(net)
    la_cpu = lk.Lookahead(cpu)
    with torch.no_grad():
        for p in cpu.parameters():
            p.add_(1.0)
    la_cpu.update(cpu, decay=0.5)
    with StandIn():
        m = on_the_device(net)
        got = to_cpu(lk.tta_logits(m, x, level=2))           # images on the CPU, model on the device
        la = lk.Lookahead(m)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(1.0)
        la.update(m, decay=0.5)
        state = to_cpu(m.state_dict())
    torch.testing.assert_close(got, expected)
    assert_same(state, cpu.state_dict())
