"""Training fast: the CIFAR-10 network's training throughput, six ways, side by side.

Issue #14, part 4 ("Training fast"), for lesson 10 (CIFAR-10 from scratch).
The same network (``lk.CifarNet``) trains on the same 32x32 colour images
(CIFAR-10 from the mirror, or random tensors with ``--data synthetic``), in
memory on the device, with the same optimiser (Adam, lr 1e-3) and batch size:

1. a plain PyTorch loop: shuffle, slice, forward, loss, backward, step     <- the reference
2. ``lk.fit`` (one epoch over the same images, no validation)
3. the plain loop in channels-last memory format (model and batches)
4. ``lk.fit(channels_last=True)``: the same memory format through the course's loop
5. the plain loop under ``torch.autocast("cpu", dtype=torch.bfloat16)``
6. ``lk.fit(amp=True)``: the same bfloat16 autocast through the course's loop

(On CUDA, rows 5 and 6 use float16 autocast, row 6 with fit's gradient scaler.)
Each row is one *timed window*: an epoch over ``--n`` images, after a warm-up
of a few batches that is not timed. Every row runs ``--repeats`` times,
interleaved (so that other load on the machine hits all rows alike), and the
median window is reported as images per second, with its ratio to row 1.

Peak: the fp32 matrix-multiply peak is measured with large square ``torch.mm``
(``--peak-size``; 2 n^3 FLOPs each, median of several). The training's achieved
rate counts the network's forward multiply-adds with ``lk.count_mult_adds``
(convolutions and linear layers only), x2 for FLOPs, x3 for a training step:
the backward pass computes, for every convolution and linear layer, one
product for the input gradient and one for the weight gradient, each costing
as much as the forward product (so the rule slightly over-counts the first
layer, whose input needs no gradient, and ignores element-wise work).

Native bfloat16: printed from /proc/cpuinfo (``avx512_bf16``, ``amx_bf16``),
``torch.backends.cpu.get_cpu_capability()`` and oneDNN's own check. The
bfloat16 rows are measured either way.

Goals (issue #14): ``lk.fit`` >= 0.95x the plain loop; fp32 training >= 50% of
the fp32 matmul peak. ``--profile`` adds a ``torch.profiler`` table of the
operators of a few fit and plain-loop batches, to find where the time goes.

Usage::

    LESSONKIT_MIRROR=../shared/data python benchmarks/training.py [--quick] [--n 2048] [--n-amp N]
        [--repeats 5] [--batch-size 64] [--warmup 2] [--data {cifar10,synthetic}] [--width {fast,full}]
        [--peak-size 2048] [--verbose] [--profile] [--compile]

Default (a few minutes on an idle 2-core CPU): the fast profile's network and
batch size, 2048 CIFAR-10 images per fp32 window, 5 repeats, a 2048 matmul.
``--quick`` (about a minute): 512 random images per window, 3 repeats, a 1024
matmul. Where the CPU has no native bfloat16 (no AVX-512-BF16 or AMX),
bfloat16 is emulated and ~10x slower, so the autocast rows time ``--n / 8``
images (at least one batch; ``--n-amp`` to choose). ``--width full`` measures
the full profile's network and batch size (about 60x the work per image: give
it a much smaller ``--n``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import lessonkit as lk

LR = 1e-3
# Lesson 10's network and batch size in each profile: one home, lessonkit.cifar, which the lesson reads too.
WIDTHS = lk.CIFAR_WIDTHS
BATCH_SIZES = lk.CIFAR_BATCH_SIZES


# --------------------------------------------------------------------------- the network and the data
def make_network(width: str) -> Callable[[], nn.Module]:
    """A builder of the lesson's CIFAR-10 network (``lk.CifarNet``) in the profile's width ``width``."""
    if not hasattr(lk, "CifarNet"):
        raise SystemExit("lk.CifarNet is missing: this benchmark measures lesson 10's network (lessonkit/cifar.py)")

    def build() -> nn.Module:
        lk.seed_everything(0)
        return lk.CifarNet(widths=WIDTHS[width])

    return build


def load_images(kind: str, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training images ``(n, 3, 32, 32)`` and labels on ``device``: CIFAR-10 (normalised) or random."""
    if kind == "synthetic":
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
    else:
        train = lk.load_dataset("cifar10", "train")
        x, y = lk.as_tensors(lk.subset(train, n, seed=0))
        x = x.float()
        mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)
        x = (x - mean) / std
    return x.to(device), y.to(device)


