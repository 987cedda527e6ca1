"""Tests for lessonkit.interpret: hooks, feature maps, activation maximisation, CAM, Grad-CAM, overlays."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
import torchvision
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

import lessonkit as lk
from lessonkit.interpret import (
    capture_activations,
    class_activation_map,
    feature_maps,
    get_layer,
    grad_cam,
    maximize_activation,
    overlay_heatmap,
)


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return lk.SimpleCNN(3, 5, widths=(8, 16)).eval()


def n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_get_layer_and_missing_name():
    net = small_cnn()
    assert get_layer(net, "features.1.0") is net.features[1][0]
    with pytest.raises(ValueError, match="no layer named 'features.9'"):
        get_layer(net, "features.9")
    with pytest.raises(TypeError, match="str"):
        get_layer(net, 3)  # type: ignore[arg-type]


def test_capture_activations_matches_manual_forward_and_removes_hooks():
    net = small_cnn()
    x = torch.randn(2, 3, 16, 16)
    with capture_activations(net, ["features.0", "features"]) as acts:
        out = net(x)
        assert n_hooks(net) == 2
    assert n_hooks(net) == 0
    with torch.no_grad():
        torch.testing.assert_close(acts["features.0"], net.features[0](x))
        torch.testing.assert_close(acts["features"], net.features(x))
        torch.testing.assert_close(out, net.head(acts["features"]))


def test_hooks_removed_after_an_exception():
    net = small_cnn()
    with pytest.raises(RuntimeError, match="boom"):
        with capture_activations(net, "features.0"):
            raise RuntimeError("boom")
    assert n_hooks(net) == 0
    with pytest.raises(ValueError, match="no layer named"):
        with capture_activations(net, ["features.0", "nope"]):
            pass
    assert n_hooks(net) == 0


def test_feature_maps_restores_mode_and_checks_shape():
    net = small_cnn().train()
    x = torch.randn(1, 3, 16, 16)
    maps = feature_maps(net, x, ["features.0.0", "features.1"])
    assert list(maps) == ["features.0.0", "features.1"]
    assert maps["features.0.0"].shape == (1, 8, 16, 16)
    torch.testing.assert_close(maps["features.0.0"], nn.functional.conv2d(x, net.features[0][0].weight, padding=1))
    assert net.training
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        feature_maps(net, torch.randn(3, 16, 16), "features.0")


def reference_gradcam(model, layer_module, x, targets):
    with GradCAM(model=model, target_layers=[layer_module]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])


def test_grad_cam_matches_pytorch_grad_cam_small_cnn():
    net = small_cnn(1)
    x = torch.randn(3, 3, 20, 20)
    targets = [0, 4, 2]
    ours = grad_cam(net, x, "features.1", targets).numpy()
    ref = reference_gradcam(net, net.features[1], x, targets)
    assert ours.shape == ref.shape == (3, 20, 20)
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_grad_cam_matches_pytorch_grad_cam_for_tiny_maps():
    # a map whose range is ~1e-9: the 1e-7 guard in the min-max scaling then matters
    net = small_cnn(6)
    with torch.no_grad():
        net.head[-1].weight.mul_(1e-9)
    x = torch.randn(2, 3, 16, 16)
    ours = grad_cam(net, x, "features", [1, 3]).numpy()
    np.testing.assert_allclose(ours, reference_gradcam(net, net.features, x, [1, 3]), atol=1e-5, rtol=0)


def test_grad_cam_matches_pytorch_grad_cam_resnet18():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=7).eval()
    x = torch.randn(2, 3, 64, 64)
    for layer, module in [("layer4", net.layer4), ("layer3", net.layer3)]:
        ours = grad_cam(net, x, layer, [3, 6]).numpy()
        ref = reference_gradcam(net, module, x, [3, 6])
        np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    # default target = predicted class
    pred = net(x).argmax(1).tolist()
    np.testing.assert_allclose(grad_cam(net, x, "layer4").numpy(), reference_gradcam(net, net.layer4, x, pred), atol=1e-5, rtol=0)


def test_grad_cam_by_hand_and_leaves_parameter_grads_alone():
    # Grad-CAM from first principles with autograd on a tiny net.
    net = small_cnn(2)
    x = torch.randn(1, 3, 12, 12)
    a = net.features(x).detach().requires_grad_(True)
    score = net.head(a)[0, 1]
    (g,) = torch.autograd.grad(score, a)
    expected = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1)).detach()
    got = grad_cam(net, x, "features", 1, upsample=False, normalize=False)
    torch.testing.assert_close(got, expected)
    assert all(p.grad is None for p in net.parameters())


def test_cam_equals_grad_cam_up_to_positive_scale_for_gap_linear():
    net = small_cnn(3)
    x = torch.randn(4, 3, 24, 24)
    h, w = net.features(x).shape[-2:]
    for target in (None, 2, [0, 1, 2, 3]):
        cam = class_activation_map(net, x, "features", "head.2", target, upsample=False, normalize=False)
        gc = grad_cam(net, x, "features", target, upsample=False, normalize=False, relu=False)
        # dy_c/dA_kij = w_ck / (h*w), so Grad-CAM = CAM / (h*w)
        torch.testing.assert_close(cam, gc * (h * w), rtol=1e-4, atol=1e-5)
        # min-max normalised and upsampled, without Grad-CAM's ReLU, the two heatmaps are identical (clamp_min(0)
        # changes nothing on CAM's [0, 1] heatmap); with the ReLU, Grad-CAM's default, they differ wherever CAM < 0
        torch.testing.assert_close(
            class_activation_map(net, x, "features", "head.2", target).clamp_min(0),
            grad_cam(net, x, "features", target, relu=False),
            rtol=1e-4,
            atol=1e-5,
        )


def test_cam_by_hand():
    net = small_cnn(4)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        a = net.features(x)[0]
    wc = net.head[-1].weight[2].detach()
    expected = (wc[:, None, None] * a).sum(0)
    got = class_activation_map(net, x, "features", "head.2", 2, upsample=False, normalize=False)[0]
    torch.testing.assert_close(got, expected)


def test_cam_and_grad_cam_validate_inputs():
    net = small_cnn()
    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"target class must be in \[0, 5\)"):
        grad_cam(net, x, "features", 5)
    with pytest.raises(ValueError, match="one per image"):
        grad_cam(net, x, "features", [1, 2, 3])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        grad_cam(net, x[0], "features")
    with pytest.raises(ValueError, match="no layer named"):
        grad_cam(net, x, "layer4")
    with pytest.raises(TypeError, match="nn.Linear"):
        class_activation_map(net, x, "features", "head.0")
    with pytest.raises(ValueError, match="match the classifier"):
        class_activation_map(net, x, "features.0", "head.2")
    with pytest.raises(TypeError, match="dtype"):
        grad_cam(net, x, "features", 1.5)  # type: ignore[arg-type]


def test_grad_cam_normalised_range_and_mode_restored():
    net = small_cnn().train()
    out = grad_cam(net, torch.randn(2, 3, 16, 16), "features.0", 1)
    assert net.training
    assert out.shape == (2, 16, 16)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_maximize_activation_increases_the_target_activation():
    net = small_cnn(5)
    params = [p.detach().clone() for p in net.parameters()]
    layer, channel = "features.1.2", 3
    img = maximize_activation(net, layer, channel, size=16, upscaling_steps=2, steps=15, lr=0.1)
    assert img.shape[0] == 3 and img.shape[1] == img.shape[2] == round(round(16 * 1.2) * 1.2)
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    # parameters untouched, requires_grad restored, hooks removed
    assert all(torch.equal(a, b) for a, b in zip(params, net.parameters()))
    assert all(p.requires_grad for p in net.parameters()) and n_hooks(net) == 0
    # the optimised image excites the channel far more than random images of the same size
    def act(x):
        return feature_maps(net, x, layer)[layer][:, channel].mean(dim=(1, 2))

    random = act(torch.rand(16, 3, *img.shape[1:]))
    assert float(act(img[None])) > float(random.max())
    with pytest.raises(ValueError, match=r"channel must be in \[0, 16\)"):
        maximize_activation(net, layer, 99, size=8, upscaling_steps=0, steps=1)


def test_maximize_activation_of_a_linear_filter_under_an_l2_penalty_is_the_filter():
    # Analytic optimum: for the activation w.z of one linear filter, maximising w.z - l2/2 |z|^2 gives z = w / l2
    # (the filter itself, at the norm the penalty allows); z = image - 0.5 with mean 0.5 and std 1.
    torch.manual_seed(0)
    w = 0.05 * torch.randn(1, 3, 8, 8)
    net = nn.Sequential(nn.Conv2d(3, 1, 8, bias=False))   # one output position: the mean activation is w.z
    net[0].weight.data.copy_(w)
    img = maximize_activation(net, "0", 0, size=8, upscaling_steps=0, steps=600, lr=0.01, l2=0.5, mean=[0.5] * 3, std=[1.0] * 3)
    z, expected = img - 0.5, w[0] / 0.5
    assert float(expected.abs().max()) < 0.5                # the optimum lies inside the [0, 1] box
    assert torch.nn.functional.cosine_similarity(z.flatten(), expected.flatten(), dim=0) > 0.999
    torch.testing.assert_close(z, expected, rtol=0, atol=0.01)
    # without the penalty only the [0, 1] box bounds the image: the optimum is its corner on the filter's side
    corner = maximize_activation(net, "0", 0, size=8, upscaling_steps=0, steps=100, lr=0.05, mean=[0.5] * 3, std=[1.0] * 3)
    assert torch.equal(corner, (w[0] > 0).float())


def test_maximize_activation_of_several_channels_optimises_independent_images():
    net = small_cnn(5)
    layer = "features.1.2"
    kwargs = dict(size=12, upscaling_steps=1, steps=6, lr=0.1, seed=3)
    a, b = maximize_activation(net, layer, [3, 7], **kwargs), maximize_activation(net, layer, [3, 9], **kwargs)
    assert a.shape == (2, 3, 14, 14)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)   # image 0 never sees what image 1 optimises
    acts = feature_maps(net, a, layer)[layer].mean(dim=(2, 3))
    assert acts[0, 3] > acts[1, 3] and acts[1, 7] > acts[0, 7]  # each image excites its own channel more
    # jitter and the L2 penalty each change the result, reproducibly for a given seed
    assert not torch.equal(maximize_activation(net, layer, [3, 7], jitter=2, **kwargs), a)
    assert not torch.equal(maximize_activation(net, layer, [3, 7], l2=0.01, **kwargs), a)
    jittered = maximize_activation(net, layer, [3, 7], jitter=2, l2=0.01, **kwargs)
    torch.testing.assert_close(jittered, maximize_activation(net, layer, [3, 7], jitter=2, l2=0.01, **kwargs), rtol=0, atol=0)
    assert float(jittered.min()) >= 0.0 and float(jittered.max()) <= 1.0
    for bad, message in (({"jitter": -1}, "jitter must be an int >= 0"), ({"l2": -0.1}, "l2 must be >= 0")):
        with pytest.raises(ValueError, match=message):
            maximize_activation(net, layer, 3, size=8, upscaling_steps=0, steps=1, **bad)
    with pytest.raises(ValueError, match=r"channel must be in \[0, 16\) for layer 'features.1.2', got \[3, 99\]"):
        maximize_activation(net, layer, [3, 99], size=8, upscaling_steps=0, steps=1)
    with pytest.raises(ValueError, match="at least one channel"):
        maximize_activation(net, layer, [], size=8, upscaling_steps=0, steps=1)


def test_overlay_heatmap_blends_with_colormap():
    rng = np.random.default_rng(0)
    img = rng.random((6, 7, 3))
    heat = rng.random((6, 7))
    colours = matplotlib.colormaps["viridis"](heat)[..., :3]
    np.testing.assert_allclose(overlay_heatmap(img, heat, alpha=0.3, cmap="viridis"), 0.7 * img + 0.3 * colours)
    np.testing.assert_allclose(overlay_heatmap(img, heat, alpha=0.0), img)
    gray = overlay_heatmap(img[..., 0], heat, alpha=0.0)
    assert gray.shape == (6, 7, 3)
    with pytest.raises(ValueError, match="must equal the image"):
        overlay_heatmap(img, heat[:5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlay_heatmap(img, heat * 3)
    with pytest.raises(ValueError, match="alpha"):
        overlay_heatmap(img, heat, alpha=2)


def test_functions_restore_each_submodule_mode_for_shared_layers():
    """A slice of a network shares its layers: using the slice must not flip the whole network."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3),
    ).eval()
    part = net[:4]  # a new Sequential, in training mode, sharing the layers
    assert part.training and not net[1].training
    x = torch.randn(2, 1, 12, 12)
    lk.feature_maps(part, x, "3")
    lk.maximize_activation(part, "3", 0, size=12, upscaling_steps=1, steps=2, in_channels=1)
    assert not any(m.training for m in net.modules()), "the shared layers must stay in eval mode"
    with lk.eval_mode(part):
        assert not part.training
    assert part.training and not net[1].training


