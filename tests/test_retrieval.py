"""Tests for lessonkit.retrieval against brute force, scipy, scikit-learn and hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from torch import nn
from torch.utils.data import TensorDataset

import lessonkit as lk
from stand_ins import OnAnotherDevice


def brute_force_topk(queries: np.ndarray, refs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity with scipy, sorted with NumPy: an independent reference."""
    sims = 1.0 - cdist(queries.astype(np.float64), refs.astype(np.float64), metric="cosine")
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), order


def test_search_matches_scipy_brute_force():
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(300, 24)).astype(np.float32)
    queries = rng.normal(size=(41, 24)).astype(np.float32)
    index = lk.SearchIndex(refs)
    for block in (1024, 7):  # one block, and many partial blocks
        scores, idx = index.search(queries, k=9, block=block)
        ref_scores, ref_idx = brute_force_topk(queries, refs, 9)
        np.testing.assert_array_equal(idx.numpy(), ref_idx)
        np.testing.assert_allclose(scores.numpy(), ref_scores, atol=1e-5)
    # Scale does not matter to cosine similarity.
    np.testing.assert_array_equal(index.search(queries * 5.0, k=3)[1].numpy(), ref_idx[:, :3])
    # A single query vector of shape (D,) works too.
    assert index.search(torch.from_numpy(queries[0]), k=2)[1].shape == (1, 2)


def test_hand_worked_search():
    index = lk.SearchIndex(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), labels=[0, 1, 1])
    scores, idx = index.search(torch.tensor([[0.0, 3.0]]), k=3)
    assert idx.tolist() == [[1, 2, 0]]
    torch.testing.assert_close(scores, torch.tensor([[1.0, 2**-0.5, 0.0]]))
    assert index.search_labels(torch.tensor([[0.0, 3.0]]), k=2).tolist() == [[1, 1]]


def test_search_validates_its_inputs():
    with pytest.raises(ValueError, match="reference set is empty"):
        lk.SearchIndex(torch.empty(0, 8))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        lk.SearchIndex(torch.zeros(8))
    with pytest.raises(TypeError, match="floating-point"):
        lk.SearchIndex(torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        lk.SearchIndex(torch.randn(3, 4), labels=[0, 1])
    index = lk.SearchIndex(torch.randn(3, 4))
    with pytest.raises(ValueError, match="number of reference vectors \\(3\\), got 4"):
        index.search(torch.randn(1, 4), k=4)
    with pytest.raises(ValueError, match="k must be between 1 and the number of reference vectors \\(3\\), got 0"):
        index.search(torch.randn(1, 4), k=0)
    with pytest.raises(TypeError, match="k must be an int, got float"):
        index.search(torch.randn(1, 4), k=2.0)
    with pytest.raises(TypeError, match="block must be an int"):
        index.search(torch.randn(1, 4), k=1, block="8")
    with pytest.raises(ValueError, match="queries have 5 dimensions but the reference features have 4"):
        index.search(torch.randn(2, 5), k=1)
    with pytest.raises(ValueError, match="without labels"):
        index.search_labels(torch.randn(2, 4), k=1)


def test_l2_normalize():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    torch.testing.assert_close(lk.l2_normalize(x), torch.tensor([[0.6, 0.8], [0.0, 0.0]]))
    y = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(lk.l2_normalize(y), nn.functional.normalize(y, dim=1))
    torch.testing.assert_close(lk.l2_normalize(y.numpy()).norm(dim=1), torch.ones(5))


# Hand-worked example used by the metric tests. Three queries; labels of the top 4 results:
#   query 0 (label 0): 0 1 0 0   -> P@1 = 1, P@2 = 1/2, P@4 = 3/4
#   query 1 (label 1): 0 0 1 1   -> P@1 = 0, P@2 = 0,   P@4 = 1/2
#   query 2 (label 2): 2 1 1 2   -> P@1 = 1, P@2 = 1/2, P@4 = 1/2
# Reference set holds 4 zeros, 3 ones and 2 twos.
RETRIEVED = [[0, 1, 0, 0], [0, 0, 1, 1], [2, 1, 1, 2]]
QUERIES = [0, 1, 2]
REFERENCE = [0, 0, 0, 0, 1, 1, 1, 2, 2]


def test_precision_at_k_hand_worked():
    assert lk.precision_at_k(RETRIEVED, QUERIES, 1) == pytest.approx(2 / 3)
    assert lk.precision_at_k(RETRIEVED, QUERIES, 2) == pytest.approx((1 / 2 + 0 + 1 / 2) / 3)
    assert lk.precision_at_k(RETRIEVED, QUERIES, 4) == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)