# --------------------------------------------------------------------------- the ways of training
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(device: torch.device, on: bool):
    """Mixed precision as ``lk.fit(amp=True)`` does it: bfloat16 on the CPU, float16 on CUDA."""
    if not on:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if device.type == "cpu" else torch.float16)


def plain_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                *, channels_last: bool = False, amp: bool = False, seed: int = 0) -> None:
    """The textbook loop over ``(x, y)`` in shuffled batches (what a PyTorch tutorial writes)."""
    model.train()
    g = torch.Generator(device=x.device).manual_seed(seed)
    order = torch.randperm(x.shape[0], generator=g, device=x.device)
    for i in range(0, x.shape[0], batch_size):
        idx = order[i:i + batch_size]
        xb, yb = x[idx], y[idx]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        with autocast(x.device, amp):
            loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()


def fit_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, batch_size: int,
              *, amp: bool = False, channels_last: bool = False, seed: int = 0) -> None:
    """One epoch of ``lk.fit`` over the pair ``(x, y)`` (a ``DeviceLoader`` inside), without validation."""
    lk.fit(model, (x, y), epochs=1, batch_size=batch_size, optimizer=opt, seed=seed, amp=amp,
           channels_last=channels_last)


ROWS: dict[str, dict] = {
    "plain loop, fp32": dict(run=plain_epoch),
    "lk.fit, fp32": dict(run=fit_epoch),
    "plain loop, channels-last": dict(run=plain_epoch, channels_last=True),
    "lk.fit(channels_last=True)": dict(run=fit_epoch, channels_last=True),
    "plain loop, bf16 autocast": dict(run=plain_epoch, amp=True),
    "lk.fit(amp=True), bf16 autocast": dict(run=fit_epoch, amp=True),
}


#: ``--compile`` adds this row: the plain loop on ``torch.compile(model)`` (TorchInductor; on the CPU it
#: generates and compiles C++ with the system's compiler during the untimed warm-up). It fuses the
#: element-wise work (batch norm, ReLU, dropout) into fewer passes over memory.
COMPILE_ROW = ("plain loop, torch.compile", dict(run=plain_epoch, compile=True))


def prepare(build: Callable[[], nn.Module], device: torch.device, row: dict) -> tuple[nn.Module, torch.optim.Optimizer]:
    model = build().to(device)
    if row.get("channels_last") and row["run"] is plain_epoch:  # fit converts the model itself
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    if row.get("compile"):
        model = torch.compile(model)
    return model, opt


def run_row(row: dict, model, opt, x, y, batch_size: int, seed: int) -> None:
    kwargs = {k: v for k, v in row.items() if k not in ("run", "compile")}
    row["run"](model, opt, x, y, batch_size, seed=seed, **kwargs)


