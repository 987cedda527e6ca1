"""Image similarity search: feature vectors, an exact cosine top-k index, retrieval metrics.

Introduced in lesson 13 ("Image similarity search"); the "find similar images"
app (:mod:`lessonkit.app`) is built on it.

A backbone maps each image to a vector; after L2 normalisation the cosine
similarity of two images is the dot product of their vectors, so one matrix
product scores every query against every reference image, and ``topk`` picks
the best matches.
"""

from __future__ import annotations

import threading

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._utils import check_int, check_number, check_type

__all__ = [
    "SearchIndex",
    "knn_accuracy",
    "knn_predict",
    "l2_normalize",
    "leave_one_out_metrics",
    "leave_one_out_predictions",
    "leave_one_out_search",
    "precision_at_k",
    "recall_at_k",
    "retrieval_metrics",
]

ArrayLike = torch.Tensor | np.ndarray


def _as_float_matrix(x: ArrayLike, name: str) -> torch.Tensor:
    # Stays on its device: the callers copy it to the CPU after checking it.
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must hold floating-point feature vectors, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {tuple(x.shape)}")
    return x


def _as_labels(y: ArrayLike | Sequence[int], name: str, n: int | None = None) -> torch.Tensor:
    # Labels may come back from a GPU: the metrics are computed on the CPU.
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y.detach().cpu())
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"{name} must be integer class labels, got dtype {y.dtype}")
    if y.ndim != 1 or (n is not None and y.shape[0] != n):
        expected = f"({n},)" if n is not None else "(N,)"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(y.shape)}")
    return y.long()


