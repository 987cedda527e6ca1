"""Tests for lessonkit.alexnet_augment: AlexNet's random crops and PCA colour lighting, against numpy and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lessonkit as lk
from lessonkit.alexnet_augment import RandomCrop, RandomPCALighting, crop, pca_lighting, rgb_covariance, rgb_pca


def _images(seed: int = 0) -> list[torch.Tensor]:
    """Images of different sizes whose colours are correlated, as in photographs."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for h, w in ((5, 7), (8, 3), (6, 6)):
        grey = torch.rand(1, h, w, generator=g)
        out.append((grey * torch.tensor([0.9, 0.7, 0.4]).view(3, 1, 1) + 0.1 * torch.rand(3, h, w, generator=g)).double())
    return out


def test_rgb_covariance_is_numpys_cov_of_all_pixels():
    images = _images()
    pixels = np.concatenate([im.numpy().reshape(3, -1) for im in images], axis=1)   # (3, all pixels)
    expected = np.cov(pixels)                                                       # independent: numpy, rows = variables
    # a list of images of different sizes, a single batch, and (image, label) pairs all give the same answer
    np.testing.assert_allclose(rgb_covariance(images).numpy(), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rgb_covariance([(im, 0) for im in images]).numpy(), expected, rtol=1e-12, atol=1e-15)
    # a map-style dataset (read by index, no __iter__) and an iterable-style one (iterated) give numpy's answer too
    dataset = torch.utils.data.Subset(torch.utils.data.TensorDataset(torch.stack([im[:, :5, :3] for im in images]), torch.arange(3)), [2, 0])
    np.testing.assert_allclose(rgb_covariance(dataset).numpy(), np.cov(np.concatenate([images[i][:, :5, :3].numpy().reshape(3, -1) for i in (2, 0)], axis=1)), rtol=1e-12)

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return ((im, 0) for im in images)

    np.testing.assert_allclose(rgb_covariance(Stream()).numpy(), expected, rtol=1e-12, atol=1e-15)
    batch = torch.stack([im[:, :5, :3] for im in images])
    np.testing.assert_allclose(rgb_covariance(batch).numpy(), np.cov(batch.numpy().transpose(1, 0, 2, 3).reshape(3, -1)), rtol=1e-12)


def test_rgb_pca_against_numpy_eigh_on_an_independent_covariance():
    images = _images(1)
    cov = np.cov(np.concatenate([im.numpy().reshape(3, -1) for im in images], axis=1))
    values, vectors = rgb_pca(rgb_covariance(images))
    ref_values, ref_vectors = np.linalg.eigh(cov)                  # ascending
    np.testing.assert_allclose(values.numpy(), ref_values[::-1], rtol=1e-10)
    assert values[0] > values[1] > values[2] > 0
    for i in range(3):  # each eigenvector up to its sign, and C p = λ p
        ref = ref_vectors[:, 2 - i]
        np.testing.assert_allclose(np.abs(vectors[:, i].numpy() @ ref), 1.0, rtol=1e-10)
        np.testing.assert_allclose(cov @ vectors[:, i].numpy(), values[i].item() * vectors[:, i].numpy(), atol=1e-12)
    np.testing.assert_allclose(vectors.T @ vectors, torch.eye(3, dtype=torch.float64), atol=1e-12)


def test_pca_lighting_adds_the_hand_formula_to_every_pixel():
    values, vectors = rgb_pca(rgb_covariance(_images()))
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    alpha = torch.tensor([[0.1, -0.2, 0.05], [-0.03, 0.0, 0.3]], dtype=torch.float64)
    out = pca_lighting(x, alpha, values, vectors)
    for n in range(2):
        # Krizhevsky et al. 2012, section 4.1: [p1, p2, p3] [a1 l1, a2 l2, a3 l3]^T, written out term by term
        shift = sum(alpha[n, i].item() * values[i].item() * vectors[:, i].numpy() for i in range(3))
        np.testing.assert_allclose((out[n] - x[n]).numpy(), np.broadcast_to(shift[:, None, None], (3, 4, 5)), rtol=1e-12, atol=1e-15)
    # one alpha for the whole batch broadcasts; float32 batches stay float32
    same = pca_lighting(x.float(), alpha[0].float(), values, vectors)
    assert same.dtype == torch.float32
    torch.testing.assert_close(same - x.float(), (out[0] - x[0]).float().expand(2, 3, 4, 5), rtol=1e-5, atol=1e-7)


def test_random_pca_lighting_draws_one_alpha_per_image_with_the_papers_std():
    values, vectors = torch.tensor([0.3, 0.1, 0.02]), torch.eye(3)
    g = torch.Generator().manual_seed(0)
    lighting = RandomPCALighting(values, vectors, std=0.1, generator=g)
    x = torch.zeros(4000, 3, 2, 2)
    out = lighting(x)
    assert (out == out[:, :, :1, :1]).all()                      # one shift per image, the same at every pixel
    alpha = out[:, :, 0, 0] / values                                # with identity eigenvectors, shift_i = alpha_i * lambda_i
    assert abs(alpha.std(dim=0) - 0.1).max() < 0.01 and abs(alpha.mean(dim=0)).max() < 0.01
    # the same generator state gives the same draws, which pca_lighting reproduces
    g.manual_seed(1)
    first = lighting(torch.zeros(3, 3, 2, 2))
    g.manual_seed(1)
    torch.testing.assert_close(first, pca_lighting(torch.zeros(3, 3, 2, 2), lighting.draw(3), values, vectors))
    y = torch.arange(3)
    assert lighting(torch.zeros(3, 3, 2, 2), y)[1] is y
    assert torch.equal(RandomPCALighting(values, vectors, std=0.0)(x[:2] + 0.5), x[:2] + 0.5)