# --------------------------------------------------------------------------- the machine
def bf16_support() -> dict[str, object]:
    """What this CPU and this torch say about native bfloat16."""
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    report: dict[str, object] = {
        "cpu": _cpu_name(),
        "cpuinfo avx512_bf16": "avx512_bf16" in flags,
        "cpuinfo amx_bf16": "amx_bf16" in flags,
        "torch capability": torch.backends.cpu.get_cpu_capability(),
    }
    with contextlib.suppress(Exception):  # a private but telling probe: what oneDNN will use
        report["oneDNN bf16 supported"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    report["native bf16"] = bool(report["cpuinfo avx512_bf16"] or report["cpuinfo amx_bf16"])
    return report


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def matmul_gflops(n: int, device: torch.device, dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """Median GFLOP/s of ``torch.mm`` of two ``n x n`` matrices (2 n^3 FLOPs), after one warm-up product."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    torch.mm(a, b)
    rates = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


# --------------------------------------------------------------------------- profile
GEMM_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::mm", "aten::addmm",
            "aten::_convolution", "aten::thnn_conv2d", "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward")


def profile(build, device, x, y, batch_size: int, train_flops: float, peak: float, batches: int = 8) -> None:
    """torch.profiler's operator table for a few batches of the plain loop and of ``lk.fit``.

    Then the share of the time spent in convolutions and matrix products
    (their forward and backward kernels), and the rate those kernels reach by
    themselves: the training FLOPs over their time alone.
    """
    from torch.profiler import ProfilerActivity, profile as torch_profile

    n = min(batches * batch_size, x.shape[0])
    for name in ("plain loop, fp32", "lk.fit, fp32"):
        row = ROWS[name]
        model, opt = prepare(build, device, row)
        run_row(row, model, opt, x[:batch_size], y[:batch_size], batch_size, 0)  # warm-up
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with torch_profile(activities=activities) as prof:
            run_row(row, model, opt, x[:n], y[:n], batch_size, 1)
        events = prof.key_averages()
        print(f"\n-- torch.profiler: {name}, {n} images in batches of {batch_size}")
        print(events.table(sort_by="self_cpu_time_total", row_limit=15))
        total = sum(e.self_cpu_time_total for e in events) / 1e6
        gemm = sum(e.self_cpu_time_total for e in events if e.key in GEMM_OPS) / 1e6
        rate = n * train_flops / gemm / 1e9
        at_peak = n * train_flops / (peak * 1e9)  # the convolutions' time if they ran at the matmul peak
        print(f"convolutions and matrix products: {100 * gemm / total:.0f}% of the operators' time, at "
              f"{rate:.1f} GFLOP/s = {100 * rate / peak:.0f}% of the fp32 matmul peak by themselves. The other "
              f"{100 * (1 - gemm / total):.0f}% (batch norm, ReLU, pooling, dropout, Adam's update: element-wise, "
              f"memory-bound, no counted FLOPs) would cap the whole at "
              f"{100 * at_peak / (at_peak + total - gemm):.0f}% of the peak even with convolutions at the peak.")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 512 images per window, 3 repeats, synthetic data")
    parser.add_argument("--n", type=int, default=None, help="images per timed fp32 window (default 2048; --quick 512)")
    parser.add_argument("--n-amp", type=int, default=None,
                        help="images per timed autocast window (default: --n where the device has native 16-bit "
                             "floats, else --n / 8, at least one batch)")
    parser.add_argument("--repeats", type=int, default=None, help="timed windows per row (default 5; --quick 3)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"default: lesson 10's, {BATCH_SIZES['fast']} (fast) or {BATCH_SIZES['full']} (full)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up batches before each window (default 2)")
    parser.add_argument("--data", choices=["cifar10", "synthetic"], default=None,
                        help="CIFAR-10 images from the mirror (default) or random tensors (--quick)")
    parser.add_argument("--width", choices=sorted(WIDTHS), default="fast",
                        help=f"lk.CifarNet's widths: fast {WIDTHS['fast']} (default) or full {WIDTHS['full']}")
    parser.add_argument("--peak-size", type=int, default=None, help="side of the square fp32 matmul (default 2048; --quick 1024)")
    parser.add_argument("--verbose", action="store_true", help="print each timed window as it ends")
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler tables of fit and the plain loop")
    parser.add_argument("--compile", action="store_true",
                        help="add a row: the plain loop on torch.compile(model) (needs a C++ compiler on the CPU; "
                             "the compilation happens in the untimed warm-up)")
    args = parser.parse_args(argv)
    if args.compile:
        ROWS[COMPILE_ROW[0]] = COMPILE_ROW[1]
    args.batch_size = args.batch_size or BATCH_SIZES[args.width]
    dev = lk.device()
    bf16 = bf16_support()
    native = dev.type == "cuda" or bool(bf16["native bf16"])
    n = args.n or (512 if args.quick else 2048)
    n_amp = args.n_amp or (n if native else max(args.batch_size, n // 8))
    repeats = args.repeats or (3 if args.quick else 5)
    data = args.data or ("synthetic" if args.quick else "cifar10")
    peak_size = args.peak_size or (1024 if args.quick else 2048)

    build = make_network(args.width)
    x, y = load_images(data, max(n, n_amp), dev)
    warm_x, warm_y = x[:args.warmup * args.batch_size], y[:args.warmup * args.batch_size]

    rates: dict[str, list[float]] = {name: [] for name in ROWS}
    peaks: list[float] = []
    for r in range(repeats):
        peaks.append(matmul_gflops(peak_size, dev, repeats=3))  # interleaved too: the peak under the same load
        for name, row in ROWS.items():  # interleaved, so load changes hit all rows alike
            size = n_amp if row.get("amp") else n
            model, opt = prepare(build, dev, row)
            run_row(row, model, opt, warm_x, warm_y, args.batch_size, seed=-1 - r)  # warm-up, not timed
            sync(dev)
            start = time.perf_counter()
            run_row(row, model, opt, x[:size], y[:size], args.batch_size, seed=r)
            sync(dev)
            rates[name].append(size / (time.perf_counter() - start))
            if args.verbose:
                print(f"  window {r + 1}/{repeats} {name}: {rates[name][-1]:.1f} images/s", flush=True)
    peak_fp32 = statistics.median(peaks)
    low = torch.bfloat16 if dev.type == "cpu" else torch.float16
    low_size = peak_size if native else 512  # emulated bfloat16 is ~50x slower: a smaller product
    peak_low = matmul_gflops(low_size, dev, low, repeats=3)
    fp32_at_low = matmul_gflops(low_size, dev, repeats=3)

    model = build()
    mult_adds = lk.count_mult_adds(model, (1, 3, 32, 32))
    train_flops = 3 * 2 * mult_adds  # per image: forward + input gradient + weight gradient
    params = lk.count_parameters(model)[0]

    print(f"device: {dev.type} | torch {torch.__version__} | torch threads: {torch.get_num_threads()} | "
          f"CPU: {bf16['cpu']} | load average: {_load()}")
    print("native bf16: " + ", ".join(f"{k} = {v}" for k, v in bf16.items() if k != "cpu"))
    print(f"network: lk.CifarNet(widths={WIDTHS[args.width]}), {params:,} parameters, {mult_adds / 1e6:.1f} M forward "
          f"multiply-adds per image -> {train_flops / 1e6:.1f} MFLOP per training image (3 x 2 x mult-adds)")
    print(f"data: {data} on {dev.type}, batch {args.batch_size}, Adam lr {LR}, {n} images per window "
          f"({n_amp} with autocast), {args.warmup} warm-up batches, median of {repeats} interleaved windows")
    print(f"fp32 matmul peak ({peak_size}x{peak_size} torch.mm, median of {repeats}): {peak_fp32:.1f} GFLOP/s "
          f"(spread {_spread(peaks):.0f}%) | {str(low).replace('torch.', '')} matmul ({low_size}x{low_size}): "
          f"{peak_low:.1f} GFLOP/s, {peak_low / fp32_at_low:.2f}x fp32 at that size")
    print()
    ref = statistics.median(rates["plain loop, fp32"])
    print(f"{'training':<34}{'images/s':>10}{'ratio':>8}{'GFLOP/s':>10}{'% fp32 peak':>13}{'spread':>9}")
    rate: dict[str, float] = {}
    for name, rs in rates.items():
        rate[name] = statistics.median(rs)
        gflops = rate[name] * train_flops / 1e9
        print(f"{name:<34}{rate[name]:>10.1f}{rate[name] / ref:>8.2f}{gflops:>10.1f}"
              f"{100 * gflops / peak_fp32:>12.0f}%{_spread(rs):>8.0f}%")
    print("(ratio: images/s over the plain fp32 loop's; spread: (fastest - slowest) / median window)")
    print()
    fit_ratio = rate["lk.fit, fp32"] / ref
    cl_ratio = rate["lk.fit(channels_last=True)"] / rate["plain loop, channels-last"]
    fp32_rows = ["plain loop, fp32", "lk.fit, fp32", "plain loop, channels-last", "lk.fit(channels_last=True)"]
    best = max(fp32_rows + [COMPILE_ROW[0]] * (COMPILE_ROW[0] in rate), key=rate.__getitem__)
    fraction = rate[best] * train_flops / 1e9 / peak_fp32
    print(f"goal: lk.fit >= 0.95x the plain loop -> {'PASS' if fit_ratio >= 0.95 else 'FAIL'} ({fit_ratio:.2f}x; "
          f"channels-last: lk.fit {cl_ratio:.2f}x the plain channels-last loop)")
    short = "" if fraction >= 0.5 else f", {100 * (0.5 - fraction):.0f} points short, {0.5 / fraction:.2f}x too slow"
    print(f"goal: fp32 training >= 50% of the fp32 matmul peak -> {'PASS' if fraction >= 0.5 else 'FAIL'} "
          f"({100 * fraction:.0f}%, {best}{short})")
    amp_ratio = rate["plain loop, bf16 autocast"] / ref
    print(f"autocast ({str(low).replace('torch.', '')}): {amp_ratio:.2f}x the fp32 loop here (native: {native}); "
          f"lk.fit's amp=None keeps it {'on' if dev.type == 'cuda' else 'off'} on {dev.type}"
          + ("" if dev.type == "cuda" else " (its cost in accuracy is not measured in the full profile)"))
    if args.profile:
        profile(build, dev, x, y, args.batch_size, train_flops, peak_fp32)


def _spread(values: list[float]) -> float:
    """(largest - smallest) / median, in percent."""
    return 100 * (max(values) - min(values)) / statistics.median(values)


def _load() -> str:
    with contextlib.suppress(OSError, AttributeError):
        import os

        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    return "unknown"


if __name__ == "__main__":
    main()
