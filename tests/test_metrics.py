"""Confusion matrix and top-k error against scikit-learn and hand-worked examples."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import recall_score, top_k_accuracy_score

from lessonkit.metrics import confusion_matrix, per_class_accuracy, topk_error


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 500)
    p = np.where(rng.random(500) < 0.6, y, rng.integers(0, 7, 500))
    ours = confusion_matrix(torch.from_numpy(p), torch.from_numpy(y), 7)
    np.testing.assert_array_equal(ours.numpy(), sk_confusion_matrix(y, p, labels=range(7)))
    np.testing.assert_allclose(per_class_accuracy(ours).numpy(), recall_score(y, p, average=None, labels=range(7)))


def test_confusion_matrix_from_logits_uses_argmax():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.1, 3.0], [0.0, 5.0, 1.0]])
    cm = confusion_matrix(logits, torch.tensor([0, 1, 1]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    assert torch.isnan(per_class_accuracy(cm)[2])


def test_topk_error_matches_sklearn():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(300, 10))
    y = rng.integers(0, 10, 300)
    errs = topk_error(torch.from_numpy(logits), torch.from_numpy(y), k=(1, 5))
    for e, k in zip(errs, (1, 5)):
        assert e == pytest.approx(1 - top_k_accuracy_score(y, logits, k=k, labels=range(10)))


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="lie in"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="same N"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 3)
    with pytest.raises(TypeError, match="integer"):
        confusion_matrix(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="columns"):
        confusion_matrix(torch.zeros(2, 4), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="square"):
        per_class_accuracy(torch.zeros(2, 3))


def test_topk_error_is_one_minus_topk_accuracy_and_shares_its_checks():
    import lessonkit as lk

    g = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(50, 6, generator=g), torch.randint(0, 6, (50,), generator=g)
    for k in (1, 3, 6):
        assert topk_error(logits, targets, (k,))[0] == 1.0 - lk.topk_accuracy(logits, targets, (k,))[0]
        # an independent oracle: scikit-learn
        assert topk_error(logits, targets, (k,))[0] == pytest.approx(1 - top_k_accuracy_score(targets, logits, k=k, labels=range(6)))
    with pytest.raises(ValueError, match="k must be an int <= 6, got 7"):
        topk_error(logits, targets, (7,))
    with pytest.raises(TypeError, match="k must be an int, got float"):
        topk_error(logits, targets, (1.0,))
    with pytest.raises(TypeError, match="k must be a sequence"):
        topk_error(logits, targets, 5)