def test_pca_lighting_runs_on_the_batchs_device():
    # meta stands in for a GPU: PyTorch refuses to mix it with the CPU eigenvectors unless they are moved
    values, vectors = torch.tensor([0.3, 0.1, 0.02]), torch.eye(3)
    x = torch.empty(4, 3, 8, 8, device="meta")
    out = RandomPCALighting(values, vectors, generator=torch.Generator().manual_seed(0))(x)
    assert out.device.type == "meta" and out.shape == x.shape
    patches = RandomCrop(5, generator=torch.Generator().manual_seed(0))(x)
    assert patches.device.type == "meta" and patches.shape == (4, 3, 5, 5)


def test_crop_and_random_crop_cut_the_drawn_patches():
    x = torch.arange(2 * 3 * 6 * 7, dtype=torch.float32).view(2, 3, 6, 7)
    top, left = torch.tensor([0, 2]), torch.tensor([3, 1])
    out = crop(x, top, left, 4)
    for n in range(2):
        assert torch.equal(out[n], x[n, :, top[n]:top[n] + 4, left[n]:left[n] + 4])
    t = RandomCrop(4, generator=torch.Generator().manual_seed(0))
    positions = t.positions(500, 6, 7)
    assert set(positions[0].tolist()) == {0, 1, 2} and set(positions[1].tolist()) == {0, 1, 2, 3}   # every corner, no other
    g = torch.Generator().manual_seed(3)
    drawn = RandomCrop(4, generator=g).positions(2, 6, 7)
    g.manual_seed(3)
    assert torch.equal(RandomCrop(4, generator=g)(x), crop(x, *drawn, 4))
    assert torch.equal(crop(x, 0, 0, 6), x[..., :6])
    uint8 = RandomCrop(3)(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))   # images as bytes too
    assert uint8.dtype == torch.uint8 and uint8.shape == (2, 3, 3, 3)


def test_alexnets_pipeline_composes_with_lessonkit_transforms():
    values, vectors = rgb_pca(rgb_covariance(_images()))
    pipeline = lk.Compose([RandomCrop(224), lk.RandomHorizontalFlip(), RandomPCALighting(values.float(), vectors.float())])
    x, y = pipeline(torch.rand(2, 3, 256, 256), torch.tensor([3, 5]))
    assert x.shape == (2, 3, 224, 224) and y.tolist() == [3, 5]


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: rgb_covariance(torch.zeros(2, 1, 4, 4)), ValueError, "3 colour channels"),
        (lambda: rgb_covariance(torch.zeros(3, 1, 1)), ValueError, "at least 2 pixels"),
        (lambda: rgb_covariance(torch.zeros(1, 3, 2, 2, dtype=torch.uint8)), TypeError, "floating-point"),
        (lambda: rgb_covariance(["a"]), TypeError, "got an item of type str"),
        (lambda: rgb_covariance(3), TypeError, "a dataset or an iterable of tensors, got int"),
        (lambda: rgb_covariance({0: torch.zeros(3, 2, 2)}), TypeError, "got an item of type int"),
        (lambda: rgb_pca(torch.zeros(2, 2)), ValueError, r"shape \(3, 3\)"),
        (lambda: rgb_pca(torch.tensor([[1.0, 2, 0], [0, 1, 0], [0, 0, 1]])), ValueError, "symmetric"),
        (lambda: pca_lighting(torch.zeros(2, 3, 2, 2), torch.zeros(3, 3), torch.ones(3), torch.eye(3)), ValueError, r"alpha must have shape \(2, 3\)"),
        (lambda: pca_lighting(torch.zeros(2, 1, 2, 2), torch.zeros(3), torch.ones(3), torch.eye(3)), ValueError, r"x must have shape \(N, 3, H, W\)"),
        (lambda: RandomPCALighting(torch.tensor([1.0, -1.0, 0.0]), torch.eye(3)), ValueError, "cannot be negative"),
        (lambda: RandomPCALighting(torch.ones(3), torch.eye(3), std=-0.1), ValueError, "std must be >= 0"),
        (lambda: RandomPCALighting(torch.ones(3), torch.eye(3), generator=0), TypeError, "generator must be a Generator"),
        (lambda: crop(torch.zeros(1, 3, 4, 4), 1, 1, 4), ValueError, r"top must be in \[0, 0\]"),
        (lambda: crop(torch.zeros(1, 3, 4, 4), 0, 0, 5), ValueError, "at most the image's height and width"),
        (lambda: crop(torch.zeros(2, 3, 4, 4), torch.zeros(3, dtype=torch.long), 0, 2), ValueError, "one int or 2"),
        (lambda: crop(torch.zeros(1, 3, 4, 4), 0.5, 0, 2), TypeError, "top must be an int"),
        (lambda: RandomCrop(224)(torch.zeros(1, 3, 200, 256)), ValueError, "at least 224x224, got 200x256"),
        (lambda: RandomCrop(0), ValueError, "size must be an int >= 1"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
