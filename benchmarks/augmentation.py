"""What augmentation costs: one training epoch, four data paths, side by side.

Lesson 07 ("What augmentation costs"). The same model (lk.SimpleCNN) is trained
for one epoch on the same Fashion-MNIST images along four data paths:

1. in-memory batches (lk.DeviceLoader), no augmentation       <- the reference
2. in-memory batches + batched random shift on the device      (lk.RandomTranslate)
3. DataLoader over a per-sample PIL dataset, no augmentation   (lk.PILAugmentedDataset)
4. the same + a per-sample random shift in __getitem__         (lk.PerSampleShift)

Paths 1 and 3 show what the per-sample data path costs by itself; 2 and 4 what a
random shift adds to each. Every path runs ``--repeats`` times, interleaved,
and the median epoch time is reported with its ratio to path 1.
Goal on a 2-core CPU: path 2 costs at most 1.15x path 1.

Usage::

    LESSONKIT_MIRROR=../shared/data python benchmarks/augmentation.py [--n 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import lessonkit as lk


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="training images per epoch (default 10,000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-shift", type=int, default=4)
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64])
    args = parser.parse_args(argv)

    dev = lk.device()
    train_full = lk.load_dataset("fashion_mnist", "train")
    base = lk.subset(train_full, args.n, seed=0)  # a Subset: PILAugmentedDataset and as_tensors both take it
    black = train_full.black
    x, y = lk.as_tensors(base)

    def make_model() -> torch.nn.Module:
        lk.seed_everything(0)
        return lk.SimpleCNN(1, 10, widths=tuple(args.widths), head="flatten", in_size=28).to(dev)

    paths = {
        "in-memory batches, no augmentation": lambda: (lk.DeviceLoader((x, y), args.batch_size, shuffle=True, device=dev), None),
        "in-memory batches + batched shift on device": lambda: (
            lk.DeviceLoader((x, y), args.batch_size, shuffle=True, device=dev),
            lk.RandomTranslate(args.max_shift, fill=black),
        ),
        "DataLoader, per-sample PIL, no augmentation": lambda: (
            lk.make_loader(lk.PILAugmentedDataset(base), args.batch_size, shuffle=True),
            None,
        ),
        "DataLoader, per-sample PIL + shift in __getitem__": lambda: (
            lk.make_loader(lk.PILAugmentedDataset(base, lk.PerSampleShift(args.max_shift)), args.batch_size, shuffle=True),
            None,
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.repeats):
        for name, build in paths.items():  # interleaved, so load changes hit all paths alike
            loader, transform = build()
            model = make_model()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            lk.fit(model, loader, epochs=1, device=dev, batch_transform=transform)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)

    ref = statistics.median(times[next(iter(paths))])
    print(f"device: {dev.type} | torch threads: {torch.get_num_threads()} | {args.n} images/epoch, "
          f"batch {args.batch_size}, SimpleCNN{tuple(args.widths)}, max shift {args.max_shift} px, "
          f"median of {args.repeats}")
    print(f"{'data path':<52}{'epoch (s)':>10}{'ratio':>8}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<52}{med:>10.2f}{med / ref:>8.2f}")
    batched = statistics.median(times["in-memory batches + batched shift on device"]) / ref
    print(f"goal: batched augmentation <= 1.15x the unaugmented epoch -> {'met' if batched <= 1.15 else 'NOT met'} ({batched:.2f}x)")


if __name__ == "__main__":
    main()