# --------------------------------------------------------------------------
# Device: the input goes to the model's device, the result comes back to the CPU.
# On this CPU-only machine the ``meta`` device stands in for a GPU: a model moved
# there computes shapes without data, and a CPU input that is not moved raises
# "Tensor on device meta is not on the expected device cpu".
# --------------------------------------------------------------------------


def meta_gap_cnn() -> nn.Module:
    torch.manual_seed(0)
    return lk.SimpleCNN(3, 5, widths=(8, 16), head="gap").eval().to("meta")


def test_a_meta_model_really_rejects_a_cpu_input():
    """The premise of the tests below: without a move, the forward pass fails."""
    with pytest.raises(RuntimeError, match="device"):
        meta_gap_cnn()(torch.randn(1, 3, 16, 16))


def test_feature_maps_cam_and_grad_cam_move_the_input_to_the_models_device():
    net, x = meta_gap_cnn(), torch.randn(2, 3, 16, 16)
    maps = feature_maps(net, x, ["features.0", "features"])
    assert maps["features"].shape == (2, 16, 4, 4) and maps["features.0"].shape == (2, 8, 8, 8)
    assert class_activation_map(net, x, "features", "head.2").shape == (2, 16, 16)
    assert class_activation_map(net, x, "features", "head.2", target=[1, 2], upsample=False).shape == (2, 4, 4)
    assert grad_cam(net, x, "features").shape == (2, 16, 16)
    assert grad_cam(net, x, "features", target=torch.tensor([0, 4]), upsample=False).shape == (2, 4, 4)
    assert maximize_activation(net, "features.1", 3, size=8, upscaling_steps=1, steps=2).shape == (3, 10, 10)
    assert maximize_activation(net, "features.1", [3, 4], size=8, upscaling_steps=1, steps=2, jitter=1, l2=0.1).shape == (2, 3, 10, 10)
    assert n_hooks(net) == 0 and not net.training