def l2_normalize(x: ArrayLike, eps: float = 1e-12) -> torch.Tensor:
    """Scale each row to unit Euclidean length (an all-zero row stays zero).

    Introduced in lesson 13.

    Examples
    --------
    >>> l2_normalize(torch.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    check_number("eps", eps, minimum=0, strict_minimum=True)
    return F.normalize(_as_float_matrix(x, "x"), dim=1, eps=eps)


class SearchIndex:
    """Exact cosine-similarity search over reference feature vectors.

    Introduced in lesson 13. The references (and each query) are
    L2-normalised, so similarity is a dot product; :meth:`search` computes the
    similarities to every reference, one block of queries at a time, and keeps
    the ``k`` largest with ``torch.topk``.

    Parameters
    ----------
    features : tensor or array ``(N, D)``
        Reference vectors (``N >= 1``). Stored as ``float32``.
    labels : sequence of int, optional
        One label per reference, for :meth:`search_labels`.
    normalize : bool
        L2-normalise the references (turn off only if they already are).

    Examples
    --------
    >>> index = SearchIndex(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> scores, idx = index.search(torch.tensor([[2.0, 0.1]]), k=2)
    >>> idx.tolist(), [round(s, 3) for s in scores[0].tolist()]
    ([[0, 2]], [0.999, 0.742])
    """

    def __init__(self, features: ArrayLike, labels: ArrayLike | Sequence[int] | None = None, *, normalize: bool = True) -> None:
        check_type("normalize", normalize, bool)
        feats = _as_float_matrix(features, "features")
        if feats.shape[0] == 0:
            raise ValueError("the reference set is empty: an index needs at least one feature vector")
        if feats.shape[1] == 0:
            raise ValueError("feature vectors must have at least one dimension, got D = 0")
        feats = feats.detach().to("cpu", torch.float32)
        self.features = (l2_normalize(feats) if normalize else feats).contiguous()
        self.labels = _as_labels(labels, "labels", feats.shape[0]) if labels is not None else None
        # One similarity buffer per thread, reused across calls: allocating (and
        # first touching) a fresh block x N matrix on every search costs more than
        # the top-k itself. Per thread, so that concurrent searches (the app) are safe.
        self._scratch = threading.local()

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        """Length of the feature vectors."""
        return self.features.shape[1]

    def search(self, queries: ArrayLike, k: int = 5, *, block: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` most similar references to each query.

        Parameters
        ----------
        queries : tensor or array ``(Q, D)`` (or ``(D,)`` for one query)
        k : int
            ``1 <= k <= len(self)``.
        block : int
            Queries per matrix product (bounds memory to ``block * N`` floats).

        Returns
        -------
        (scores, indices)
            ``float32 (Q, k)`` cosine similarities, best first, and ``int64 (Q, k)``
            reference indices.
        """
        if isinstance(queries, (torch.Tensor, np.ndarray)) and queries.ndim == 1:
            queries = queries[None]
        q = _as_float_matrix(queries, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have {q.shape[1]} dimensions but the reference features have {self.dim}")
        k = check_int("k", k)
        if not 1 <= k <= len(self):
            raise ValueError(f"k must be between 1 and the number of reference vectors ({len(self)}), got {k}")
        block = check_int("block", block, minimum=1)
        q = l2_normalize(q.detach().to("cpu", torch.float32))
        scores = torch.empty(q.shape[0], k, dtype=torch.float32)
        indices = torch.empty(q.shape[0], k, dtype=torch.int64)
        rows = min(block, q.shape[0])
        buf = getattr(self._scratch, "sims", None)
        if buf is None or buf.shape[0] < rows:
            buf = self._scratch.sims = torch.empty(rows, len(self), dtype=torch.float32)
        with torch.inference_mode():
            for start in range(0, q.shape[0], block):
                qb = q[start : start + block]
                sims = torch.mm(qb, self.features.T, out=buf[: qb.shape[0]])
                torch.topk(sims, k, dim=1, out=(scores[start : start + block], indices[start : start + block]))
        return scores, indices

    def search_labels(self, queries: ArrayLike, k: int = 5) -> torch.Tensor:
        """Labels of the ``k`` nearest references, ``(Q, k)``; needs ``labels``."""
        if self.labels is None:
            raise ValueError("this index was built without labels")
        return self.labels[self.search(queries, k)[1]]


def _check_retrieved(retrieved: ArrayLike, query_labels: ArrayLike | Sequence[int], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    r = torch.as_tensor(np.asarray(retrieved) if not isinstance(retrieved, torch.Tensor) else retrieved.detach().cpu())
    if r.ndim != 2:
        raise ValueError(f"retrieved labels must have shape (Q, K), got {tuple(r.shape)}")
    y = _as_labels(query_labels, "query_labels", r.shape[0])
    if r.dtype.is_floating_point:
        raise TypeError(f"retrieved labels must be integers, got dtype {r.dtype}")
    k = check_int("k", k)
    if not 1 <= k <= r.shape[1]:
        raise ValueError(f"k must be between 1 and the number of retrieved columns ({r.shape[1]}), got {k}")
    if r.shape[0] == 0:
        raise ValueError("no queries: retrieved labels have 0 rows")
    return r[:, :k].long(), y


def precision_at_k(retrieved: ArrayLike, query_labels: ArrayLike | Sequence[int], k: int) -> float:
    """Mean fraction of the top ``k`` results that share the query's label.

    Introduced in lesson 13.

    Parameters
    ----------
    retrieved : int array ``(Q, K)``, ``K >= k``
        Labels of each query's results, best first.
    query_labels : int array ``(Q,)``
    k : int

    Examples
    --------
    >>> precision_at_k([[0, 0, 1], [1, 0, 0]], [0, 1], k=2)
    0.75
    """
    r, y = _check_retrieved(retrieved, query_labels, k)
    return (r == y[:, None]).double().mean().item()


def recall_at_k(
    retrieved: ArrayLike,
    query_labels: ArrayLike | Sequence[int],
    reference_labels: ArrayLike | Sequence[int],
    k: int,
) -> float:
    """Mean fraction of all relevant references found in the top ``k``.

    Introduced in lesson 13. A reference is relevant to a query when their
    labels match; a query's recall@k is (relevant results in its top ``k``) /
    (relevant references in the whole set). This is the information-retrieval
    definition; some metric-learning papers call "recall@k" the fraction of
    queries with *at least one* relevant result in the top ``k``.

    Examples
    --------
    >>> round(recall_at_k([[0, 0, 1], [1, 0, 0]], [0, 1], reference_labels=[0, 0, 0, 1], k=2), 4)
    0.8333
    """
    r, y = _check_retrieved(retrieved, query_labels, k)
    ref = _as_labels(reference_labels, "reference_labels")
    relevant = (ref[None, :] == y[:, None]).sum(dim=1)
    if (relevant == 0).any():
        missing = sorted(set(y[relevant == 0].tolist()))
        raise ValueError(f"query labels {missing} never occur among the reference labels, so recall is undefined")
    found = (r == y[:, None]).sum(dim=1)
    if (found > relevant).any():
        raise ValueError("more relevant results than relevant references: the retrieved labels do not come from reference_labels")
    return (found.double() / relevant.double()).mean().item()


def knn_predict(retrieved: ArrayLike, k: int, num_classes: int | None = None) -> torch.Tensor:
    """Majority vote of the labels of the ``k`` nearest neighbours.

    Introduced in lesson 13. A tie goes to the tied class whose best-ranked
    neighbour comes first (so with ``k = 1`` it is the nearest neighbour's label).

    Examples
    --------
    >>> knn_predict([[2, 1, 1], [0, 1, 2]], k=3).tolist()
    [1, 0]
    """
    r = torch.as_tensor(np.asarray(retrieved) if not isinstance(retrieved, torch.Tensor) else retrieved.detach().cpu())
    if r.dtype.is_floating_point or r.dtype == torch.bool:
        raise TypeError(f"retrieved labels must be integers, got dtype {r.dtype}")
    if r.ndim != 2:
        raise ValueError(f"retrieved labels must have shape (Q, K), got {tuple(r.shape)}")
    k = check_int("k", k)
    if not 1 <= k <= r.shape[1]:
        raise ValueError(f"k must be between 1 and the number of retrieved columns ({r.shape[1]}), got {k}")
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, minimum=1)
    r = r[:, :k].long()
    if (r < 0).any():
        raise ValueError("labels must be non-negative")
    n = int(r.max()) + 1 if num_classes is None else num_classes
    if int(r.max()) >= n:
        raise ValueError(f"a label {int(r.max())} is out of range for num_classes={n}")
    votes = torch.zeros(r.shape[0], n).scatter_add_(1, r, torch.ones_like(r, dtype=torch.float32))
    # Earliest rank at which each class appears (k when absent), for tie-breaking.
    first = torch.full((r.shape[0], n), float(k)).scatter_reduce_(
        1, r, torch.arange(k, dtype=torch.float32).expand_as(r).contiguous(), reduce="amin"
    )
    return (votes - first / (k + 1)).argmax(dim=1)


def knn_accuracy(retrieved: ArrayLike, query_labels: ArrayLike | Sequence[int], k: int) -> float:
    """Accuracy of the ``k``-nearest-neighbour vote (:func:`knn_predict`).

    Introduced in lesson 13.

    Examples
    --------
    >>> knn_accuracy([[2, 1, 1], [0, 1, 2]], [1, 2], k=3)
    0.5
    """
    r, y = _check_retrieved(retrieved, query_labels, k)
    return (knn_predict(r, k) == y).double().mean().item()


def retrieval_metrics(
    index: SearchIndex,
    queries: ArrayLike,
    query_labels: ArrayLike | Sequence[int],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """precision@k, recall@k and kNN accuracy for each ``k`` in ``ks``, in one dict.

    Introduced in lesson 13. ``index`` must have labels.

    Returns
    -------
    dict
        Keys like ``"P@5"``, ``"R@5"``, ``"kNN@5"``.

    Examples
    --------
    >>> index = SearchIndex(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), labels=[0, 0, 1])
    >>> retrieval_metrics(index, torch.tensor([[1.0, 0.05], [0.1, 1.0]]), [0, 1], ks=(1, 2))
    {'P@1': 1.0, 'R@1': 0.75, 'kNN@1': 1.0, 'P@2': 0.75, 'R@2': 1.0, 'kNN@2': 1.0}
    """
    check_type("index", index, SearchIndex)
    if index.labels is None:
        raise ValueError("retrieval_metrics needs an index built with labels")
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence):
        raise TypeError(f"ks must be a sequence of ints such as (1, 5, 10), got {type(ks).__name__}")
    if not ks:
        raise ValueError("ks must name at least one k, got an empty sequence")
    ks = [check_int(f"ks[{i}]", k, minimum=1, maximum=len(index)) for i, k in enumerate(ks)]
    retrieved = index.search_labels(queries, max(ks))
    out: dict[str, float] = {}
    for k in ks:
        out[f"P@{k}"] = precision_at_k(retrieved, query_labels, k)
        out[f"R@{k}"] = recall_at_k(retrieved, query_labels, index.labels, k)
        out[f"kNN@{k}"] = knn_accuracy(retrieved, query_labels, k)
    return out


def leave_one_out_search(features: ArrayLike, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's ``k`` most similar *other* images of the same set.

    Introduced in lesson 13 (the homework's evaluation milestones, and the
    images of wrong matches for its write-up). Every image in turn is the
    query, and the search runs over all the others: an image is never its own
    match. Should it tie with exact duplicates beyond the top ``k + 1``, the
    last result is dropped instead (the image would rank after them).

    Parameters
    ----------
    features : tensor or array ``(N, D)``
        One feature vector per image (normalised or not: the search is by cosine).
    k : int
        Between 1 and ``N - 1``.

    Returns
    -------
    (scores, indices)
        ``float32 (N, k)`` cosine similarities, best first, and ``int64 (N, k)``
        row numbers of the matches in ``features``.

    Examples
    --------
    >>> feats = torch.tensor([[1.0, 0.0], [0.9, 0.2], [0.0, 1.0]])
    >>> scores, indices = leave_one_out_search(feats, k=2)
    >>> indices.tolist(), [round(s, 3) for s in scores[2].tolist()]
    ([[1, 2], [0, 2], [1, 0]], [0.217, 0.0])
    """
    feats = _as_float_matrix(features, "features")
    n = feats.shape[0]
    if n < 2:
        raise ValueError(f"leave-one-out needs at least 2 images, got {n}")
    k = check_int("k", k)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must be between 1 and the number of other images ({n - 1}), got {k}")
    scores, idx = SearchIndex(feats).search(feats, k + 1)
    own = idx == torch.arange(n)[:, None]
    own[~own.any(dim=1), -1] = True
    return scores[~own].view(n, k), idx[~own].view(n, k)


def leave_one_out_predictions(features: ArrayLike, labels: ArrayLike | Sequence[int], k: int) -> torch.Tensor:
    """Each image's label predicted by a majority vote of its ``k`` most similar other images.

    Introduced in lesson 13 (the homework's accuracy milestone). The search
    turned into a classifier that needs no training: every image in turn is
    the query, searches all the *others* (:func:`leave_one_out_search`), and
    its predicted label is the most frequent label among its ``k`` matches
    (:func:`knn_predict`). **Ties** go to the tied label whose best-ranked
    match comes first, that is, to the nearest of the tied labels; with
    ``k = 1`` the prediction is the nearest other image's label. Comparing
    the predictions with ``labels`` gives each image's correctness, and its
    mean is the classifier's leave-one-out accuracy. An image whose label no
    other image has can never be predicted right.

    Parameters
    ----------
    features : tensor or array ``(N, D)``
    labels : int array ``(N,)``
    k : int
        Between 1 and ``N - 1``.

    Returns
    -------
    torch.Tensor
        ``int64 (N,)`` predicted labels, on the CPU.

    Examples
    --------
    >>> feats = torch.tensor([[1.0, 0.0], [0.9, 0.2], [0.0, 1.0], [0.3, 1.0], [0.8, 0.6]])
    >>> labels = torch.tensor([0, 0, 1, 1, 1])
    >>> predicted = leave_one_out_predictions(feats, labels, k=2)
    >>> predicted.tolist(), (predicted == labels).double().mean().item()
    ([0, 0, 1, 1, 0], 0.8)

    The last image's two matches, images 1 and 3, vote once each; image 1
    is the nearer, so its label 0 wins the tie.
    """
    feats = _as_float_matrix(features, "features")
    y = _as_labels(labels, "labels", feats.shape[0])
    if (y < 0).any():
        raise ValueError(f"labels must be non-negative class indices, got {int(y.min())}")
    _, idx = leave_one_out_search(feats, k)
    return knn_predict(y[idx], k, num_classes=int(y.max()) + 1)


def leave_one_out_metrics(
    features: ArrayLike,
    labels: ArrayLike | Sequence[int],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """precision@k and recall@k of a labelled set searched with each of its own images.

    Introduced in lesson 13 (the homework's evaluation milestone, and the
    metrics the "find similar images" app shows for each backbone). Every
    image in turn is the query; the search runs over all the *other* images
    (:func:`leave_one_out_search`: the query itself is left out, otherwise it
    would always be its own best match). A result is relevant when it has the
    query's label, so a query's recall@k is (relevant results in its top
    ``k``) / (other images with its label). Queries whose label no other image
    has are skipped (their recall is undefined); the metrics are means over
    the remaining queries. The accuracy of a majority vote of the same
    matches is :func:`leave_one_out_predictions`.

    Parameters
    ----------
    features : tensor or array ``(N, D)``
        One feature vector per image (normalised or not: the search is by cosine).
    labels : int array ``(N,)``
    ks : sequence of int
        Each ``k`` between 1 and ``N - 1``.

    Returns
    -------
    dict
        Keys ``"P@k"`` and ``"R@k"`` for each ``k``, in the order of ``ks``.

    Raises
    ------
    ValueError
        When no label occurs twice, or a ``k`` is out of range.

    Examples
    --------
    >>> feats = torch.tensor([[1.0, 0.0], [0.9, 0.2], [0.0, 1.0], [0.3, 1.0]])
    >>> leave_one_out_metrics(feats, [0, 0, 1, 1], ks=(1, 2))
    {'P@1': 1.0, 'R@1': 1.0, 'P@2': 0.5, 'R@2': 1.0}
    """
    feats = _as_float_matrix(features, "features")
    y = _as_labels(labels, "labels", feats.shape[0])
    n = feats.shape[0]
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence):
        raise TypeError(f"ks must be a sequence of ints such as (1, 5, 10), got {type(ks).__name__}")
    if not ks:
        raise ValueError("ks must name at least one k, got an empty sequence")
    if n < 2:
        raise ValueError(f"leave-one-out needs at least 2 images, got {n}")
    ks = [check_int(f"ks[{i}]", k, minimum=1, maximum=n - 1) for i, k in enumerate(ks)]
    relevant = (y[None, :] == y[:, None]).sum(dim=1) - 1  # other images with the query's label
    keep = relevant > 0
    if not keep.any():
        raise ValueError("no label occurs twice, so no image has a relevant match: precision and recall are undefined")
    _, idx = leave_one_out_search(feats, max(ks))
    retrieved = y[idx][keep]
    y, relevant = y[keep], relevant[keep]
    out: dict[str, float] = {}
    for k in ks:
        out[f"P@{k}"] = precision_at_k(retrieved, y, k)
        found = (retrieved[:, :k] == y[:, None]).sum(dim=1)
        out[f"R@{k}"] = (found.double() / relevant.double()).mean().item()
    return out
