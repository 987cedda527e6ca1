"""The fast-training recipe's pieces (lessonkit.fastcifar), each against an independent oracle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lessonkit as lk
from stand_ins import colour_task


def _images(n=32, side=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, side, side, generator=g)
    return x.cumsum(-1) + 0.5 * x.cumsum(-2)      # neighbouring pixels correlated, as in photographs


# --- whitening ---------------------------------------------------------------

def test_whitened_patches_have_zero_mean_and_identity_covariance():
    x = _images()
    w, b = lk.whitening_weights(x, patch_size=2, eps=0.0)
    # independent patch extraction: numpy's sliding windows, (C, p, p) order
    arr = x.double().numpy()
    win = np.lib.stride_tricks.sliding_window_view(arr, (2, 2), axis=(2, 3))   # (N, C, H', W', 2, 2)
    patches = win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, 12)
    out = patches @ w[:12].double().numpy().reshape(12, 12).T + b[:12].double().numpy()
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(np.cov(out.T, bias=True), np.eye(12), atol=1e-4)
    # the convolution computes the same thing
    conv = F.conv2d(x.double(), w[:12].double(), b[:12].double()).permute(0, 2, 3, 1).reshape(-1, 12)
    np.testing.assert_allclose(conv.numpy(), out, atol=1e-6)


def test_whitening_orders_directions_by_variance_and_comes_in_sign_pairs():
    x = _images()
    w, b = lk.whitening_weights(x, eps=5e-4)
    torch.testing.assert_close(w[12:], -w[:12])
    torch.testing.assert_close(b[12:], -b[:12])
    # larger-variance directions get the smaller scale 1/sqrt(lambda + eps)
    norms = w[:12].flatten(1).norm(dim=1)
    assert torch.all(norms[1:] >= norms[:-1] - 1e-6)
    cov = np.cov(F.unfold(x.double(), 2).transpose(1, 2).reshape(-1, 12).numpy().T, bias=True)
    lam = np.sort(np.linalg.eigvalsh(cov))[::-1]
    np.testing.assert_allclose(norms.double().numpy(), 1 / np.sqrt(lam + 5e-4), rtol=1e-4)


@pytest.mark.parametrize("bad, error", [(torch.zeros(3, 8, 8), ValueError), (np.zeros((2, 3, 8, 8)), TypeError),
                                        (torch.zeros(2, 3, 1, 1), ValueError)])
def test_whitening_rejects_bad_images(bad, error):
    with pytest.raises(error):
        lk.whitening_weights(bad)


def test_whitening_rejects_negative_eps():
    with pytest.raises(ValueError, match="eps"):
        lk.whitening_weights(_images(), eps=-1.0)


# --- the network ---------------------------------------------------------------

def test_frozen_scale_batch_norm_equals_batch_norm_and_keeps_its_scale():
    torch.manual_seed(0)
    x = torch.randn(8, 4, 5, 5)
    ours, ref = lk.FrozenScaleBatchNorm(4, eps=1e-5), nn.BatchNorm2d(4, momentum=0.4)
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    opt = torch.optim.SGD([p for p in ours.parameters() if p.requires_grad], lr=1.0)
    (ours(x) * torch.randn_like(x)).sum().backward()
    opt.step()
    assert torch.equal(ours.weight, torch.ones(4)) and not torch.equal(ours.bias, torch.zeros(4))
    assert lk.FrozenScaleBatchNorm(4, freeze_scale=False).weight.requires_grad


def test_identity_init_passes_the_input_through_each_groups_second_convolution():
    net = lk.FastCifarNet((8, 16, 16))
    conv2 = net.groups[1].conv2
    x = torch.randn(2, 16, 6, 6)
    torch.testing.assert_close(conv2(x), x)
    # the first convolution copies its 8 inputs into its first 8 outputs
    conv1 = net.groups[1].conv1
    torch.testing.assert_close(conv1(torch.randn(2, 8, 6, 6))[:, :8].shape, torch.Size([2, 8, 6, 6]))
    y = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(conv1(y)[:, :8], y)
    plain = lk.FastCifarNet((8, 16, 16), identity_init=False).groups[1].conv2
    assert not torch.allclose(plain(x), x)


def test_network_shapes_and_variants_count_as_by_hand():
    for kw in ({}, {"downsample": "stride"}, {"kernel_size": 5}, {"squeeze_excitation": True}):
        net = lk.FastCifarNet((16, 32, 32), **kw)
        assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # parameters by hand: whitening 24*3*4 + 24, groups (k*k*cin*cout + k*k*cout*cout + 2 BN * 2 * cout), head
    def by_hand(widths, k=3):
        total, cin = 24 * 12 + 24, 24
        for w in widths:
            total += k * k * cin * w + k * k * w * w + 4 * w
            cin = w
        return total + widths[-1] * 10
    assert sum(p.numel() for p in lk.FastCifarNet((64, 256, 256)).parameters()) == by_hand((64, 256, 256))
    assert sum(p.numel() for p in lk.FastCifarNet((8, 8, 8), kernel_size=5).parameters()) == by_hand((8, 8, 8), 5)


@pytest.mark.parametrize("kw, error", [({"widths": (8, 8)}, ValueError), ({"widths": 8}, TypeError),
                                       ({"kernel_size": 4}, ValueError), ({"downsample": "avg"}, ValueError)])
def test_network_rejects_bad_arguments(kw, error):
    with pytest.raises(error):
        lk.FastCifarNet(**kw)


# --- optimisation ---------------------------------------------------------------

def test_warmup_decay_matches_the_piecewise_linear_schedule():
    total = 200
    f = lk.warmup_decay(total, warmup=0.25, start=0.1, end=0.05)
    steps = np.arange(total + 1)
    expected = np.interp(steps, [0, 50, 200], [0.1, 1.0, 0.05])
    np.testing.assert_allclose([f(int(s)) for s in steps], expected, atol=1e-12)


@pytest.mark.parametrize("kw", [{"warmup": 1.0}, {"start": -0.1}])
def test_warmup_decay_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        lk.warmup_decay(10, **kw)


def test_lookahead_is_a_moving_average_copied_back():
    net = nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.zero_()
    la = lk.Lookahead(net)
    avg, decays, targets = 0.0, [0.9, 0.5, 0.0, 1.0], [1.0, 3.0, -2.0, 7.0]
    for d, t in zip(decays, targets):
        with torch.no_grad():
            net.weight.fill_(t)
        la.update(net, decay=d)
        avg = d * avg + (1 - d) * t          # the hand computation
        assert net.weight[0, 0].item() == pytest.approx(avg)
    with pytest.raises(ValueError):
        la.update(net, decay=1.5)


def test_lookahead_averages_running_statistics_but_not_counters():
    bn = nn.BatchNorm2d(2)
    la = lk.Lookahead(bn)
    assert "num_batches_tracked" not in la.average and "running_mean" in la.average


# --- augmentation ---------------------------------------------------------------

def test_alternating_flip_shows_every_image_both_ways_in_every_two_epochs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, 4, 4, generator=g)
    mask = torch.rand(50, generator=g) < 0.5
    for e in range(0, 6, 2):
        a, b = lk.alternating_flip(x, e, mask), lk.alternating_flip(x, e + 1, mask)
        flipped_a = (a == x.flip(-1)).flatten(1).all(1)
        flipped_b = (b == x.flip(-1)).flatten(1).all(1)
        assert torch.equal(flipped_a, mask) and torch.equal(flipped_b, ~mask)


def test_alternating_flip_rejects_a_wrong_mask():
    with pytest.raises(ValueError):
        lk.alternating_flip(torch.zeros(4, 3, 2, 2), 0, torch.zeros(3, dtype=torch.bool))


def test_random_crop_reflect_is_a_crop_of_the_reflected_image_at_every_offset():
    x = torch.randn(400, 2, 5, 5)
    y = lk.random_crop_reflect(x, 2, generator=torch.Generator().manual_seed(0))
    padded = F.pad(x, (2,) * 4, mode="reflect")
    seen = set()
    for i in range(len(x)):
        match = [(a, b) for a in range(5) for b in range(5) if torch.equal(y[i], padded[i, :, a:a + 5, b:b + 5])]
        assert match, i
        seen.add(match[0])
    assert len(seen) == 25       # every one of the 5×5 offsets is drawn
    assert torch.equal(lk.random_crop_reflect(x, 0), x)


def test_tta_level_two_equals_six_views_averaged_by_hand():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(5))
    x = torch.randn(7, 3, 8, 8)
    net(x)
    p = F.pad(x, (1,) * 4, mode="reflect")
    views = [x, x.flip(-1)]
    shifted = [p[..., :8, :8], p[..., :8, :8].flip(-1), p[..., 2:, 2:], p[..., 2:, 2:].flip(-1)]
    by_hand = 0.5 * sum(net(v) for v in views) / 2 + 0.5 * sum(net(v) for v in shifted) / 4
    torch.testing.assert_close(lk.tta_logits(net, x, level=2, batch_size=3), by_hand)
    torch.testing.assert_close(lk.tta_logits(net, x, level=0), net(x))
    with pytest.raises(ValueError):
        lk.tta_logits(net, x, level=3)


def test_tta_restores_training_mode():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2)).train()
    lk.tta_logits(net, torch.zeros(2, 3, 2, 2))
    assert net.training


# --- the whole recipe ---------------------------------------------------------------

def test_train_fast_learns_a_simple_task_and_reports_consistent_numbers():
    x, y = colour_task(512, 0)
    xt, yt = colour_task(128, 1)
    recipe = lk.Recipe(widths=(8, 16, 16), epochs=3, batch_size=64)
    run = lk.train_fast(x, y, xt, yt, recipe, device="cpu", amp=False)
    assert run.test_acc > 0.9
    assert run.correct.float().mean().item() == pytest.approx(run.test_acc)
    assert len(run.epoch_acc) == 3 and run.images_seen == 3 * 512
    mult_adds = lk.count_mult_adds(lk.FastCifarNet((8, 16, 16)), (1, 3, 32, 32))
    assert run.train_flops == 6 * mult_adds * run.images_seen


def test_train_fast_is_reproducible_and_every_trick_can_be_switched_off():
    x, y = colour_task(128, 0)
    recipe = lk.Recipe(widths=(4, 8, 8), epochs=1, batch_size=32)
    a = lk.train_fast(x, y, x[:32], y[:32], recipe, device="cpu", amp=False)
    b = lk.train_fast(x, y, x[:32], y[:32], recipe, device="cpu", amp=False)
    assert torch.equal(a.correct, b.correct)
    off = dataclasses.replace(recipe, whiten=False, identity_init=False, freeze_bn_scale=False, label_smoothing=0.0,
                              schedule=False, lookahead=False, alternating_flip=False, translate=0, tta=0)
    run = lk.train_fast(x, y, x[:32], y[:32], off, device="cpu", amp=False)
    assert run.model.whiten.weight.requires_grad and run.model.groups[0].norm1.weight.requires_grad


def test_train_fast_rejects_mismatched_data():
    x, y = colour_task(16, 0)
    with pytest.raises(ValueError, match="pair up"):
        lk.train_fast(x, y[:8], x, y, lk.Recipe(widths=(4, 4, 4), epochs=1))
    with pytest.raises(TypeError):
        lk.train_fast(x, y, x, y, {"epochs": 1})


def test_native_bf16_reads_the_cpu_flags():
    if torch.cuda.is_available():
        pytest.skip("decided by the GPU")
    flags = open("/proc/cpuinfo").read()
    assert lk.native_bf16() == ("amx_bf16" in flags or "avx512_bf16" in flags)


@pytest.mark.parametrize("capability, native", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_native_bf16_counts_only_gpus_with_bf16_tensor_cores(monkeypatch, capability, native):
    # A T4 (7.5) "supports" bfloat16 by emulation, several times slower than float16 or float32.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)
    assert lk.native_bf16() is native


def test_train_fast_fits_the_whitening_on_every_class_of_a_class_sorted_set(monkeypatch):
    # Stored sorted by class (as some copies of CIFAR-10 are), the first images are all one class;
    # whitening fitted on them would describe that class alone.
    n_per_class, classes = 600, 10
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = torch.randn(len(y), 3, 32, 32) + y.view(-1, 1, 1, 1).float()   # a class shows in its pixel mean
    seen = []
    original = lk.FastCifarNet.init_whitening

    def spy(self, images, eps=5e-4):
        seen.append(images.mean(dim=(1, 2, 3)).round())
        return original(self, images, eps)

    monkeypatch.setattr(lk.FastCifarNet, "init_whitening", spy)
    lk.train_fast(x, y, x[:20], y[:20], lk.Recipe(widths=(4, 4, 4), epochs=1, batch_size=1000), device="cpu",
                  amp=False, eval_every_epoch=False)
    (means,) = seen
    assert len(means) == 5000
    counts = torch.bincount(means.long().clamp(0, classes - 1), minlength=classes)
    assert (counts > 300).all(), counts      # about 500 of each, where the first 5,000 would hold 5 classes only
