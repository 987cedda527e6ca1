"""Training fast: how close lesson 10's fast-training network comes to the machine's peak.

Lesson 10 trains ``lk.FastCifarNet`` with the fast-training recipe
(``lk.Recipe``, ``lk.train_fast``), whose point is a short wall-clock time.
Whether that time is good depends on the machine, so this script measures the
recipe's training step against the fastest floating-point kernel the machine
has, and shows which execution mode gets closest.

The step is the recipe's: a batch of 32x32 images (CIFAR-10 from the mirror, or
random tensors with ``--data synthetic``) already in memory on the device,
forward, label-smoothed cross-entropy summed over the batch, backward, and SGD
with Nesterov momentum and weight decay. Augmentation, lookahead and the
learning-rate schedule are left out: they are cheap element-wise work outside
the step. The network has airbench94's widths 64-256-256 (``--width full``) or
the fast profile's 64-128-128 (``--width fast``, the default), batch 1024
(``--batch-size`` to change it). Its rows:

1. fp32, contiguous (NCHW) tensors                                         <- the reference
2. fp32, channels-last (NHWC) model and batches, as ``lk.train_fast`` runs it
3. bfloat16 autocast, channels-last (only where ``lk.native_bf16()`` is true:
   elsewhere bfloat16 is emulated, several times slower than fp32, and the
   recipe keeps it off; the row is then skipped and the reason printed)
4. ``torch.compile(model)``, fp32, channels-last (TorchInductor fuses the
   element-wise work: batch norm, GELU, pooling, into fewer passes over memory;
   on the CPU it compiles C++ during the untimed warm-up)
5. ``torch.compile(model)``, bfloat16 autocast, channels-last (native only)

A second, smaller table keeps lesson 10's first network, ``lk.CifarNet`` with
Adam, trained by a plain PyTorch loop and by the course's ``lk.fit``: the
course's loop must not cost time that a hand-written loop would not.

Each row is one *timed window*: ``--n`` images in batches, after untimed
warm-up batches when the row is set up. Every row runs ``--repeats`` windows,
interleaved with the other rows (so that other load on the machine hits all
rows alike), and the table shows the median window as images per second, its
ratio to the reference row, GFLOP/s, the percentage of the peak and the spread
of the windows.

FLOPs: the network's forward multiply-adds (``lk.count_mult_adds``:
convolutions and linear layers), x2 for FLOPs, x3 for a training step, as
``lk.train_fast`` counts them: the backward pass computes, for each
convolution and linear layer, an input gradient and a weight gradient, each as
costly as the forward product (a slight over-count for the frozen whitening
layer; element-wise work is not counted).

Peak: the larger of two fp32 rates, both printed and measured in every repeat:
a large 3x3 convolution (``--conv-batch`` x 256 channels -> 256 channels,
16x16, padding 1, channels-last; 2 N Cout H W Cin 9 FLOPs), which on the CPU
runs oneDNN's fastest fp32 kernel, and a large square ``torch.mm``
(``--peak-size``, 2 n^3 FLOPs). Both are needed: on some CPUs (AMD's) MKL's
matrix product reaches about half of what oneDNN's convolutions do, so the
matmul alone would flatter the training. bfloat16 rows are shown against the
same fp32 peak, so they may exceed 100%.

Goals: the best mode trains at >= 50% of the peak (the network is mostly 3x3
convolutions, so most of its time should run at the convolution's rate);
``lk.fit`` >= 0.95x the plain loop. ``--profile`` adds ``torch.profiler``'s
operator table for a few fp32 channels-last steps, to find where the time
goes.

Usage::

    LESSONKIT_MIRROR=../shared/data python benchmarks/training.py [--quick] [--width {fast,full}]
        [--batch-size 1024] [--n N] [--repeats 5] [--warmup 2] [--data {cifar10,synthetic}]
        [--peak-size 2048] [--conv-batch 256] [--no-compile] [--verbose] [--profile]

Default (several minutes on an idle 2-core CPU, most of it compiling): the fast
profile's widths, batch 1024, 2048 CIFAR-10 images per window, 5 repeats.
``--quick``: batch 256, 512 random images per window, 3 repeats, smaller peak
kernels (a 1024 matmul, a batch-64 convolution). ``--width full`` is about 2x
the work per image. ``--no-compile`` drops the ``torch.compile`` rows (they need
a C++ compiler on the CPU; if compiling fails, the rows are skipped with the
error).
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

RECIPE = lk.Recipe()
# FastCifarNet's widths per profile: airbench94's (the recipe's default) and lesson 10's fast profile's.
FAST_WIDTHS = {"fast": (64, 128, 128), "full": RECIPE.widths}
# lk.fit against a plain loop: the VGG-style lk.CifarNet (lesson 10's baseline) at lessonkit.cifar's sizes
CIFAR_WIDTHS = lk.CIFAR_WIDTHS
CIFAR_BATCH_SIZES = lk.CIFAR_BATCH_SIZES
ADAM_LR = 1e-3


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
    """bfloat16 autocast, as ``lk.train_fast`` uses it where the hardware has native bfloat16."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else contextlib.nullcontext()