def test_recall_at_k_hand_worked():
    # query 0: 3 of its 4 relevant in the top 4; query 1: 2 of 3; query 2: 2 of 2.
    assert lk.recall_at_k(RETRIEVED, QUERIES, REFERENCE, 4) == pytest.approx((3 / 4 + 2 / 3 + 2 / 2) / 3)
    assert lk.recall_at_k(RETRIEVED, QUERIES, REFERENCE, 1) == pytest.approx((1 / 4 + 0 + 1 / 2) / 3)
    with pytest.raises(ValueError, match="never occur"):
        lk.recall_at_k(RETRIEVED, [0, 1, 5], REFERENCE, 2)


def test_knn_vote_hand_worked_and_tie_break():
    # k=4 votes: query 0 -> 0 (three 0s); query 1 -> tie 0/1, 0 ranked first -> 0; query 2 -> tie 2/1, 2 first -> 2.
    assert lk.knn_predict(RETRIEVED, 4).tolist() == [0, 0, 2]
    assert lk.knn_accuracy(RETRIEVED, QUERIES, 4) == pytest.approx(2 / 3)
    # k=3: query 1 -> 0 (0, 0, 1); query 2 -> 1 (2, 1, 1).
    assert lk.knn_predict(RETRIEVED, 3).tolist() == [0, 0, 1]
    # k=1 is the nearest neighbour's label.
    assert lk.knn_predict(RETRIEVED, 1).tolist() == [0, 0, 2]


