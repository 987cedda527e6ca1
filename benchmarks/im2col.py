"""Convolution as one matrix multiplication (im2col + GEMM) against ``F.conv2d``.

Lesson 03 ("The building blocks of a CNN"). For a few layer shapes typical of
small CNNs, time the forward pass of

1. ``torch.nn.functional.conv2d``                    <- the reference
2. ``lk.conv2d_im2col``: unroll windows with ``lk.im2col``, then one ``@``
3. ``F.unfold`` + ``@``: the same algorithm with PyTorch's own unrolling

and print the median time of each with its ratio to ``F.conv2d``, plus the
size of the unrolled matrix (the memory im2col pays for its single GEMM).
Every method runs ``--repeats`` times, interleaved, after a warm-up.

Usage::

    python benchmarks/im2col.py [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import lessonkit as lk

# (batch, in channels, size, out channels, kernel, padding, stride)
SHAPES = [
    (64, 1, 28, 16, 3, 1, 1),
    (64, 16, 28, 32, 3, 1, 1),
    (64, 32, 14, 64, 3, 1, 1),
    (32, 64, 32, 64, 3, 1, 1),
    (32, 3, 64, 32, 7, 3, 2),
]


def unfold_gemm(x: torch.Tensor, w: torch.Tensor, padding: int, stride: int) -> torch.Tensor:
    n, _, h, wd = x.shape
    c_out, _, k, _ = w.shape
    out = w.view(c_out, -1) @ F.unfold(x, k, padding=padding, stride=stride)
    side = lk.conv_output_size(h, k, padding, stride)
    return out.view(n, c_out, side, side)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave the default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    methods = {
        "F.conv2d": lambda x, w, p, s: F.conv2d(x, w, padding=p, stride=s),
        "lk.conv2d_im2col": lambda x, w, p, s: lk.conv2d_im2col(x, w, padding=p, stride=s),
        "F.unfold + @": unfold_gemm,
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} runs")
    header = f"{'N':>3} {'C_in':>4} {'H=W':>4} {'C_out':>5} {'k':>2} {'s':>2} | " + " | ".join(f"{m:>16}" for m in methods) + " | ratio im2col / conv2d | unrolled MB"
    print(header)
    print("-" * len(header))
    with torch.no_grad():
        for n, cin, size, cout, k, p, s in SHAPES:
            x, w = torch.randn(n, cin, size, size), torch.randn(cout, cin, k, k)
            ref = F.conv2d(x, w, padding=p, stride=s)
            times: dict[str, list[float]] = {m: [] for m in methods}
            for fn in methods.values():  # warm-up and correctness
                torch.testing.assert_close(fn(x, w, p, s), ref, atol=1e-3, rtol=1e-3)
            for _ in range(args.repeats):
                for name, fn in methods.items():
                    t0 = time.perf_counter()
                    fn(x, w, p, s)
                    times[name].append(time.perf_counter() - t0)
            med = {m: statistics.median(t) for m, t in times.items()}
            side = lk.conv_output_size(size, k, p, s)
            mb = n * cin * k * k * side * side * 4 / 2**20
            cells = " | ".join(f"{med[m] * 1e3:13.2f} ms" for m in methods)
            print(f"{n:>3} {cin:>4} {size:>4} {cout:>5} {k:>2} {s:>2} | {cells} | {med['lk.conv2d_im2col'] / med['F.conv2d']:>21.2f} | {mb:>11.1f}")


if __name__ == "__main__":
    main()