def test_results_come_back_to_the_cpu_from_the_models_device():
    """The contract (on this machine only the CPU holds data): CPU tensors out, with the
    values of a plain forward pass."""
    net = lk.SimpleCNN(3, 5, widths=(8, 16), head="gap").eval()
    x = torch.randn(2, 3, 16, 16)
    results = [
        feature_maps(net, x, "features")["features"],
        class_activation_map(net, x, "features", "head.2"),
        grad_cam(net, x, "features"),
        maximize_activation(net, "features.1", 3, size=8, upscaling_steps=0, steps=1),
    ]
    assert all(r.device.type == "cpu" for r in results)
    # On the model's device the numbers are those of a plain forward pass.
    with torch.no_grad():
        torch.testing.assert_close(results[0], net.features(x))


def test_maximize_activation_needs_no_parameters_in_front_of_the_layer():
    """A model without parameters has no device to read; it runs where its input does."""
    pool = nn.Sequential(nn.AvgPool2d(2), nn.ReLU())
    img = maximize_activation(pool, "1", 0, size=8, upscaling_steps=0, steps=1)
    assert img.shape == (3, 8, 8)


def test_the_three_batch_checks_are_one_rule():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    for call in (lambda x: feature_maps(net, x, "0"),
                 lambda x: class_activation_map(net, x, "1", "4"),
                 lambda x: grad_cam(net, x, "0")):
        with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
            call([[0.0]])
        with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\), got shape \(1, 8, 8\)"):
            call(torch.zeros(1, 8, 8))
        with pytest.raises(TypeError, match="floating-point"):
            call(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
