"""Time per image of lessonkit's Grad-CAM against pytorch_grad_cam's GradCAM (the `grad-cam` package).

Both run in one process on the same model, layer, images and target classes,
alternating, and the median of several repeats is reported. Goal: ratio <= 1.0.
The script also checks that both give the same heatmaps (max |difference|).

    .venv/bin/python benchmarks/gradcam.py [--repeats 5] [--batch 4] [--size 224]

Why lessonkit's can be faster: it asks autograd only for the gradient with
respect to the hooked activation (``torch.autograd.grad``), while the reference
runs a full ``backward()`` that also fills every parameter's ``.grad``, then
post-processes in NumPy/OpenCV.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torchvision
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import lessonkit as lk


def time_it(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)
    targets = [int(t) for t in torch.randint(0, 1000, (args.batch,))]

    cases = [
        ("resnet18", "layer4"),
        ("resnet50", "layer4"),
        ("mobilenet_v2", "features.18"),
    ]
    print(f"Grad-CAM, {args.batch} images of {args.size}x{args.size}, median of {args.repeats} runs, "
          f"{torch.get_num_threads()} CPU thread(s), torch {torch.__version__}")
    print(f"{'model / layer':28s} {'lessonkit ms/img':>17s} {'grad-cam ms/img':>16s} {'ratio':>7s} {'max |diff|':>11s}", flush=True)
    for name, layer in cases:
        model = torchvision.models.get_model(name, weights=None).eval()
        module = model.get_submodule(layer)
        ref = GradCAM(model=model, target_layers=[module])
        ref_targets = [ClassifierOutputTarget(t) for t in targets]

        def ours():
            return lk.grad_cam(model, x, layer, targets)

        def theirs():
            return ref(input_tensor=x, targets=ref_targets)

        diff = float(np.abs(ours().numpy() - theirs()).max())
        t_ours = time_it(ours, args.repeats)
        t_ref = time_it(theirs, args.repeats)
        ref.activations_and_grads.release()
        label = f"{name} / {layer}"
        print(f"{label:28s} {t_ours / args.batch * 1e3:17.1f} {t_ref / args.batch * 1e3:16.1f} {t_ours / t_ref:7.2f} {diff:11.1e}", flush=True)


if __name__ == "__main__":
    main()
