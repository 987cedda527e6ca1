"""From-scratch BatchNorm2d and Dropout against torch.nn."""

import pytest
import torch
from torch import nn

from lessonkit.layers import BatchNorm2d, Dropout


def _pair(c=3, momentum=0.1):
    ours, ref = BatchNorm2d(c, momentum=momentum), nn.BatchNorm2d(c, momentum=momentum)
    with torch.no_grad():
        w, b = torch.randn(c), torch.randn(c)
        ours.weight.copy_(w), ours.bias.copy_(b), ref.weight.copy_(w), ref.bias.copy_(b)
    return ours, ref


def test_batchnorm_train_mode_matches_torch_output_grads_and_running_stats():
    torch.manual_seed(0)
    ours, ref = _pair()
    for _ in range(3):  # several steps: the running statistics accumulate
        x = torch.randn(6, 3, 5, 4) * 3 + 1.5
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        y1, y2 = ours(x1), ref(x2)
        torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
        g = torch.randn_like(y1)
        y1.backward(g), y2.backward(g)
        torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(ours.running_mean, ref.running_mean)
        torch.testing.assert_close(ours.running_var, ref.running_var)


def test_batchnorm_eval_mode_uses_running_stats_like_torch():
    torch.manual_seed(1)
    ours, ref = _pair(4, momentum=0.3)
    for _ in range(5):
        x = torch.randn(8, 4, 3, 3) * 2 - 1
        ours(x), ref(x)
    ours.eval(), ref.eval()
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    # eval output does not depend on the rest of the batch
    torch.testing.assert_close(ours(x[:1]), ours(x)[:1])


def test_batchnorm_hand_worked_example():
    # One channel, values 1, 2, 3, 4 -> mean 2.5, biased var 1.25
    bn = BatchNorm2d(1, eps=0.0 + 1e-12)
    y = bn(torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1, 1)).flatten()
    expected = (torch.tensor([1.0, 2.0, 3.0, 4.0]) - 2.5) / 1.25 ** 0.5
    torch.testing.assert_close(y, expected)
    # running var uses the unbiased variance 5/3
    torch.testing.assert_close(bn.running_var, torch.tensor([0.9 + 0.1 * 5 / 3]))


@pytest.mark.parametrize("bad", [torch.zeros(2, 3, 4), torch.zeros(2, 2, 4, 4)])
def test_batchnorm_rejects_wrong_shape(bad):
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, H, W\), got shape"):
        BatchNorm2d(3)(bad)


def test_batchnorm_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_features must be an int >= 1, got 0"):
        BatchNorm2d(0)
    with pytest.raises(TypeError, match="num_features must be an int, got float"):
        BatchNorm2d(3.0)
    with pytest.raises(ValueError, match="momentum must be a probability"):
        BatchNorm2d(3, momentum=2.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        BatchNorm2d(3, eps=0.0)
    with pytest.raises(TypeError, match="floating-point"):
        BatchNorm2d(3)(torch.zeros(2, 3, 4, 4, dtype=torch.long))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_matches_torch_in_distribution(p):
    torch.manual_seed(0)
    x = torch.rand(200_000) + 0.5
    ours, ref = Dropout(p)(x), nn.Dropout(p)(x)
    # Same support: zero, or the input scaled by 1 / (1 - p)
    for y in (ours, ref):
        kept = y != 0
        torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    # Same drop rate (binomial sd is ~0.001) and the expectation is preserved
    assert abs((ours == 0).float().mean().item() - p) < 0.01
    assert abs((ours == 0).float().mean().item() - (ref == 0).float().mean().item()) < 0.01
    assert abs(ours.mean().item() - x.mean().item()) < 0.02
    assert abs(ours.mean().item() - ref.mean().item()) < 0.02


def test_dropout_eval_is_identity_and_p0_is_identity():
    x = torch.randn(10, 5)
    torch.testing.assert_close(Dropout(0.5).eval()(x), x)
    torch.testing.assert_close(Dropout(0.0)(x), x)


def test_dropout_gradient_flows_only_through_kept_units():
    torch.manual_seed(3)
    x = torch.ones(1000, requires_grad=True)
    y = Dropout(0.5)(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y.detach() != 0).float() * 2.0)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\)"):
        Dropout(p)


def test_dropout_rejects_a_non_number():
    with pytest.raises(TypeError, match="p must be a real number, got str"):
        Dropout("0.5")
