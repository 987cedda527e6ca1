"""Exact top-k cosine search, three ways, and feature-extraction throughput.

Lesson 13 ("Image similarity search"). One run measures, side by side:

1. ``lk.SearchIndex.search``: one matrix product per block of queries, then ``torch.topk``;
2. faiss-cpu's ``IndexFlatIP`` (exact inner-product search, a benchmark-only dependency);
3. a naive Python loop (one ``numpy.dot`` per reference vector, then ``heapq.nlargest``),
   on a subset of the queries because it is slow; its time is scaled to all queries.

All three search the same L2-normalised float32 vectors, so the inner product is the cosine
similarity, and must return the same top-k (up to the order of scores that tie in float32).
Each timed search runs ``--repeats`` times, interleaved, and the median is reported with its
ratio to faiss. Goal: lessonkit within 1.2x of faiss. Both libraries use the same number of
threads (``--threads``, default: all cores).

The second table is the throughput of feature extraction with the course's pretrained backbone
(``lk.pretrained_model()``), in images per second: the network alone on a ready batch, and the
whole path from JPEG files (decode, resize, normalise, network).

Usage::

    LESSONKIT_MIRROR=../shared/data python benchmarks/search.py [--n 50000] [--queries 1000] [--dim 512]
"""

from __future__ import annotations

import argparse
import heapq
import os
import statistics
import time

import numpy as np
import torch

import lessonkit as lk


def naive_topk(queries: np.ndarray, refs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores, indices = [], []
    for q in queries:
        sims = [(float(np.dot(q, r)), j) for j, r in enumerate(refs)]
        best = heapq.nlargest(k, sims)
        scores.append([s for s, _ in best])
        indices.append([j for _, j in best])
    return np.asarray(scores, np.float32), np.asarray(indices, np.int64)


def compare(name: str, idx: np.ndarray, scores: np.ndarray, ref_idx: np.ndarray, ref_scores: np.ndarray, tol: float = 1e-5) -> str:
    """Rows with the same top-k set; other rows must differ only at float32 near-ties."""
    same = np.array([set(a) == set(b) for a, b in zip(idx, ref_idx)])
    np.testing.assert_allclose(scores, ref_scores, atol=tol, err_msg=f"{name}: top-k scores differ from faiss")
    for row in np.flatnonzero(~same):  # a swapped pair at the k-th place must be a tie
        gap = abs(float(scores[row, -1]) - float(ref_scores[row, -1]))
        assert gap <= tol, f"{name}: query {row} returns different neighbours (score gap {gap:.2e})"
    order = (idx == ref_idx).all(axis=1)
    return f"{name}: same top-k set as faiss for {same.sum()}/{len(same)} queries, same order for {order.sum()}/{len(order)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000, help="reference vectors (default 50,000)")
    parser.add_argument("--dim", type=int, default=512, help="dimensions (default 512)")
    parser.add_argument("--queries", type=int, default=1_000, help="queries (default 1,000)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--naive-queries", type=int, default=20, help="queries for the naive loop (default 20)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=128, help="images for the throughput measurement")
    args = parser.parse_args(argv)

    import faiss

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    refs = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    # Queries near some references (a realistic "find similar" workload), normalised.
    queries = refs[rng.integers(0, args.n, args.queries)] + 0.5 * rng.standard_normal((args.queries, args.dim), dtype=np.float32) / np.sqrt(args.dim)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)

    index = lk.SearchIndex(torch.from_numpy(refs), normalize=False)
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(refs)
    q_t = torch.from_numpy(queries)

    times: dict[str, list[float]] = {"lessonkit": [], "faiss": []}
    for _ in range(args.repeats):
        t = time.perf_counter()
        lk_scores, lk_idx = index.search(q_t, args.k)
        times["lessonkit"].append(time.perf_counter() - t)
        t = time.perf_counter()
        f_scores, f_idx = flat.search(queries, args.k)
        times["faiss"].append(time.perf_counter() - t)
    sub = queries[: args.naive_queries]
    t = time.perf_counter()
    n_scores, n_idx = naive_topk(sub, refs, args.k)
    naive_time = (time.perf_counter() - t) * args.queries / len(sub)

    print(f"Exact top-{args.k} cosine search: {args.n:,} x {args.dim} float32 references, {args.queries:,} queries, "
          f"{args.threads} thread(s), median of {args.repeats}")
    print(compare("lessonkit", lk_idx.numpy(), lk_scores.numpy(), f_idx, f_scores))
    print(compare(f"naive loop (first {len(sub)} queries)", n_idx, n_scores, f_idx[: len(sub)], f_scores[: len(sub)]))
    faiss_t = statistics.median(times["faiss"])
    rows = [
        ("faiss IndexFlatIP", faiss_t),
        ("lessonkit SearchIndex", statistics.median(times["lessonkit"])),
        (f"naive Python loop (scaled from {len(sub)} queries)", naive_time),
    ]
    print(f"\n| {'method':<45} | {'time for all queries (s)':>24} | {'queries/s':>10} | {'time / faiss':>12} |")
    print(f"|{'-' * 47}|{'-' * 26}|{'-' * 12}|{'-' * 14}|")
    for name, secs in rows:
        print(f"| {name:<45} | {secs:>24.4f} | {args.queries / secs:>10.1f} | {secs / faiss_t:>11.2f}x |")
    ratio = rows[1][1] / faiss_t
    print(f"\nlessonkit / faiss = {ratio:.2f} (goal: at most 1.20) -> {'met' if ratio <= 1.2 else 'NOT met'}")

    # ---- feature extraction throughput -------------------------------------------------
    pm = lk.pretrained_model()
    print(f"\nFeature extraction with {pm.describe()}; {args.threads} thread(s)")
    print(f"| {'path':<48} | {'image size':>10} | {'images/s':>9} |")
    print(f"|{'-' * 50}|{'-' * 12}|{'-' * 11}|")
    for size in (128, 224):
        x = torch.randn(args.images, 3, size, size)
        lk.extract_features(pm.backbone, x[:32], batch_size=32)  # warm-up
        t = time.perf_counter()
        lk.extract_features(pm.backbone, x, batch_size=32)
        print(f"| {'network only (ready tensors, batch 32)':<48} | {size:>10} | {args.images / (time.perf_counter() - t):>9.1f} |")
        ds = lk.subset(lk.load_dataset("cats_vs_dogs", "val", transform=pm.make_transform(size)), args.images, seed=0)
        t = time.perf_counter()
        lk.extract_features(pm.backbone, ds, batch_size=32)
        print(f"| {'JPEG files: decode + resize + network':<48} | {size:>10} | {args.images / (time.perf_counter() - t):>9.1f} |")


if __name__ == "__main__":
    main()
