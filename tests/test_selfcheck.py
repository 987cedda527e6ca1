"""Tests for lessonkit.selfcheck: every exercise's check accepts a right answer, rejects a
wrong and a malformed one, and never shows the expected answer.

The right answers are computed here independently of the registry: by hand formulas,
by measuring (gradients, output shapes) or by a second implementation.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

import lessonkit as lk
from lessonkit import _homework_checks, selfcheck


# ---------------------------------------------------------------------------
# Independent right answers
# ---------------------------------------------------------------------------
def params_by_hand(c1, c2):
    # conv (no bias) + batch norm, twice, then a linear layer on c2 maps of 7x7
    return 9 * c1 + 2 * c1 + 9 * c1 * c2 + 2 * c2 + c2 * 7 * 7 * 10 + 10


def stride_fraction():
    x = torch.randn(1, 1, 30, 30)
    w = torch.randn(1, 1, 3, 3)
    return F.conv2d(x, w, padding=1, stride=2).numel() / F.conv2d(x, w, padding=1).numel()


def bank_features():
    bank = lk.gabor_bank((0.1, 0.2, 0.3), tuple(np.arange(6) * np.pi / 6), [2.5, 4.0])
    return len(bank) * (28 // 4) ** 2


def rf_measured():
    stack = nn.Sequential(nn.Conv2d(1, 1, 5), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, dilation=2),
                          nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3))
    return lk.empirical_receptive_field(stack, (1, 64, 64))[0][0]


def strided_features():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    )


def with_our_batchnorm(module):
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, lk.BatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum))
        else:
            with_our_batchnorm(child)
    return module


def second_choice(logits, targets):
    order = logits.argsort(dim=1, descending=True)
    return torch.nonzero(order[:, 1] == targets).flatten()


def mix_by_hand(xa, xb, ya, yb, lam, num_classes):
    eye = torch.eye(num_classes)
    return lam * xa + (1 - lam) * xb, lam * eye[ya] + (1 - lam) * eye[yb]


def invert_then_rotate(image, angle):
    # rotation copies values (nearest neighbour); only the fill must be inverted too
    return TF.rotate(TF.invert(image), angle, fill=255)


def rotate_then_invert_by_hand(image, angle):
    # an independent oracle: 255 - value, written out, after rotating with the default fill 0
    return 255 - TF.rotate(image, angle)


def strided_extra():
    return sum(nn.Conv2d(c, c, 3).weight.numel() + c for c in (16, 32))


def three_by_three():
    net = nn.Sequential(*(nn.Conv2d(64, 64, 3, padding=1, bias=False) for _ in range(3)))
    return sum(p.numel() for p in net.parameters()), lk.empirical_receptive_field(net, (64, 21, 21))[0][0]


def se_extra():
    def net(se):
        torch.manual_seed(0)
        m = lk.SimpleCNN(1, 10, widths=(16, 32))
        if se:
            for block in m.features:
                block.append(lk.SqueezeExcitation(block[0].out_channels, 4))
        return sum(p.numel() for p in m.parameters())

    return net(True) - net(False)


def grad_cam_with_hooks(model, x, layer, target):
    store = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, out: store.update(a=out))
    try:
        logits = model.eval()(x)
    finally:
        handle.remove()
    a = store["a"]
    grads = torch.autograd.grad(logits[torch.arange(len(x)), target].sum(), a)[0]
    return torch.relu((grads.mean(dim=(2, 3), keepdim=True) * a).sum(1)).detach()


def plus_one(f):
    return lambda *args: f(*args) + 1


def raises(*args):
    raise KeyError("typo")


def cifar_counts(widths, kernel_size, downsample):
    """lk.CifarNet's parameters and multiply-adds by hand (two bias-free convolutions + batch norm per stage)."""
    params, mult_adds, cin, side = 0, 0, 3, 32
    for width in widths:
        for i in range(2):
            weights = kernel_size * kernel_size * cin * width
            params += weights + 2 * width
            out = side // 2 if (downsample == "stride" and i == 1) else side
            mult_adds += weights * out * out
            cin = width
        side //= 2
    return params + 10 * widths[-1] + 10, mult_adds + 10 * widths[-1]