def plain_epoch(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                batch_size: int, *, channels_last: bool = False, amp: bool = False, seed: int = 0) -> None:
    """The textbook loop over ``(x, y)`` in shuffled batches: forward, loss, backward, step."""
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
            loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()


def fit_epoch(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
              batch_size: int, *, seed: int = 0, **_) -> None:
    """One epoch of ``lk.fit`` over the pair ``(x, y)`` (a ``DeviceLoader`` inside), without validation."""
    lk.fit(model, (x, y), epochs=1, batch_size=batch_size, optimizer=opt, seed=seed, amp=False)


#: The headline table: lesson 10's FastCifarNet step. ``native`` rows need native bfloat16, ``compile`` rows
#: ``torch.compile``.
FAST_ROWS: dict[str, dict] = {
    "fp32": dict(),
    "fp32, channels-last": dict(channels_last=True),
    "bf16 autocast, channels-last": dict(channels_last=True, amp=True),
    "torch.compile, fp32, channels-last": dict(channels_last=True, compile=True),
    "torch.compile, bf16, channels-last": dict(channels_last=True, amp=True, compile=True),
}
#: The second table: lesson 10's CifarNet, the course's loop against a hand-written one.
FIT_ROWS: dict[str, dict] = {
    "CifarNet, plain loop, fp32": dict(net="cifar"),
    "CifarNet, lk.fit, fp32": dict(net="cifar", run=fit_epoch),
}


def prepare(row: dict, width: str, batch_size: int,
            device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer, Callable]:
    """A fresh seeded network, its optimiser and its loss for ``row``."""
    lk.seed_everything(0)
    if row.get("net") == "cifar":
        model = lk.CifarNet(widths=CIFAR_WIDTHS[width]).to(device)
        return model, torch.optim.Adam(model.parameters(), lr=ADAM_LR), F.cross_entropy
    model = lk.FastCifarNet(FAST_WIDTHS[width]).to(device)
    if row.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    # the recipe's optimiser and loss (one parameter group: the learning rates do not change the cost)
    kilostep = 1024 * (1 + 1 / (1 - RECIPE.momentum))
    lr = RECIPE.lr / kilostep
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=RECIPE.momentum,
                          nesterov=True, weight_decay=RECIPE.weight_decay * batch_size / kilostep / lr)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=RECIPE.label_smoothing, reduction="sum")
    if row.get("compile"):
        model = torch.compile(model)
    return model, opt, loss_fn