def test_knn_accuracy_matches_scikit_learn():
    KNeighborsClassifier = pytest.importorskip("sklearn.neighbors").KNeighborsClassifier
    rng = np.random.default_rng(1)
    refs = rng.normal(size=(200, 6)).astype(np.float32)
    ref_labels = (refs[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(np.int64)  # 2 classes
    queries = rng.normal(size=(80, 6)).astype(np.float32)
    query_labels = (queries[:, 0] > 0).astype(np.int64)
    index = lk.SearchIndex(refs, ref_labels)
    for k in (1, 5, 9):  # odd k: no ties with two classes, so any tie rule agrees
        knn = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(refs, ref_labels)
        expected = (knn.predict(queries) == query_labels).mean()
        retrieved = index.search_labels(queries, k)
        assert lk.knn_accuracy(retrieved, query_labels, k) == pytest.approx(expected)
    metrics = lk.retrieval_metrics(index, queries, query_labels, ks=(1, 5))
    assert set(metrics) == {"P@1", "R@1", "kNN@1", "P@5", "R@5", "kNN@5"}
    assert metrics["P@1"] == pytest.approx(metrics["kNN@1"])  # with k = 1 both are "is the nearest one right"


def test_retrieval_metrics_validates_its_arguments():
    index = lk.SearchIndex(torch.randn(4, 3), labels=[0, 1, 0, 1])
    queries = torch.randn(2, 3)
    with pytest.raises(TypeError, match="index must be a SearchIndex"):
        lk.retrieval_metrics(torch.randn(4, 3), queries, [0, 1])
    with pytest.raises(TypeError, match="ks must be a sequence"):
        lk.retrieval_metrics(index, queries, [0, 1], ks=5)
    with pytest.raises(ValueError, match="at least one k"):
        lk.retrieval_metrics(index, queries, [0, 1], ks=())
    with pytest.raises(ValueError, match=r"ks\[1\] must be an int <= 4, got 5"):
        lk.retrieval_metrics(index, queries, [0, 1], ks=(1, 5))
    with pytest.raises(ValueError, match="without labels|with labels"):
        lk.retrieval_metrics(lk.SearchIndex(torch.randn(4, 3)), queries, [0, 1])


def test_metric_validation():
    with pytest.raises(ValueError, match="between 1 and the number of retrieved columns \\(4\\), got 5"):
        lk.precision_at_k(RETRIEVED, QUERIES, 5)
    with pytest.raises(ValueError, match=r"query_labels must have shape \(3,\)"):
        lk.precision_at_k(RETRIEVED, [0, 1], 2)
    with pytest.raises(TypeError, match="integer"):
        lk.knn_accuracy(RETRIEVED, [0.0, 1.0, 2.0], 2)
    with pytest.raises(ValueError, match="shape \\(Q, K\\)"):
        lk.precision_at_k([0, 1, 2], QUERIES, 1)


class _Probe(nn.Module):
    """A conv layer that records the grad mode it ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3)
        self.bn = nn.BatchNorm2d(5)
        self.modes: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.modes.append((torch.is_inference_mode_enabled(), self.training))
        return self.bn(self.conv(x))


def test_extract_features_pools_normalises_and_batches():
    torch.manual_seed(0)
    model = _Probe()
    model.train()
    images = torch.randn(10, 3, 12, 12)
    labels = torch.arange(10) % 3
    feats, got_labels = lk.extract_features(model, TensorDataset(images, labels), batch_size=4)
    model.eval()
    with torch.no_grad():
        expected = nn.functional.normalize(model(images).mean(dim=(2, 3)), dim=1)
    torch.testing.assert_close(feats, expected)
    assert got_labels.tolist() == labels.tolist()
    assert model.modes[:3] == [(True, False)] * 3  # 3 batches, inference mode, eval mode
    # Training mode was restored afterwards (checked before our own eval() above).
    model.train()
    lk.extract_features(model, images, batch_size=100)
    assert model.training
    raw, none = lk.extract_features(model, lk.make_loader(TensorDataset(images, labels), batch_size=3), normalize=False)
    torch.testing.assert_close(raw, expected * raw.norm(dim=1, keepdim=True))
    assert lk.extract_features(model, images)[1] is None and none is not None


def test_extract_features_validation():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        lk.extract_features(nn.Identity(), torch.randn(3, 8, 8))
    with pytest.raises(TypeError, match="Dataset, a DataLoader or an image tensor"):
        lk.extract_features(nn.Identity(), [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        lk.extract_features(nn.Identity(), torch.randn(3, 1, 8, 8), batch_size=0)
    with pytest.raises(ValueError, match="no images"):
        lk.extract_features(nn.Conv2d(1, 2, 1), torch.randn(0, 1, 8, 8))


def test_extract_features_restores_every_submodule_mode():
    """Issue 16: a backbone sharing layers with a model in eval mode must leave them in eval mode.

    ``pretrained_model()`` builds ``pm.backbone`` as a new ``nn.Sequential`` (training flag
    True) around layers of ``pm.model`` (in eval mode). Restoring only the top-level flag
    with ``backbone.train(was_training)`` put the shared batch-norm layers in training mode.
    """
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    model = nn.Sequential(conv, bn, nn.ReLU()).eval()
    backbone = nn.Sequential(nn.Sequential(conv, bn), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert backbone.training and not bn.training  # the situation pretrained_model() creates
    before = {id(m): m.training for m in [*model.modules(), *backbone.modules()]}
    lk.extract_features(backbone, torch.randn(6, 3, 10, 10), batch_size=4)
    after = {id(m): m.training for m in [*model.modules(), *backbone.modules()]}
    assert after == before
    assert not bn.training
    # And the mixed modes of one module tree come back as they were, too.
    backbone[1].eval()
    before = {id(m): m.training for m in backbone.modules()}
    lk.extract_features(backbone, torch.randn(2, 3, 10, 10))
    assert {id(m): m.training for m in backbone.modules()} == before


def test_extract_features_moves_inputs_to_the_model_device():
    model = OnAnotherDevice(lambda n: torch.eye(4)[:n] + 1.0)  # the batch's row numbers, one-hot
    images, labels = torch.randn(6, 3, 5, 5), torch.tensor([0, 1, 0, 1, 0, 1])
    for data in (images, TensorDataset(images, labels), lk.make_loader(TensorDataset(images, labels), batch_size=4)):
        feats, _ = lk.extract_features(model, data, batch_size=4, normalize=False)
        assert feats.device == torch.device("cpu") and feats.shape == (6, 4)
    assert set(model.seen) == {torch.device("meta")}
    # An explicit device wins over the parameters' device: then the stand-in must fail.
    with pytest.raises(RuntimeError, match="device"):
        lk.extract_features(model, images, device="cpu")


def test_search_and_metrics_accept_tensors_from_another_device():
    """Features and labels that come back from a GPU are brought to the CPU, never mixed.

    Meta tensors hold no data, so what this can show on a CPU-only machine is that the
    functions copy their inputs to the CPU (and fail there, "Cannot copy out of meta
    tensor") instead of comparing tensors on two devices ("... not on the expected device").
    """
    index = lk.SearchIndex(torch.eye(3), labels=[0, 1, 2])
    meta_q = torch.ones(2, 3, device="meta")
    meta_labels = torch.tensor([[0, 1], [1, 0]], device="meta")
    cases = [
        lambda: lk.SearchIndex(meta_q),
        lambda: index.search(meta_q, k=1),
        lambda: lk.precision_at_k(meta_labels, torch.tensor([0, 1]), 1),
        lambda: lk.precision_at_k(torch.tensor([[0, 1], [1, 0]]), torch.tensor([0, 1], device="meta"), 1),
        lambda: lk.recall_at_k(torch.tensor([[0, 1], [1, 0]]), [0, 1], torch.tensor([0, 1, 2], device="meta"), 1),
        lambda: lk.knn_accuracy(meta_labels, torch.tensor([0, 1]), 1),
        lambda: lk.knn_predict(meta_labels, 1),
    ]
    for case in cases:
        with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor"):
            case()


def leave_one_out_by_hand(features: np.ndarray, labels: np.ndarray, k: int) -> tuple[float, float]:
    """Every image against all the others, with scipy's cosine distance and Python loops."""
    sims = 1.0 - cdist(features.astype(np.float64), features.astype(np.float64), metric="cosine")
    precision, recall = [], []
    for i in range(len(labels)):
        others = [j for j in np.argsort(-sims[i], kind="stable") if j != i][:k]
        relevant = sum(1 for j in range(len(labels)) if j != i and labels[j] == labels[i])
        if relevant == 0:
            continue
        found = sum(1 for j in others if labels[j] == labels[i])
        precision.append(found / k)
        recall.append(found / relevant)
    return float(np.mean(precision)), float(np.mean(recall))


def test_leave_one_out_metrics_match_a_brute_force_computation():
    rng = np.random.default_rng(3)
    labels = np.array([0] * 12 + [1] * 9 + [2] * 6 + [3])  # class 3 has a single image: skipped
    features = (rng.normal(size=(4, 10))[labels] + 1.2 * rng.normal(size=(len(labels), 10))).astype(np.float32)
    metrics = lk.leave_one_out_metrics(features, labels, ks=(1, 4, 10))
    assert list(metrics) == ["P@1", "R@1", "P@4", "R@4", "P@10", "R@10"]
    for k in (1, 4, 10):
        precision, recall = leave_one_out_by_hand(features, labels, k)
        assert metrics[f"P@{k}"] == pytest.approx(precision, abs=1e-12)
        assert metrics[f"R@{k}"] == pytest.approx(recall, abs=1e-12)
    # Precision is lk.precision_at_k of the results with the query left out.
    sims = torch.from_numpy(features)
    sims = lk.l2_normalize(sims) @ lk.l2_normalize(sims).T
    sims.fill_diagonal_(-float("inf"))
    keep = labels != 3
    retrieved = torch.from_numpy(labels)[sims.topk(4, dim=1).indices][keep]
    assert metrics["P@4"] == pytest.approx(lk.precision_at_k(retrieved, labels[keep], 4), abs=1e-12)
    # Not a trivial 1: leaving the query in would make every P@1 exactly 1.
    assert metrics["P@1"] < 1


def test_leave_one_out_metrics_reject_bad_input():
    feats = torch.eye(4)
    with pytest.raises(ValueError, match="no label occurs twice"):
        lk.leave_one_out_metrics(feats, [0, 1, 2, 3], ks=(1,))
    with pytest.raises(ValueError, match="ks\\[0\\]"):
        lk.leave_one_out_metrics(feats, [0, 0, 1, 1], ks=(4,))
    with pytest.raises(TypeError, match="ks must be a sequence"):
        lk.leave_one_out_metrics(feats, [0, 0, 1, 1], ks=3)
    with pytest.raises(TypeError, match="integer class labels"):
        lk.leave_one_out_metrics(feats, [0.0, 0.0, 1.0, 1.0], ks=(1,))
    with pytest.raises(ValueError, match="labels must have shape"):
        lk.leave_one_out_metrics(feats, [0, 0, 1], ks=(1,))


def leave_one_out_votes_by_hand(features: np.ndarray, labels: np.ndarray, k: int) -> tuple[list[list[int]], list[int]]:
    """Each image's k nearest others (scipy's cosine distance) and their majority vote, in plain Python.

    A tie goes to the tied label that appears first in the ranked list (the nearest of them).
    """
    sims = 1.0 - cdist(features.astype(np.float64), features.astype(np.float64), metric="cosine")
    neighbours, votes = [], []
    for i in range(len(labels)):
        others = [int(j) for j in np.argsort(-sims[i], kind="stable") if j != i][:k]
        ranked = [int(labels[j]) for j in others]
        counts = {label: ranked.count(label) for label in ranked}
        best = max(counts.values())
        neighbours.append(others)
        votes.append(next(label for label in ranked if counts[label] == best))
    return neighbours, votes


def test_leave_one_out_search_and_predictions_match_a_brute_force_computation():
    rng = np.random.default_rng(13)
    labels = np.array([0] * 9 + [1] * 8 + [2] * 7 + [3])  # class 3 has a single image: always wrong
    features = (rng.normal(size=(4, 6))[labels] + 1.5 * rng.normal(size=(len(labels), 6))).astype(np.float32)
    ties = 0
    for k in (1, 2, 4, 5, 24):
        neighbours, votes = leave_one_out_votes_by_hand(features, labels, k)
        scores, indices = lk.leave_one_out_search(features, k)
        assert indices.tolist() == neighbours
        sims = 1.0 - cdist(features.astype(np.float64), features.astype(np.float64), metric="cosine")
        np.testing.assert_allclose(scores.numpy(), np.take_along_axis(sims, indices.numpy(), axis=1), atol=1e-5)
        predicted = lk.leave_one_out_predictions(features, labels, k)
        assert predicted.dtype == torch.int64 and predicted.tolist() == votes
        # the rule matters: a vote that breaks ties by the smallest label differs somewhere
        smallest = [int(np.bincount(labels[n], minlength=4).argmax()) for n in neighbours]
        ties += sum(a != b for a, b in zip(smallest, votes))
    assert ties > 0, "no tie decided differently by the two rules: the test would not see a wrong tie-break"
    assert lk.leave_one_out_predictions(features, labels, 1).tolist()[-1] != 3  # its class has no other image
    # k = 1: the nearest other image's label, so the accuracy equals leave-one-out P@1 (class 3 aside)
    predicted = lk.leave_one_out_predictions(features, labels, 1)
    keep = labels != 3
    p1 = lk.leave_one_out_metrics(features, labels, ks=(1,))["P@1"]
    assert (predicted.numpy()[keep] == labels[keep]).mean() == pytest.approx(p1, abs=1e-12)


def test_leave_one_out_search_never_returns_the_query_even_among_duplicates():
    features = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0], [0.1, 1.0]])
    for k in (1, 3, 5):
        _, indices = lk.leave_one_out_search(features, k)
        assert not (indices == torch.arange(6)[:, None]).any()
        assert all(len(set(row)) == k for row in indices.tolist())


