"""Memory allocation on the CPU: what glibc's malloc settings cost a training step.

A CPU training step at lesson 11's size (a batch of 32 photographs at 150x150)
allocates activations of tens of megabytes and frees them again. Above its
*mmap threshold* glibc's malloc takes such blocks straight from the kernel
(``mmap``) and gives them back when they are freed (``munmap``); the next step's
allocation then touches fresh pages, and the kernel zeroes and maps each 4 KB
page on its first touch (a *minor page fault*). On two cores that can cost a
large share of the step's time, which shows as system CPU time in ``top``.
Three environment variables, read by glibc when a process starts, keep freed
memory in the process's heap instead; the Makefile exports them for every
notebook the course executes (``make execute``, ``make full-profile``, nbval).

Each row runs the same training step (lesson 11's network, bfloat16 autocast
where the CPU computes it natively, channels-last, Adam) in a fresh Python
process started with the row's environment:

1. glibc's defaults                                                  <- the reference
2. ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_TOP_PAD_``
   as the Makefile sets them
3. ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (transparent huge pages for
   malloc's memory, glibc 2.35 or later): fewer, larger page faults

The rows are interleaved over ``--repeats`` rounds, so that other load hits
them alike; the table shows the median images per second, its ratio to the
reference, and the minor page faults per image (``getrusage`` of the timed
steps). Goal: the Makefile's row at least 1.2x the reference where the
reference faults more than 100 pages per image (elsewhere the settings have
nothing to save, and any ratio near 1 is as good).

    python benchmarks/allocator.py [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
# The Makefile's own settings, read from it so that the benchmark measures what it exports
MAKEFILE_SETTINGS = dict(re.findall(r"^export (MALLOC_\w+) \?= (\S+)$", MAKEFILE.read_text(encoding="utf-8"), re.M))
ROWS = {
    "glibc defaults": {},
    "Makefile's MALLOC_* settings": MAKEFILE_SETTINGS,
    "glibc.malloc.hugetlb=1": {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"},
}
SETTINGS = {k for env in ROWS.values() for k in env}

# The child: lesson 11's network and step, timed after two untimed warm-up steps.
CHILD = r"""
import json, resource, sys, time
import torch
from torch import nn
import lessonkit as lk

steps, batch = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
net = nn.Sequential(
    nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(64, 128, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(128, 128, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 512), nn.ReLU(), nn.Linear(512, 2),
).to(memory_format=torch.channels_last)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
x = torch.randn(batch, 3, 150, 150).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 2, (batch,))
bf16 = lk.native_bf16()

def step():
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()

for _ in range(2):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
for _ in range(steps):
    step()
seconds = time.perf_counter() - start
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(json.dumps({"images_per_s": steps * batch / seconds, "faults_per_image": faults / (steps * batch),
                  "bf16": bf16, "threads": torch.get_num_threads()}))
"""


def run_row(env: dict[str, str], steps: int, batch: int) -> dict:
    """One timed window in a fresh process whose environment is ours, minus the settings, plus ``env``."""
    child_env = {k: v for k, v in os.environ.items() if k not in SETTINGS} | env
    out = subprocess.run([sys.executable, "-c", CHILD, str(steps), str(batch)], env=child_env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per window")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="windows per row, interleaved")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("these are glibc's settings: the benchmark runs on Linux only")
        return 0
    results: dict[str, list[dict]] = {name: [] for name in ROWS}
    for _ in range(args.repeats):
        for name, env in ROWS.items():
            results[name].append(run_row(env, args.steps, args.batch_size))
    first = next(iter(results.values()))[0]
    print(f"lesson 11's training step, batch {args.batch_size} at 150x150, {'bfloat16' if first['bf16'] else 'fp32'}, "
          f"channels-last, {first['threads']} threads; median of {args.repeats} windows of {args.steps} steps")
    reference = statistics.median(r["images_per_s"] for r in results["glibc defaults"])
    print(f"{'environment':<32}{'images/s':>10}{'ratio':>8}{'page faults/image':>19}")
    for name, windows in results.items():
        rate = statistics.median(r["images_per_s"] for r in windows)
        faults = statistics.median(r["faults_per_image"] for r in windows)
        print(f"{name:<32}{rate:>10.1f}{rate / reference:>7.2f}x{faults:>19.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
