"""Where a convolution through FFTs beats sliding the kernel: ``lk.fft_conv2d`` against ``F.conv2d``.

Lesson 01 ("Image convolution") counts operations with ``lk.conv_flops``: the
direct route costs ``2·k²·n²`` for an ``n × n`` map and a ``k × k`` kernel, the
FFT route about ``7.5·P²·log2(P²)`` with ``P = n + k - 1`` whatever ``k`` is,
so the FFT wins from some kernel size on. A count is a model; this script
measures it. For each image size and kernel size ("same" padding, float32,
no gradient) it times

1. ``torch.nn.functional.conv2d``      <- the reference (oneDNN on a CPU, cuDNN on a GPU)
2. ``lk.fft_conv2d``                   (real-input FFTs, the channel sum in the frequency domain)

each ``--repeats`` times, interleaved, after a warm-up that also checks that
the two agree, and prints the median time of each, the ratio FFT / direct
(below 1: the FFT is faster) and the counted ratio beside it. Then, for each
image size, the goal: the smallest kernel size at which the FFT route is
faster, measured and counted.

``F.conv2d`` is not the textbook loop the count describes: optimised libraries
vectorise it and may switch algorithm (im2col, Winograd, even FFT) with the
shape, so the measured crossover can lie far from the counted one, and it
differs between machines. That is why the lesson quotes the count, not a time.

Usage::

    python benchmarks/fft_conv.py [--repeats 7] [--threads 0] [--batch 8] [--channels 1]
                                  [--sizes 64 128 256 512] [--kernels 3 5 7 9 11 15 21 31]
                                  [--device cpu]

``--channels C`` times a layer from C to C channels: the direct cost grows as
C², the FFT route's transforms only as C (its products still as C²).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import lessonkit as lk


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave the default)")
    parser.add_argument("--batch", type=int, default=8, help="images per batch")
    parser.add_argument("--channels", type=int, default=1, help="input and output channels of the layer")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512], help="image sides")
    parser.add_argument("--kernels", type=int, nargs="+", default=[3, 5, 7, 9, 11, 15, 21, 31], help="odd kernel sides")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if any(k % 2 == 0 for k in args.kernels):
        parser.error(f"--kernels must be odd ('same' padding k // 2), got {args.kernels}")
    device = torch.device(args.device)
    torch.manual_seed(0)
    methods = {
        "F.conv2d": lambda x, w, p: F.conv2d(x, w, padding=p),
        "lk.fft_conv2d": lambda x, w, p: lk.fft_conv2d(x, w, padding=p),
    }
    c = args.channels
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}, batch {args.batch}, "
          f"{c} -> {c} channels, float32, median of {args.repeats} runs")
    header = f"{'n':>5} {'k':>3} | " + " | ".join(f"{m:>14}" for m in methods) + " | measured FFT / direct | counted FFT / direct"
    print(header)
    print("-" * len(header))
    crossover: dict[int, tuple[int | None, int | None]] = {}
    with torch.no_grad():
        for n in args.sizes:
            measured_at = counted_at = None
            for k in args.kernels:
                if k > n:
                    continue
                p = k // 2
                x = torch.randn(args.batch, c, n, n, device=device)
                w = torch.randn(c, c, k, k, device=device) / k
                ref = methods["F.conv2d"](x, w, p)
                torch.testing.assert_close(methods["lk.fft_conv2d"](x, w, p), ref, atol=2e-3 * c, rtol=1e-3)  # warm-up and check
                times: dict[str, list[float]] = {m: [] for m in methods}
                for _ in range(args.repeats):
                    for name, fn in methods.items():
                        _sync(device)
                        t0 = time.perf_counter()
                        fn(x, w, p)
                        _sync(device)
                        times[name].append(time.perf_counter() - t0)
                med = {m: statistics.median(t) for m, t in times.items()}
                measured = med["lk.fft_conv2d"] / med["F.conv2d"]
                counted = lk.conv_flops(n, k, padding=p, method="fft") / lk.conv_flops(n, k, padding=p)
                if measured < 1 and measured_at is None:
                    measured_at = k
                if counted < 1 and counted_at is None:
                    counted_at = k
                cells = " | ".join(f"{med[m] * 1e3:11.3f} ms" for m in methods)
                print(f"{n:>5} {k:>3} | {cells} | {measured:>21.2f} | {counted:>20.2f}")
            crossover[n] = (measured_at, counted_at)
    print()
    print("Goal: the smallest kernel size at which the FFT route is faster (counted for one channel, as in lesson 01)")
    for n, (measured_at, counted_at) in crossover.items():
        m = f"k = {measured_at}" if measured_at else f"none up to k = {max(args.kernels)}"
        k_ = f"k = {counted_at}" if counted_at else f"none up to k = {max(args.kernels)}"
        print(f"  {n:>4}×{n:<4}: measured {m:<22} counted {k_}")


if __name__ == "__main__":
    main()