def test_leave_one_out_predictions_reject_bad_input():
    feats = torch.eye(4)
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of other images \(3\), got 4"):
        lk.leave_one_out_predictions(feats, [0, 0, 1, 1], 4)
    with pytest.raises(TypeError, match="k must be an int, got float"):
        lk.leave_one_out_search(feats, 2.0)
    with pytest.raises(ValueError, match="at least 2 images, got 1"):
        lk.leave_one_out_search(torch.ones(1, 3), 1)
    with pytest.raises(TypeError, match="integer class labels"):
        lk.leave_one_out_predictions(feats, [0.0, 0.0, 1.0, 1.0], 1)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        lk.leave_one_out_predictions(feats, [0, 0, 1], 1)
    with pytest.raises(ValueError, match="non-negative class indices, got -1"):
        lk.leave_one_out_predictions(feats, [0, -1, 1, 1], 1)
    with pytest.raises(TypeError, match="features must be a torch.Tensor or numpy array, got list"):
        lk.leave_one_out_search([[1.0, 0.0], [0.0, 1.0]], 1)


def test_leave_one_out_functions_bring_tensors_from_another_device_to_the_cpu():
    # see test_search_and_metrics_accept_tensors_from_another_device
    for case in (lambda: lk.leave_one_out_search(torch.ones(3, 2, device="meta"), 1),
                 lambda: lk.leave_one_out_predictions(torch.eye(3), torch.tensor([0, 0, 1], device="meta"), 1)):
        with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor"):
            case()