def run_row(row: dict, state: tuple, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
    model, opt, loss_fn = state
    row.get("run", plain_epoch)(model, opt, loss_fn, x, y, batch_size, seed=seed,
                                channels_last=row.get("channels_last", False), amp=row.get("amp", False))


# --------------------------------------------------------------------------- the machine's peak
def _timed_gflops(flops: float, op: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median GFLOP/s of ``op`` (``flops`` each call) over ``repeats`` calls, after one untimed call."""
    op()
    rates = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        op()
        sync(device)
        rates.append(flops / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def matmul_gflops(n: int, device: torch.device, repeats: int = 3) -> float:
    """fp32 ``torch.mm`` of two ``n x n`` matrices: 2 n^3 FLOPs."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g).to(device), torch.randn(n, n, generator=g).to(device)
    return _timed_gflops(2 * n**3, lambda: torch.mm(a, b), device, repeats)


def conv_gflops(batch: int, device: torch.device, channels: int = 256, side: int = 16, repeats: int = 3) -> float:
    """fp32 3x3 convolution, ``channels`` -> ``channels`` on ``side`` x ``side``, padding 1, channels-last."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, side, side, generator=g).to(device, memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 3, 3, generator=g).to(device, memory_format=torch.channels_last)
    flops = 2 * batch * channels * side * side * channels * 9
    return _timed_gflops(flops, lambda: F.conv2d(x, w, padding=1), device, repeats)


def machine_report() -> str:
    """What this CPU and this torch say about native bfloat16 (``lk.native_bf16`` decides)."""
    report = {"lk.native_bf16()": lk.native_bf16(), "torch capability": torch.backends.cpu.get_cpu_capability()}
    with contextlib.suppress(Exception):  # a private but telling probe: what oneDNN will use
        report["oneDNN bf16"] = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return ", ".join(f"{k} = {v}" for k, v in report.items())


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


# --------------------------------------------------------------------------- profile
GEMM_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::mm", "aten::addmm",
            "aten::_convolution", "aten::thnn_conv2d", "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward")


def profile(width: str, device, x, y, batch_size: int, train_flops: float, peak: float, batches: int = 3) -> None:
    """torch.profiler's operator table for a few fp32 channels-last steps, and the convolutions' share of the time."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    n = min(batches * batch_size, x.shape[0])
    row = FAST_ROWS["fp32, channels-last"]
    state = prepare(row, width, batch_size, device)
    run_row(row, state, x[:batch_size], y[:batch_size], batch_size, 0)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        run_row(row, state, x[:n], y[:n], batch_size, 1)
    events = prof.key_averages()
    print(f"\n-- torch.profiler: FastCifarNet fp32, channels-last, {n} images in batches of {batch_size}")
    print(events.table(sort_by="self_cpu_time_total", row_limit=15))
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    gemm = sum(e.self_cpu_time_total for e in events if e.key in GEMM_OPS) / 1e6
    rate = n * train_flops / gemm / 1e9
    at_peak = n * train_flops / (peak * 1e9)  # the convolutions' time if they ran at the peak
    print(f"convolutions and matrix products: {100 * gemm / total:.0f}% of the operators' time, at {rate:.1f} "
          f"GFLOP/s = {100 * rate / peak:.0f}% of the peak by themselves. The other {100 * (1 - gemm / total):.0f}% "
          f"(batch norm, GELU, pooling, the optimiser: element-wise, memory-bound, no counted FLOPs) would cap the "
          f"whole at {100 * at_peak / (at_peak + total - gemm):.0f}% of the peak even with convolutions at the peak.")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a short run: batch 256, 512 random images per window, 3 repeats, small peak kernels")
    parser.add_argument("--width", choices=sorted(FAST_WIDTHS), default="fast",
                        help=f"FastCifarNet's widths: fast {FAST_WIDTHS['fast']} (default) or full {FAST_WIDTHS['full']}")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"FastCifarNet's batch (default the recipe's {RECIPE.batch_size}; --quick 256)")
    parser.add_argument("--n", type=int, default=None, help="images per timed window, rounded down to whole batches (default 2 batches)")
    parser.add_argument("--repeats", type=int, default=None, help="timed windows per row (default 5; --quick 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up batches when a row is set up (default 2)")
    parser.add_argument("--data", choices=["cifar10", "synthetic"], default=None,
                        help="CIFAR-10 images from the mirror (default) or random tensors (--quick)")
    parser.add_argument("--peak-size", type=int, default=None, help="side of the square fp32 matmul (default 2048; --quick 1024)")
    parser.add_argument("--conv-batch", type=int, default=None, help="batch of the peak convolution (default 256; --quick 64)")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rows")
    parser.add_argument("--verbose", action="store_true", help="print each timed window as it ends")
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's table of fp32 channels-last steps")
    args = parser.parse_args(argv)
    batch = args.batch_size or (256 if args.quick else RECIPE.batch_size)
    n = (args.n or 2 * batch) // batch * batch  # whole batches: a last, smaller one would recompile
    if n < batch:
        parser.error(f"--n must hold at least one batch ({batch} images), got {args.n}")
    repeats = args.repeats or (3 if args.quick else 5)
    data = args.data or ("synthetic" if args.quick else "cifar10")
    peak_size = args.peak_size or (1024 if args.quick else 2048)
    conv_batch = args.conv_batch or (64 if args.quick else 256)
    dev = lk.device()
    native = lk.native_bf16()
    x, y = load_images(data, n, dev)
    fit_batch = CIFAR_BATCH_SIZES[args.width]

    # set up every row once (its warm-up compiles, if it compiles); then interleave the timed windows
    skipped: dict[str, str] = {}
    rows = {**FAST_ROWS, **FIT_ROWS}
    states: dict[str, tuple] = {}
    for name, row in rows.items():
        if row.get("amp") and not native:
            skipped[name] = "no native bfloat16 here (lk.native_bf16() is False): emulated, it would only be slow"
            continue
        if row.get("compile") and args.no_compile:
            skipped[name] = "--no-compile"
            continue
        b = fit_batch if row.get("net") == "cifar" else batch
        try:
            states[name] = prepare(row, args.width, b, dev)
            run_row(row, states[name], x[:args.warmup * b], y[:args.warmup * b], b, seed=-1)
        except Exception as err:  # noqa: BLE001 - torch.compile without a working compiler: report, go on
            if not row.get("compile"):
                raise
            states.pop(name, None)
            skipped[name] = f"torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
        if args.verbose:
            print(f"  set up {name}", flush=True)
    rates: dict[str, list[float]] = {name: [] for name in states}
    conv_peaks: list[float] = []
    mm_peaks: list[float] = []
    for r in range(repeats):
        conv_peaks.append(conv_gflops(conv_batch, dev))  # interleaved too: the peaks under the same load
        mm_peaks.append(matmul_gflops(peak_size, dev))
        for name, state in states.items():
            row = rows[name]
            b = fit_batch if row.get("net") == "cifar" else batch
            sync(dev)
            start = time.perf_counter()
            run_row(row, state, x, y, b, seed=r)
            sync(dev)
            rates[name].append(n / (time.perf_counter() - start))
            if args.verbose:
                print(f"  window {r + 1}/{repeats} {name}: {rates[name][-1]:.1f} images/s", flush=True)
    conv_peak, mm_peak = statistics.median(conv_peaks), statistics.median(mm_peaks)
    peak = max(conv_peak, mm_peak)

    def flops_per_image(model: nn.Module) -> float:  # forward + input gradient + weight gradient
        return 3 * 2 * lk.count_mult_adds(model, (1, 3, 32, 32))

    fast_net, cifar_net = lk.FastCifarNet(FAST_WIDTHS[args.width]), lk.CifarNet(widths=CIFAR_WIDTHS[args.width])
    flops = {"fast": flops_per_image(fast_net), "cifar": flops_per_image(cifar_net)}

    print(f"device: {dev.type} | torch {torch.__version__} | torch threads: {torch.get_num_threads()} | "
          f"CPU: {_cpu_name()} | load average: {_load()}")
    print(f"bfloat16: {machine_report()}")
    print(f"network: lk.FastCifarNet({FAST_WIDTHS[args.width]}), {lk.count_parameters(fast_net)[0]:,} trainable "
          f"parameters, {flops['fast'] / 6e6:.1f} M forward multiply-adds per image -> {flops['fast'] / 1e6:.0f} "
          f"MFLOP per training image (3 x 2 x mult-adds)")
    print(f"step: batch {batch}, SGD Nesterov (momentum {RECIPE.momentum}), cross-entropy with label smoothing "
          f"{RECIPE.label_smoothing}; data: {data} on {dev.type}, {n} images per window, {args.warmup} warm-up "
          f"batches per row, median of {repeats} interleaved windows")
    print(f"fp32 peak: 3x3 convolution ({conv_batch}x256x16x16 -> 256, channels-last) {conv_peak:.1f} GFLOP/s "
          f"(spread {_spread(conv_peaks):.0f}%) | torch.mm ({peak_size}x{peak_size}) {mm_peak:.1f} GFLOP/s "
          f"(spread {_spread(mm_peaks):.0f}%) -> peak = {peak:.1f} GFLOP/s ({'convolution' if conv_peak >= mm_peak else 'matmul'})")

    def table(names: list[str], ref: str, kind: str) -> dict[str, float]:
        print(f"\n{'training step':<38}{'images/s':>10}{'ratio':>8}{'GFLOP/s':>10}{'% peak':>8}{'spread':>8}")
        med = {name: statistics.median(rates[name]) for name in names if name in rates}
        for name in names:
            if name not in med:
                print(f"{name:<38}  skipped: {skipped[name]}")
                continue
            gflops = med[name] * flops[kind] / 1e9
            ratio = f"{med[name] / med[ref]:>8.2f}" if ref in med else f"{'-':>8}"
            print(f"{name:<38}{med[name]:>10.1f}{ratio}{gflops:>10.1f}{100 * gflops / peak:>7.0f}%"
                  f"{_spread(rates[name]):>7.0f}%")
        return med

    med = table(list(FAST_ROWS), "fp32", "fast")
    print(f"(ratio: images/s over the fp32 row's; % peak: of the fp32 peak above, bf16 rows included; "
          f"spread: (fastest - slowest) / median window)")
    fit_med = table(list(FIT_ROWS), "CifarNet, plain loop, fp32", "cifar")
    print(f"(lesson 10's baseline lk.CifarNet({CIFAR_WIDTHS[args.width]}), Adam lr {ADAM_LR}, batch {fit_batch}, the same "
          f"{n} images per window)")
    print()
    best = max(med, key=med.__getitem__)
    fraction = med[best] * flops["fast"] / 1e9 / peak
    short = "" if fraction >= 0.5 else f", {100 * (0.5 - fraction):.0f} points short, {0.5 / fraction:.2f}x too slow"
    print(f"goal: the best mode trains at >= 50% of the fp32 peak -> {'PASS' if fraction >= 0.5 else 'FAIL'} "
          f"({100 * fraction:.0f}%, {best}{short})")
    fit_ratio = fit_med["CifarNet, lk.fit, fp32"] / fit_med["CifarNet, plain loop, fp32"]
    print(f"goal: lk.fit >= 0.95x the plain loop -> {'PASS' if fit_ratio >= 0.95 else 'FAIL'} ({fit_ratio:.2f}x)")
    if args.profile:
        profile(args.width, dev, x, y, batch, flops["fast"], peak)


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
