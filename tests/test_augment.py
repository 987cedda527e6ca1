"""Batched augmentation, MixUp and CutMix, against torchvision and hand-worked examples."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import chisquare
from torchvision.transforms.v2 import functional as TF

import lessonkit as lk
from lessonkit.data import DeviceLoader, as_tensors
from lessonkit.augment import (
    Compose,
    CutMix,
    MixUp,
    PerSampleShift,
    PILAugmentedDataset,
    RandomAffine,
    RandomHorizontalFlip,
    RandomTranslate,
    affine,
    cutmix,
    horizontal_flip,
    mixup,
)


def _dot_images(n, h=9, w=15):
    """Images with one bright pixel in the centre: the shift can be read back from the output."""
    x = torch.zeros(n, 1, h, w)
    x[:, 0, h // 2, w // 2] = 1.0
    return x


def _read_dx(x):
    w = x.shape[-1]
    return x.amax(dim=(1, 2)).argmax(dim=1) - w // 2


def test_random_translate_is_uniform_on_integers_like_the_per_sample_version():
    k, n = 3, 3000
    g = torch.Generator().manual_seed(0)
    batched = _read_dx(RandomTranslate(k, generator=g)(_dot_images(n))).numpy()
    per_sample_t = PerSampleShift(k, generator=torch.Generator().manual_seed(1))
    img = Image.fromarray((_dot_images(1)[0, 0].numpy() * 255).astype(np.uint8))
    per_sample = np.array([np.argmax(np.asarray(per_sample_t(img)).max(axis=0)) - 7 for _ in range(n)])
    support = np.arange(-k, k + 1)
    for draws in (batched, per_sample):
        assert set(np.unique(draws)) == set(support)
        counts = np.array([(draws == s).sum() for s in support])
        assert chisquare(counts).pvalue > 1e-3  # uniform
    # Two-sample check: the two histograms do not differ
    table = np.array([[(batched == s).sum() for s in support], [(per_sample == s).sum() for s in support]])
    from scipy.stats import chi2_contingency

    assert chi2_contingency(table).pvalue > 1e-3


def test_random_translate_equals_torchvision_affine_for_the_same_shift():
    x = torch.rand(1, 1, 10, 12)
    for d in (-3, 0, 2):
        ref = TF.affine(x, angle=0.0, translate=[d, 0], scale=1.0, shear=[0.0, 0.0], fill=0.0)
        torch.testing.assert_close(lk.translate(x, dx=d), ref)


def test_random_translate_preserves_labels_shape_device_and_dtype():
    x, y = torch.rand(16, 3, 8, 8, dtype=torch.float64), torch.arange(16)
    x2, y2 = RandomTranslate(2, axis="both")(x, y)
    assert x2.shape == x.shape and x2.dtype == x.dtype and x2.device == x.device
    assert torch.equal(y2, y)
    # every output row is a shifted copy of its own input (content moves, never mixes images)
    for i in range(16):
        assert any(torch.equal(x2[i], lk.translate(x[i], dx=a, dy=b)) for a in range(-2, 3) for b in range(-2, 3))


def test_random_horizontal_flip_flips_about_half_and_only_whole_images():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2000, 1, 3, 4)
    out = RandomHorizontalFlip(0.5, generator=g)(x)
    assert torch.equal(horizontal_flip(x), x.flip(-1)) and torch.equal(horizontal_flip(x)[..., 0], x[..., -1])
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert (flipped | same).all()
    assert abs(flipped.float().mean().item() - 0.5) < 0.05
    x2, y2 = RandomHorizontalFlip(0.0)(x, torch.zeros(2000, dtype=torch.long))
    assert torch.equal(x2, x)


def test_affine_matches_torchvision():
    # A smooth image, so bilinear interpolation differences are small; compare the interior.
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 33), torch.linspace(-1, 1, 33), indexing="ij")
    img = (torch.sin(3 * xx) * torch.cos(2 * yy) + xx).view(1, 1, 33, 33)
    inner = (slice(None), slice(None), slice(8, 25), slice(8, 25))
    bilinear = TF.InterpolationMode.BILINEAR
    # torchvision's functional affine() measures the angle clockwise; ours, like rotate(), counter-clockwise.
    for angle, t, scale, shear in ((30.0, (2, -1), 1.0, 0.0), (-15.0, (0, 0), 1.2, 0.0), (0.0, (0, 0), 1.0, 10.0), (20.0, (1, 2), 0.9, 5.0)):
        ref = TF.affine(img, angle=-angle, translate=list(t), scale=scale, shear=[shear, 0.0], interpolation=bilinear)
        ours = affine(img, angle, t, scale, shear)
        torch.testing.assert_close(ours[inner], ref[inner], atol=1e-4, rtol=0)
    torch.testing.assert_close(affine(img, 25.0)[inner], TF.rotate(img, 25.0, interpolation=bilinear)[inner], atol=1e-4, rtol=0)


def test_affine_rot90_is_exact_and_counter_clockwise():
    x = torch.rand(2, 3, 6, 6)
    out = affine(x, angle=90.0, mode="nearest")
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(-2, -1)))  # rot90 k=1 is counter-clockwise on screen


def test_random_affine_identity_ranges_and_fill():
    x = torch.rand(4, 2, 8, 8)
    torch.testing.assert_close(RandomAffine()(x), x, atol=1e-5, rtol=0)
    out = affine(x, translate=(8.0, 0.0), fill=[-1.0, 3.0], mode="nearest")
    assert (out[:, 0] == -1).all() and (out[:, 1] == 3).all()
    _, y = RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)(x, torch.arange(4))
    assert y.tolist() == [0, 1, 2, 3]


def test_mixup_mixes_images_and_labels_with_the_same_weight():
    x = torch.rand(5, 1, 4, 4)
    y = torch.tensor([0, 1, 2, 3, 4])
    perm = torch.tensor([4, 3, 2, 1, 0])
    xm, ym = mixup(x, y, 0.3, perm, 5)
    torch.testing.assert_close(xm, 0.3 * x + 0.7 * x[perm])
    expected = 0.3 * torch.eye(5) + 0.7 * torch.eye(5)[perm]
    torch.testing.assert_close(ym, expected)


def test_mixup_transform_soft_labels_and_cross_entropy():
    g = torch.Generator().manual_seed(0)
    m = MixUp(alpha=0.4, num_classes=3, generator=g)
    x, y = torch.rand(8, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    xm, ym = m(x, y)
    torch.testing.assert_close(ym.sum(1), torch.ones(8))
    lam = m.last_lam
    assert 0 <= lam <= 1
    # each soft row puts lam on its own class (plus the partner's share if same class)
    assert (ym[torch.arange(8), y] >= lam - 1e-6).all()
    # soft-label cross-entropy equals lam*CE(a) + (1-lam)*CE(b)
    logits = torch.randn(8, 3)
    ce = torch.nn.functional.cross_entropy(logits, ym)
    assert torch.isfinite(ce)


def test_mixup_lambda_distribution_is_beta():
    from scipy.stats import beta, kstest

    g = torch.Generator().manual_seed(0)
    m = MixUp(alpha=0.4, num_classes=2, generator=g)
    lams = [m._lam() for _ in range(1000)]
    assert kstest(lams, beta(0.4, 0.4).cdf).pvalue > 1e-3


def test_cutmix_label_weight_equals_pixel_fraction():
    x = torch.stack([torch.zeros(1, 10, 10), torch.ones(1, 10, 10)])
    xm, ym = cutmix(x, torch.tensor([0, 1]), (2, 3, 4, 5), torch.tensor([1, 0]), 2)
    assert xm[0].mean().item() == pytest.approx(20 / 100)  # the box of image 1 pasted into image 0
    torch.testing.assert_close(ym, torch.tensor([[0.8, 0.2], [0.2, 0.8]]))
    g = torch.Generator().manual_seed(3)
    cm = CutMix(alpha=1.0, num_classes=2, generator=g)
    for _ in range(20):
        x = torch.stack([torch.zeros(1, 12, 16), torch.ones(1, 12, 16)])
        xm, ym = cm(x, torch.tensor([0, 1]))
        # the share of pixels coming from class 1 equals the label weight of class 1
        for i in range(2):
            torch.testing.assert_close(ym[i, 1], xm[i].mean(), atol=1e-6, rtol=0)


def test_mix_rejects_bad_input():
    with pytest.raises(ValueError, match="lie in"):
        mixup(torch.rand(2, 1, 4, 4), torch.tensor([0, 5]), 0.5, torch.tensor([1, 0]), 3)
    with pytest.raises(ValueError, match="inside"):
        cutmix(torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), (2, 2, 4, 4), torch.tensor([1, 0]), 2)
    with pytest.raises(ValueError, match="alpha"):
        MixUp(alpha=0)
    with pytest.raises(TypeError, match="floating-point tensor"):
        RandomTranslate(1)(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomHorizontalFlip()(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        horizontal_flip(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="max_shift"):
        RandomTranslate(-1)
    with pytest.raises(ValueError, match="probability"):
        RandomHorizontalFlip(1.5)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: RandomTranslate(1.5), TypeError),            # not an int
        (lambda: RandomTranslate(2, axis="z"), ValueError),
        (lambda: RandomHorizontalFlip("half"), TypeError),
        (lambda: RandomAffine(degrees=(10, -10)), ValueError),
        (lambda: RandomAffine(degrees="10"), TypeError),
        (lambda: RandomAffine(translate=(0.1, 2.0)), ValueError),
        (lambda: MixUp(alpha="0.2"), TypeError),
        (lambda: MixUp(num_classes=2.0), TypeError),
        (lambda: MixUp(num_classes=1), ValueError),
        (lambda: PerSampleShift(True), TypeError),
        (lambda: Compose(RandomTranslate(1)), TypeError),     # one transform, not a list
        (lambda: affine(torch.rand(2, 1, 4, 4), mode="cubic"), ValueError),
        (lambda: mixup(torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), 1.5, torch.tensor([1, 0]), 2), ValueError),
        (lambda: PILAugmentedDataset([1, 2, 3]), TypeError),
    ],
)
def test_bad_arguments_raise_typeerror_for_the_type_and_valueerror_for_the_value(call, error):
    with pytest.raises(error):
        call()


def test_random_transforms_take_a_batch_or_a_batch_and_labels_with_the_same_draws():
    x, y = torch.rand(16, 3, 8, 8), torch.arange(16)
    for make in (lambda g: RandomTranslate(3, axis="both", fill=-1.0, generator=g),
                 lambda g: RandomHorizontalFlip(generator=g),
                 lambda g: RandomAffine(degrees=20, translate=(0.1, 0.2), scale=(0.8, 1.2), shear=10, generator=g),
                 lambda g: Compose([RandomTranslate(1, generator=g), RandomHorizontalFlip(generator=g)])):
        alone = make(torch.Generator().manual_seed(7))(x)
        paired, labels = make(torch.Generator().manual_seed(7))(x, y)
        assert torch.equal(alone, paired) and torch.equal(labels, y)
        assert not torch.equal(alone, x)  # it did something


def test_random_translate_applies_lessonkit_translate_with_its_draws():
    # The class's functional is lessonkit.translate: replay the draws, compare bitwise.
    x = torch.rand(10, 2, 6, 7)
    out = RandomTranslate(2, axis="both", fill=0.5, generator=torch.Generator().manual_seed(3))(x)
    g = torch.Generator().manual_seed(3)
    dx, dy = torch.randint(-2, 3, (10,), generator=g), torch.randint(-2, 3, (10,), generator=g)
    assert torch.equal(out, lk.translate(x, dx, dy, fill=0.5))


def _tiny_dataset(n=12):
    images = torch.randint(0, 256, (n, 1, 6, 6), dtype=torch.uint8)
    return lk.TensorImageDataset(images, torch.arange(n) % 3, ["a", "b", "c"], (0.4,), (0.2,))


def test_as_tensors_and_device_loader_match_the_dataset_items():
    ds = _tiny_dataset()
    x, y = as_tensors(ds)
    for i in (0, 5, 11):
        torch.testing.assert_close(x[i], ds[i][0])
        assert int(y[i]) == ds[i][1]
    sub = lk.subset(ds, 6)
    xs, ys = as_tensors(sub)
    torch.testing.assert_close(xs[2], sub[2][0])
    nested = lk.subset(lk.train_val_split(ds, 3)[0], 4)  # a Subset of a Subset
    xn, yn = as_tensors(nested)
    for i in range(4):
        torch.testing.assert_close(xn[i], nested[i][0])
        assert int(yn[i]) == nested[i][1]
    loader = DeviceLoader(ds, batch_size=5, shuffle=True, seed=0)
    seen = torch.cat([yb for _, yb in loader])
    assert len(loader) == 3 and sorted(seen.tolist()) == sorted(y.tolist())


def test_pil_dataset_without_transform_equals_tensor_dataset():
    ds = _tiny_dataset()
    pil = PILAugmentedDataset(ds)
    for i in (0, 7):
        torch.testing.assert_close(pil[i][0], ds[i][0])
        assert pil[i][1] == ds[i][1]


def test_pil_dataset_accepts_a_subset_of_a_subset_like_as_tensors():
    ds = _tiny_dataset()
    nested = lk.subset(lk.train_val_split(ds, 3)[0], 5)  # a Subset of a Subset
    pil = PILAugmentedDataset(nested)
    assert len(pil) == len(nested) == 5
    x, y = as_tensors(nested)
    for i in range(5):
        torch.testing.assert_close(pil[i][0], nested[i][0])  # the subset's own item ...
        torch.testing.assert_close(pil[i][0], x[i])          # ... and as_tensors' row
        assert pil[i][1] == nested[i][1] == int(y[i])
    assert pil.targets.tolist() == y.tolist()


def test_compose_and_fit_accept_batch_transforms():
    torch.manual_seed(0)
    x = torch.randn(32, 1, 8, 8)
    y = torch.randint(0, 3, (32,))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    loader = DeviceLoader((x, y), batch_size=8, shuffle=True)
    h = lk.fit(model, loader, epochs=1, batch_transform=Compose([RandomTranslate(1), RandomHorizontalFlip(), MixUp(num_classes=3)]))
    assert h.epochs == 1 and np.isfinite(h.train_loss[0])


# --------------------------------------------------------------------------
# Colour jitter (lesson 11): per image, against torchvision's functionals
# --------------------------------------------------------------------------


def _torchvision_colour(img, b, c, s):
    """One image (C, H, W) in [0, 1], torchvision's three functionals in ColorJitter's order b, c, s."""
    img = TF.adjust_brightness(img, b)
    img = TF.adjust_contrast(img, c)
    return TF.adjust_saturation(img, s)


def test_adjust_colour_equals_torchvision_per_image_with_each_images_factors():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 7, 9, generator=g)
    b, c, s = (torch.rand(6, generator=g, dtype=torch.float64) * 1.6 for _ in range(3))  # includes factors > 1: clamping
    out = lk.adjust_colour(x, b, c, s)
    expected = torch.stack([_torchvision_colour(x[i], b[i].item(), c[i].item(), s[i].item()) for i in range(6)])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    # one image through the functional alone gives the same as inside the batch: nothing is shared between images
    torch.testing.assert_close(lk.adjust_colour(x[2:3], b[2].item(), c[2].item(), s[2].item()), out[2:3], atol=1e-6, rtol=0)


def test_adjust_colour_on_a_grey_batch_and_in_the_normalised_range():
    g = torch.Generator().manual_seed(1)
    grey = torch.rand(3, 1, 5, 5, generator=g)
    out = lk.adjust_colour(grey, 0.8, 1.5, 0.0)  # saturation leaves one channel alone, as torchvision's
    expected = torch.stack([TF.adjust_contrast(TF.adjust_brightness(im, 0.8), 1.5) for im in grey])
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    x = torch.rand(4, 3, 6, 6, generator=g)
    # in [-1, 1] (mean = std = 0.5) it is the [0, 1] result, normalised
    torch.testing.assert_close(lk.adjust_colour(x * 2 - 1, 1.3, 0.7, 1.4, value_range=(-1, 1)),
                               lk.adjust_colour(x, 1.3, 0.7, 1.4) * 2 - 1, atol=1e-6, rtol=0)
    # hand-worked extremes: brightness 0 is black, contrast 0 the mean grey, saturation 0 the grey image
    assert lk.adjust_colour(x, brightness=0.0).abs().max() == 0
    weights = torch.tensor([0.2989, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close(lk.adjust_colour(x, contrast=0.0), (x * weights).sum(1, keepdim=True).mean((2, 3), keepdim=True).expand_as(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(lk.adjust_colour(x, saturation=0.0), (x * weights).sum(1, keepdim=True).expand_as(x), atol=1e-6, rtol=0)
    assert torch.equal(lk.adjust_colour(x, 1.0, 1.0, 1.0), x) or torch.allclose(lk.adjust_colour(x, 1.0, 1.0, 1.0), x, atol=1e-7)


def test_color_jitter_draws_factors_per_image_uniformly_in_its_ranges_and_applies_them():
    jitter = lk.ColorJitter(brightness=0.3, contrast=(0.5, 1.5), saturation=0.2, generator=torch.Generator().manual_seed(4))
    x = torch.rand(1, 3, 6, 6).expand(64, 3, 6, 6)
    out = jitter(x)
    # the same draws, in the same order, by hand: brightness, contrast, saturation, each uniform per image
    g = torch.Generator().manual_seed(4)
    b, c, s = ((torch.rand(64, generator=g, dtype=torch.float64) * (hi - lo) + lo) for lo, hi in ((0.7, 1.3), (0.5, 1.5), (0.8, 1.2)))
    expected = torch.stack([_torchvision_colour(x[i], b[i].item(), c[i].item(), s[i].item()) for i in range(64)])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert len({round(v, 5) for v in out.mean(dim=(1, 2, 3)).tolist()}) == 64  # every copy got its own factors
    # torchvision's transform on the batch tensor: one draw for all
    same = __import__("torchvision").transforms.v2.ColorJitter(brightness=0.3)(x)
    assert len({round(v, 5) for v in same.mean(dim=(1, 2, 3)).tolist()}) == 1


def test_color_jitter_factor_ranges_follow_torchvision_and_zero_draws_nothing():
    assert lk.ColorJitter(brightness=1.5).ranges["brightness"] == (0.0, 2.5)  # max(0, 1 - v)
    assert lk.ColorJitter(contrast=(0.2, 0.4)).ranges["contrast"] == (0.2, 0.4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(5, 3, 4, 4), torch.arange(5)
    state = g.get_state()
    out, labels = lk.ColorJitter(generator=g)(x, y)
    assert torch.equal(out, x) and torch.equal(labels, y) and torch.equal(g.get_state(), state)
    # a brightness-only jitter keeps every image's hue: channel ratios unchanged where nothing clamps
    dim = torch.rand(5, 3, 4, 4) * 0.5
    out = lk.ColorJitter(brightness=0.5, generator=g)(dim)
    ratio = out / dim
    torch.testing.assert_close(ratio, ratio[:, :1, :1, :1].expand_as(ratio), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: lk.ColorJitter(brightness="0.2"), TypeError),
        (lambda: lk.ColorJitter(brightness=-0.1), ValueError),
        (lambda: lk.ColorJitter(contrast=(1.5, 0.5)), ValueError),
        (lambda: lk.ColorJitter(saturation=(-0.5, 1.0)), ValueError),
        (lambda: lk.ColorJitter(value_range=(1, -1)), ValueError),
        (lambda: lk.ColorJitter(value_range=1.0), TypeError),
        (lambda: lk.ColorJitter(0.2)(torch.rand(3, 8, 8)), ValueError),                      # not a batch
        (lambda: lk.ColorJitter(0.2)(torch.zeros(2, 3, 4, 4, dtype=torch.uint8)), TypeError),  # not float
        (lambda: lk.adjust_colour(torch.rand(2, 4, 4, 4), 1.2), ValueError),                 # 4 channels
        (lambda: lk.adjust_colour(torch.rand(2, 3, 4, 4), -1.0), ValueError),
        (lambda: lk.adjust_colour(torch.rand(2, 3, 4, 4), [1.0, 1.1, 1.2]), ValueError),     # 3 factors, 2 images
        (lambda: lk.adjust_colour(torch.rand(2, 3, 4, 4), "bright"), TypeError),
    ],
)
def test_colour_jitter_rejects_bad_arguments(call, error):
    with pytest.raises(error):
        call()


def test_color_jitter_on_the_device_gives_the_cpu_result():
    from test_devices import META, StandIn, to_cpu  # the shadow device: a stand-in for a GPU (see test_devices)

    x = torch.rand(8, 3, 5, 5)
    expected = lk.ColorJitter(0.2, 0.2, 0.2, value_range=(0, 1), generator=torch.Generator().manual_seed(2))(x)
    with StandIn():
        got = lk.ColorJitter(0.2, 0.2, 0.2, generator=torch.Generator().manual_seed(2))(x.to(META))
        assert got.device == META
        got = to_cpu(got)
    torch.testing.assert_close(got, expected)
    # PyTorch's own meta device: no value is read, every factor is moved to the batch's device
    out = lk.ColorJitter(0.2, 0.2, 0.2, value_range=(-1, 1))(torch.empty(4, 3, 6, 6, device="meta"))
    assert out.device == META and out.shape == (4, 3, 6, 6)