def flatten_params_by_hand(side, padded=False):
    """Lesson 11's network with Flatten: the convolutions' (9·C_in + 1)·C_out, then (128·s² + 1)·512 + 513.

    ``padded=True`` is a typical mistake: convolutions that keep the side."""
    convs = sum((9 * c_in + 1) * c_out for c_in, c_out in ((3, 32), (32, 64), (64, 128), (128, 128)))
    for _ in range(4):
        side = (side - (0 if padded else 2)) // 2  # 3×3 convolution without padding, then 2×2 pooling
    return convs + (128 * side * side + 1) * 512 + 513


def resnet18_stage4_by_hand():
    """ResNet-18's layer4 (He et al.'s basic blocks, 256 -> 512 channels) and a 512 -> 2 head, counted by hand."""
    block1 = 9 * 256 * 512 + 9 * 512 * 512 + 256 * 512 + 3 * 2 * 512  # two 3×3, the 1×1 shortcut, three batch norms
    block2 = 2 * 9 * 512 * 512 + 2 * 2 * 512
    return block1 + block2 + 512 * 2 + 2


# id -> (right answers, wrong answers, malformed answers, expected values that must never be shown)
CASES = {
    "ex-00-count": ([params_by_hand], [plus_one(params_by_hand), lambda c1, c2: 20_538],
                    [12_345, lambda c1, c2: "many", raises], [params_by_hand(16, 32), params_by_hand(32, 64)]),
    "ex-01-stride": ([stride_fraction(), 0.25 + 1e-12], [0.5, 2], ["1/4", [0.25], float("nan")], [stride_fraction()]),
    "ex-01-design": ([np.rot90(lk.make_kernel("diagonal_edge")), -2 * np.flipud(lk.make_kernel("diagonal_edge")),
                      torch.tensor(np.rot90(lk.make_kernel("diagonal_edge")).tolist())],
                     [lk.make_kernel("diagonal_edge"), lk.make_kernel("sobel_x"), np.zeros((3, 3))],
                     [np.ones((5, 5)), "diagonal", [[1, 2], [3]]], []),
    "ex-02-bank": ([bank_features(), float(bank_features())], [bank_features() // 2, 36],
                   ["1764", [bank_features()], 1764.5, True], [bank_features()]),
    "ex-03-rf": ([rf_measured(), np.int64(rf_measured())], [rf_measured() - 2, 18], ["26", (26, 26), 2.5],
                 [rf_measured()]),
    "ex-03-strided": ([strided_features()], [lk.SimpleCNN(1, 10, widths=(32, 64), head="gap").features,
                                             nn.Sequential(nn.Conv2d(1, 64, 4, stride=4, bias=False))],
                      [(1, 64, 7, 7), strided_features, nn.Conv2d(3, 8, 3)], []),
    "ex-04-bn-swap": ([with_our_batchnorm], [lambda m: m, lambda m: nn.Sequential(*[lk.BatchNorm2d(4)] * 2)],
                      [lk.BatchNorm2d, lambda m: None, raises], []),
    "ex-04-top2": ([second_choice, lambda lo, t: lo.topk(2, 1).indices[:, 1] == t],
                   [lambda lo, t: torch.nonzero(lo.argmax(1) == t).flatten(), lambda lo, t: second_choice(lo, t)[1:]],
                   [lambda lo, t: "all of them", lambda lo, t: torch.ones(3, dtype=torch.bool), raises], []),
    "ex-06-mixup": ([mix_by_hand], [lambda xa, xb, ya, yb, lam, n: mix_by_hand(xb, xa, yb, ya, lam, n),
                                    lambda xa, xb, ya, yb, lam, n: (mix_by_hand(xa, xb, ya, yb, lam, n)[0], torch.eye(n)[ya])],
                    [lambda *a: mix_by_hand(*a)[0], lambda *a: (torch.zeros(3), torch.zeros(2)), raises], []),
    "ex-06-order": ([invert_then_rotate, rotate_then_invert_by_hand],
                    [lambda img, a: TF.rotate(TF.invert(img), a), lambda img, a: TF.invert(img),
                     lambda img, a: TF.rotate(TF.invert(img), -a, fill=255)],
                    [lambda img, a: invert_then_rotate(img, a)[0], lambda img, a: invert_then_rotate(img, a).tolist(),
                     255, raises], []),
    "ex-08-strided": ([strided_extra()], [strided_extra() - 48, 0], ["11568", [strided_extra()]], [strided_extra()]),
    "ex-08-kernels": ([three_by_three(), list(three_by_three())], [(three_by_three()[0], 5), (three_by_three()[0] + 192, 7)],
                      [three_by_three()[0], (1, 2, 3), ("many", 7)], list(three_by_three())),
    "ex-08-se": ([se_extra()], [se_extra() - 48, 2 * se_extra()], ["700", 700.5], [se_extra()]),
    "ex-08-vgg-sizes": ([lambda side: [side // 2**k for k in range(1, 6)], lambda side: tuple(np.int64(side) >> np.arange(1, 6))],
                        [lambda side: [math.ceil(side / 2**k) for k in range(1, 6)], lambda side: [112, 56, 28, 14, 7],
                         lambda side: [side // 2**k for k in range(0, 5)]],
                        [112, lambda side: [side // 2**k for k in range(1, 5)], lambda side: [side / 2**k for k in range(1, 6)],
                         lambda side: 7, raises], []),
    "ex-09-gradcam": ([grad_cam_with_hooks, lambda *a: 5 * grad_cam_with_hooks(*a),
                       lambda m, x, layer, t: F.interpolate(grad_cam_with_hooks(m, x, layer, t)[:, None], size=x.shape[-2:],
                                                            mode="bilinear", align_corners=False)[:, 0]],
                      [lambda *a: grad_cam_with_hooks(*a).flip(-1),
                       lambda m, x, layer, t: grad_cam_with_hooks(m, x, layer, torch.zeros_like(t))],
                      [lambda *a: grad_cam_with_hooks(*a)[0], lambda *a: grad_cam_with_hooks(*a).tolist(), raises], []),
    "ex-10-architectures": ([cifar_counts, lambda w, k, d: list(map(np.int64, cifar_counts(w, k, d)))],
                            [lambda w, k, d: (cifar_counts(w, k, d)[0] - 2 * sum(w) * 2, cifar_counts(w, k, d)[1]),
                             lambda w, k, d: cifar_counts(w, k, "pool"),
                             lambda w, k, d: (cifar_counts(w, k, d)[0], cifar_counts(w, k, d)[1] - 10 * w[-1])],
                            [lambda w, k, d: cifar_counts(w, k, d)[0], lambda w, k, d: ("many", "more"), raises, 18_626],
                            [18_626, 2_580_800, 2_562, 50_754, 1_253_696]),
    "ex-11-flatten": ([flatten_params_by_hand, lambda side: np.int64(flatten_params_by_hand(side)),
                       lambda side: float(flatten_params_by_hand(side))],
                      [lambda side: 307_393, lambda side: flatten_params_by_hand(side) - 512,
                       lambda side: flatten_params_by_hand(side, padded=True)],
                      [3_453_121, lambda side: "many", lambda side: [flatten_params_by_hand(side)], raises],
                      [3_453_121, 9_679_041]),
    "ex-12-unfreeze": ([resnet18_stage4_by_hand(), float(resnet18_stage4_by_hand())],
                       [resnet18_stage4_by_hand() - 1026, 11_177_538, resnet18_stage4_by_hand() - 5120],
                       [str(resnet18_stage4_by_hand()), [resnet18_stage4_by_hand()], 8_394_754.5, True],
                       [resnet18_stage4_by_hand()]),
}


# The homework of lesson 13: each milestone written independently of lessonkit
def embed_by_hand(backbone, images):
    with torch.no_grad():
        return F.normalize(backbone.eval()(images), dim=1)


def cosine_topk(references, queries, k):
    r, q = references.numpy().astype(np.float64), queries.numpy().astype(np.float64)
    sims = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (r / np.linalg.norm(r, axis=1, keepdims=True)).T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), order


def make_find_by_hand(pm, folder, *, reverse=False, careful=True):
    from pathlib import Path

    from PIL import Image

    paths = sorted(Path(folder).rglob("*.png"))
    t = pm.make_transform(224)
    with torch.no_grad():
        feats = F.normalize(pm.backbone(torch.stack([t(Image.open(p).convert("RGB")) for p in paths])), dim=1)

    def find(upload, k):
        try:
            image = Image.open(upload).convert("RGB")
        except Exception as error:  # noqa: BLE001
            if not careful:
                raise
            return [], f"Could not use this upload: {error}"
        with torch.no_grad():
            sims = (F.normalize(pm.backbone(t(image)[None]), dim=1) @ feats.T)[0]
        scores, idx = sims.topk(k, largest=not reverse)
        return [(str(paths[j]), f"{paths[j].parent.name} {s:.3f}") for s, j in zip(scores.tolist(), idx.tolist())], "ok"

    return find


def loo_by_hand(features, labels, k, *, leave_out=True, others=True):
    f = features.numpy().astype(np.float64)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    sims = f @ f.T
    y = labels.numpy()
    if leave_out:
        np.fill_diagonal(sims, -np.inf)
    precision, recall = [], []
    for i in range(len(y)):
        order = np.argsort(-sims[i], kind="stable")[:k]
        relevant = y == y[i]
        found = relevant[order].sum()
        precision.append(found / k)
        recall.append(found / (relevant.sum() - (1 if others else 0)))
    return float(np.mean(precision)), float(np.mean(recall))


CASES.update({
    "hw-13-features": ([embed_by_hand, lambda b, x: embed_by_hand(b, x).numpy().tolist()],
                       [lambda b, x: F.normalize(b(x).detach(), dim=1),       # training mode
                        lambda b, x: b.eval()(x).detach()],                   # not unit length
                       [lambda b, x: embed_by_hand(b, x)[0], lambda b, x: "features", raises], []),
    "hw-13-index": ([cosine_topk, lambda r, q, k: tuple(torch.as_tensor(a) for a in cosine_topk(r, q, k))],
                    [lambda r, q, k: (q @ r.T).topk(k, dim=1),                 # dot product, not cosine
                     lambda r, q, k: tuple(a[:, ::-1].copy() for a in cosine_topk(r, q, k)),  # worst first
                     lambda r, q, k: (cosine_topk(r, q, k)[0] * 2, cosine_topk(r, q, k)[1])],
                    [lambda r, q, k: cosine_topk(r, q, k)[1], lambda r, q, k: (None, "indices"),
                     lambda r, q, k: (cosine_topk(r, q, k)[0], cosine_topk(r, q, k)[1] + 0.5), raises], []),
    "hw-13-app": ([make_find_by_hand],
                  [lambda pm, folder: make_find_by_hand(pm, folder, reverse=True),
                   lambda pm, folder: make_find_by_hand(pm, folder, careful=False),
                   lambda pm, folder: (lambda find: lambda upload, k: (find(upload, k)[0][:-1], "ok"))(make_find_by_hand(pm, folder))],
                  [lambda pm, folder: None, lambda pm, folder: (lambda upload, k: ["a.png"]), raises,
                   lambda pm, folder: (lambda upload, k: ([1, 2, 3], "ok"))], []),
    "hw-13-eval": ([loo_by_hand, lambda f, y, k: torch.tensor(loo_by_hand(f, y, k))],
                   [lambda f, y, k: loo_by_hand(f, y, k, leave_out=False),
                    lambda f, y, k: loo_by_hand(f, y, k, others=False)],
                   [lambda f, y, k: loo_by_hand(f, y, k)[0], lambda f, y, k: ("high", "low"), raises], []),
})


def vote_by_hand(features, labels, k, *, leave_out=True, ties="nearest", extra=0):
    """Each image's label by a majority vote of its k nearest other images (numpy, plain loops)."""
    f = features.numpy().astype(np.float64)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    sims = f @ f.T
    if leave_out:
        np.fill_diagonal(sims, -np.inf)
    y = labels.numpy()
    predicted = []
    for i in range(len(y)):
        ranked = [int(y[j]) for j in np.argsort(-sims[i], kind="stable")[:k + extra]]
        counts = {label: ranked.count(label) for label in ranked}
        tied = [label for label in ranked if counts[label] == max(counts.values())]
        predicted.append(tied[0] if ties == "nearest" else min(tied))
    return torch.tensor(predicted)


def compare_by_hand(fa, fb, y, k, **options):
    return lk.compare_classifiers(vote_by_hand(fa, y, k, **options) == y, vote_by_hand(fb, y, k, **options) == y)


def compare_accuracies(fa, fb, y, k):
    """A typical mistake: the higher accuracy wins, however small the difference."""
    a, b = ((vote_by_hand(f, y, k) == y).double().mean() for f in (fa, fb))
    return "A is better" if a > b else "B is better" if b > a else "no detectable difference"


WRITEUP = """# Write-up

## Design choices

I compared EfficientNet-Lite0 with SqueezeNet 1.0, both pretrained on ImageNet, because they run
on a laptop. Images are resized and centre-cropped to 224 pixels and normalised with ImageNet's
statistics, the uploads exactly like the references.

## Backbone comparison

EfficientNet-Lite0 finds more images of the same insect in its top five than SqueezeNet, and the
paired test on the same queries says the difference is larger than noise.

### An upload on which they disagree

A bee on a yellow flower: SqueezeNet returns other yellow flowers, EfficientNet other bees.

## Failure cases

![Wrong matches](wrong_matches.png)

Ants photographed on a pale background are matched with bees on pale walls: the backbone seems to
weigh the background more than the small insect in the middle.

## Limitations

Similar means similar to an ImageNet classifier, so breeds or individuals it never had to tell
apart stay mixed; global pooling forgets where the insect is, and scores are not probabilities.
"""


def writeup_without(section):
    """The write-up with one section (heading and text) left out."""
    parts = WRITEUP.split("\n## ")
    return "\n## ".join(part for part in parts if not part.startswith(section))


CASES.update({
    "hw-13-accuracy": ([vote_by_hand, lambda f, y, k: vote_by_hand(f, y, k).tolist(),
                        lambda f, y, k: vote_by_hand(f, y, k).numpy().astype(np.float32)],
                       [lambda f, y, k: vote_by_hand(f, y, k, leave_out=False),   # the query votes for itself
                        lambda f, y, k: vote_by_hand(f, y, k, ties="smallest"),   # ties to the smallest label
                        lambda f, y, k: vote_by_hand(f, y, k, extra=1)],          # one neighbour too many
                       [lambda f, y, k: vote_by_hand(f, y, k) == y, lambda f, y, k: 0.8,
                        lambda f, y, k: vote_by_hand(f, y, k)[:-1], lambda f, y, k: vote_by_hand(f, y, k) + 0.5, raises], []),
    "hw-13-compare": ([compare_by_hand, lambda fa, fb, y, k: compare_by_hand(fa, fb, y, k).verdict],
                      [lambda fa, fb, y, k: compare_by_hand(fb, fa, y, k),        # A and B swapped
                       compare_accuracies,                                         # no test: a 13-point gap on 30 images
                       lambda fa, fb, y, k: compare_by_hand(fa, fb, y, k, leave_out=False)],
                      [lambda fa, fb, y, k: (0.9, 0.8), lambda fa, fb, y, k: "A wins", raises], []),
    "hw-13-writeup": ([WRITEUP, WRITEUP.replace("## Design choices", "## design   Choices"),
                       WRITEUP.replace("![Wrong matches](wrong_matches.png)", '<img src="https://example.org/w.png">')],
                      [writeup_without("Limitations"), writeup_without("Design choices"),
                       WRITEUP.replace("Ants photographed", "TODO: say what went wrong. Ants photographed"),
                       WRITEUP.replace("![Wrong matches](wrong_matches.png)\n", ""),
                       WRITEUP.replace("Similar means similar", "See above.\n\n<!-- Similar means similar")
                              .replace("not probabilities.", "not probabilities. -->")],
                      [42, ["writeup.md"], "no-such-writeup.md"], []),
})


def test_every_registered_exercise_is_tested_and_in_lesson_order():
    ids = [e.id for e in selfcheck._EXERCISES]
    assert ids == list(CASES), "every registered exercise needs right, wrong and malformed cases here"
    assert ids == sorted(ids, key=lambda i: int(i.split("-")[1])), "the registry is in lesson order"


def _verdict(capsys, exercise, answer):
    result = lk.check(exercise, answer)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # one line
    return result, out


def _assert_hidden(out, secrets):
    for value in secrets:
        for text in {str(value), f"{value:,}" if isinstance(value, int) else str(value)}:
            assert text not in out, f"the verdict shows the expected answer {text}: {out}"


@pytest.mark.parametrize("exercise", list(CASES))
def test_right_answers_pass(capsys, exercise):
    for answer in CASES[exercise][0]:
        result, out = _verdict(capsys, exercise, answer)
        assert result is True and out == f"✓ {exercise}: correct\n", out


@pytest.mark.parametrize("exercise", list(CASES))
def test_wrong_answers_get_a_hint_and_no_solution(capsys, exercise):
    hint = selfcheck._REGISTRY[exercise].hint
    for answer in CASES[exercise][1]:
        result, out = _verdict(capsys, exercise, answer)
        assert result is False and out.startswith(f"✗ {exercise}: not yet: ") and f"hint: {hint}" in out, out
        _assert_hidden(out, CASES[exercise][3])


@pytest.mark.parametrize("exercise", list(CASES))
def test_malformed_answers_say_what_was_expected_and_do_not_raise(capsys, exercise):
    for answer in CASES[exercise][2]:
        result, out = _verdict(capsys, exercise, answer)
        assert result is False and out.startswith(f"✗ {exercise}: not yet: "), out
        assert "expected" in out or "raised" in out, out
        _assert_hidden(out, CASES[exercise][3])


@pytest.mark.parametrize("exercise", list(CASES))
def test_no_answer_yet(capsys, exercise):
    result, out = _verdict(capsys, exercise, None)
    assert result is False and out == f"… {exercise}: no answer yet (expected: {selfcheck._REGISTRY[exercise].form})\n"


def test_a_function_that_raises_is_named_in_the_verdict(capsys):
    result, out = _verdict(capsys, "ex-04-top2", raises)
    assert result is False and "your function raised KeyError: 'typo'" in out


def test_unknown_exercise_names_the_lessons_ids_not_answers():
    with pytest.raises(ValueError) as info:
        lk.check("ex-08-nonexistent", 3)
    message = str(info.value)
    assert "ex-08-strided, ex-08-kernels, ex-08-se, ex-08-vgg-sizes" in message and "ex-03-rf" not in message
    _assert_hidden(message, [strided_extra(), se_extra(), *three_by_three()])
    with pytest.raises(ValueError, match="lesson 05's self-checked exercises: none"):
        lk.check("ex-05-gap", 0.5)
    with pytest.raises(ValueError, match="ids look like 'ex-03-rf'"):
        lk.check("rf", 26)


def test_exercise_must_be_a_string():
    with pytest.raises(TypeError, match="exercise must be a str, got int"):
        lk.check(3, 26)


def test_the_exercise_labels_exist_in_the_lessons():
    from pathlib import Path

    text = "".join(p.read_text() for p in sorted((Path(__file__).parents[1] / "notebooks").glob("[01]*.ipynb")))
    homework = (Path(__file__).parents[1] / "book" / "homework.md").read_text()
    for exercise in selfcheck._REGISTRY:
        if exercise.startswith("hw-"):  # the homework's milestones are checked on its task page
            assert f'lk.check("{exercise}"' in homework, f"{exercise} is no milestone of book/homework.md"
            continue
        assert f":label: {exercise}" in text, f"{exercise} is no exercise of lessons 00-19"


def test_the_comparison_cases_give_every_verdict_far_from_the_threshold():
    """Milestone 6's check sets, judged by an exact McNemar test written out with scipy: A better, B better,
    and no detectable difference despite a 13-point gap in accuracy, each p-value far from any usual alpha."""
    from scipy.stats import binomtest

    hw = _homework_checks

    verdicts, gaps, ours = [], [], []
    for n, classes, k, noise_a, noise_b, seed in hw._COMPARE_CASES:
        fa, fb, y = hw._compare_case(n, classes, noise_a, noise_b, seed)
        ca, cb = (vote_by_hand(f, y, k) == y for f in (fa, fb))
        ours.append(lk.compare_classifiers(ca, cb).verdict)
        only_a, only_b = int((ca & ~cb).sum()), int((~ca & cb).sum())
        p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
        assert p < 1e-3 or p > 0.2, (n, k, p)
        verdicts.append("no detectable difference" if p > 0.2 else "A is better" if only_a > only_b else "B is better")
        gaps.append(abs(ca.double().mean() - cb.double().mean()).item())
    assert verdicts[:3] == ["A is better", "B is better", "no detectable difference"], verdicts
    assert gaps[2] > 0.1  # comparing the accuracies alone would call a winner
    assert ours == verdicts  # and lk.compare_classifiers agrees


def test_the_accuracy_check_sets_decide_ties():
    """The check of milestone 5 can tell the nearest-label rule from the smallest-label rule: ties occur."""
    hw = _homework_checks

    g = torch.Generator().manual_seed(17)
    differ = 0
    for n, classes, k in ((30, 3, 1), (24, 2, 4), (30, 3, 6), (17, 4, 3)):
        features, labels = hw._clusters(n, classes, 1.2, g)
        differ += int((vote_by_hand(features, labels, k) != vote_by_hand(features, labels, k, ties="smallest")).sum())
    assert differ > 0


def test_the_writeup_template_and_files(capsys, tmp_path):
    path = lk.start_writeup(tmp_path / "hw" / "writeup.md")
    template = path.read_text()
    assert path == tmp_path / "hw" / "writeup.md" and list(path.parent.iterdir()) == [path]  # no temporary file left
    assert [line[3:] for line in template.splitlines() if line.startswith("## ")] == list(_homework_checks.WRITEUP_SECTIONS)
    result, out = _verdict(capsys, "hw-13-writeup", path)
    assert result is False and "the section 'Design choices' still holds the template's TODO text" in out, out
    # an existing write-up is never overwritten
    path.write_text(WRITEUP)
    assert lk.start_writeup(str(path)) == path and path.read_text() == WRITEUP
    # the image must be next to the write-up
    result, out = _verdict(capsys, "hw-13-writeup", path)
    assert result is False and "the image 'wrong_matches.png' of 'Failure cases' is not in the write-up's folder" in out
    (path.parent / "wrong_matches.png").write_bytes(b"a picture")
    assert _verdict(capsys, "hw-13-writeup", path) == (True, "✓ hw-13-writeup: correct\n")
    # every section of the template filled in is also right
    own = "Twelve words of my own, " * 3 + "\n\n![x](wrong_matches.png)"
    filled = re.sub(r"^TODO:.*?(?=\n\n|\n*\Z)", own, template, flags=re.S | re.M)
    assert filled.count(own) == 4 and _verdict(capsys, "hw-13-writeup", filled)[0] is True
    # the prompt kept without its TODO, or the image line kept as code, is still the template
    untouched = template.replace("TODO: ", "")
    assert "still holds the template's TODO text" in _verdict(capsys, "hw-13-writeup", untouched)[1]
    coded = WRITEUP.replace("![Wrong matches](wrong_matches.png)", "`![Wrong matches](wrong_matches.png)`")
    assert "shows no image" in _verdict(capsys, "hw-13-writeup", coded)[1]
    with pytest.raises(TypeError, match="path must be a str or PathLike, got int"):
        lk.start_writeup(3)
    with pytest.raises(ValueError, match="got the folder"):
        lk.start_writeup(tmp_path)
