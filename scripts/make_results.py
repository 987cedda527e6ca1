"""Write book/results.md from the full-profile records in results/full/.

``make full-profile`` runs lessons with ``LESSONKIT_PROFILE=full`` and leaves one
JSON record per lesson (see ``scripts/run_full_profile.py``); this script turns
the values those lessons glued into the results table, so that no figure on the
page is typed by hand. ``make results`` rewrites the page and
tests/test_project.py checks it is current.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "full"
OUT = ROOT / "book" / "results.md"


@dataclass(frozen=True)
class Percent:
    """A percentage read back from the rounded text a lesson glued.

    ``'91.3%'`` (``value`` 0.913, ``decimals`` 1) was printed from some value in
    [0.9125, 0.9135]. A target is judged on that whole interval, so a figure
    that rounds onto its target is neither met nor missed.
    """

    value: float
    decimals: int

    @classmethod
    def parse(cls, text: str) -> "Percent":
        number = text.strip().rstrip("%")
        return cls(float(number) / 100, len(number.partition(".")[2]))

    @property
    def half_unit(self) -> float:
        """Half the last printed digit: the true value lies within ± this."""
        return 0.5 * 10.0 ** -self.decimals / 100

    def complement(self) -> "Percent":
        """``1 - self``: an accuracy from an error rate."""
        return Percent(1 - self.value, self.decimals)

    def __str__(self) -> str:
        return f"{self.value * 100:.{self.decimals}f}%"


Verdict = Optional[bool]  # True: met; False: missed; None: too close to call from the rounded text


def at_least(x: Percent, target: float) -> Verdict:
    if x.value - x.half_unit >= target:
        return True
    if x.value + x.half_unit < target:
        return False
    return None


def below(x: Percent, y: Percent, margin: float) -> Verdict:
    """Is ``x`` more than ``margin`` below ``y``?"""
    if x.value + x.half_unit < y.value - y.half_unit - margin:
        return True
    if x.value - x.half_unit >= y.value + y.half_unit - margin:
        return False
    return None


def all_of(*verdicts: Verdict) -> Verdict:
    if False in verdicts:
        return False
    return None if None in verdicts else True


def best(*xs: Percent) -> Percent:
    return max(xs, key=lambda x: x.value)


def pct(glued: dict[str, str], name: str) -> Percent:
    return Percent.parse(glued[name])


@dataclass(frozen=True)
class Row:
    lesson: str  # notebook stem, e.g. "04_training_a_cnn"
    experiment: str
    target: str
    measured: Callable[[dict[str, str]], str]  # glued values -> text for the table
    met: Callable[[dict[str, str]], Verdict] | None = None  # None: no target to meet


ROWS = [
    Row("00_first_cnn", "SimpleCNN on Fashion-MNIST, test accuracy", "—",
        lambda g: g["test_top1"]),
    Row("04_training_a_cnn", "CNN on Fashion-MNIST, test accuracy", "≥ 91 %",
        lambda g: str(pct(g, "top1_err").complement()), lambda g: at_least(pct(g, "top1_err").complement(), 0.91)),
    Row("04_training_a_cnn", "GAP CNN on MNIST, test accuracy", "≥ 99 %",
        lambda g: g["mnist_acc"], lambda g: at_least(pct(g, "mnist_acc"), 0.99)),
    Row("05_shift_robustness", "shift-augmented CNN, Fashion-MNIST test set: clean / shifted 4 px left or right",
        "≥ 90 % / ≥ 85 %", lambda g: f"{g['aug_clean']} / {g['aug_shift4']}",
        lambda g: all_of(at_least(pct(g, "aug_clean"), 0.90), at_least(pct(g, "aug_shift4"), 0.85))),
    Row("05_shift_robustness", "the same CNN without augmentation: clean / shifted 4 px", "clearly below at 4 px",
        lambda g: f"{g['cnn_clean']} / {g['cnn_shift4']}",
        lambda g: below(pct(g, "cnn_shift4"), pct(g, "aug_shift4"), 0.05)),
    Row("10_cifar10_from_scratch", "CifarNet (VGG-style, widths 128-256-512) from scratch on CIFAR-10, 40 epochs, "
        "test accuracy", "≥ 90 %", lambda g: g["test_acc"], lambda g: at_least(pct(g, "test_acc"), 0.90)),
    Row("10_cifar10_from_scratch", "exercise 2 (widths 64-128-256, 15 epochs), CIFAR-10 test accuracy: max-pooling / "
        "strided convolutions / 1×1 kernels / 5×5 kernels / squeeze-and-excitation", "—",
        lambda g: " / ".join(g[f"ex2_{k}"] for k in ("pool", "stride", "k1", "k5", "se"))),
    Row("11_cats_vs_dogs_from_scratch", "the seed's CNN from scratch on Cats vs Dogs (2,000 photographs, 150 px, "
        "30 epochs), no remedies: validation accuracy (last 5 epochs) / gap to clean training accuracy",
        "overfits: gap ≥ 15 points", lambda g: f"{g['cvd_overfit_val']} / {g['cvd_overfit_gap']} points",
        lambda g: float(g["cvd_overfit_gap"].rstrip("%")) >= 15),  # glued in points, e.g. "34"
    Row("11_cats_vs_dogs_from_scratch", "the same with augmentation, dropout 0.5 and weight decay, 100 epochs",
        "gap closes, validation accuracy higher", lambda g: f"{g['cvd_cured_val']} / {g['cvd_cured_gap']} points",
        lambda g: all_of(below(pct(g, "cvd_overfit_val"), pct(g, "cvd_cured_val"), 0.0),
                         float(g["cvd_cured_gap"].rstrip("%")) < float(g["cvd_overfit_gap"].rstrip("%")))),
    Row("12_transfer_learning", "EfficientNet-Lite0, Cats vs Dogs validation accuracy: "
        "frozen backbone + new head / fine-tuned", "≥ 95 %",
        lambda g: f"{g['cvd_phase1']} / {g['cvd_phase2']}",
        lambda g: at_least(best(pct(g, "cvd_phase1"), pct(g, "cvd_phase2")), 0.95)),
    Row("12_transfer_learning", "the same network trained from scratch (with augmentation)", "far below",
        lambda g: g["cvd_scratch"],
        lambda g: below(pct(g, "cvd_scratch"), best(pct(g, "cvd_phase1"), pct(g, "cvd_phase2")), 0.10)),
    Row("12_transfer_learning", "Cats vs Dogs validation accuracy, fine-tuning (phase 2) from the last stage / "
        "from the first stage (every weight trains)", "—",
        lambda g: f"{g['unfreeze_last1']} / {g['unfreeze_all']}", None),
    Row("12_transfer_learning", "CIFAR-10 test accuracy, pretrained backbone on upsampled images: "
        "phase 1 (frozen) / phase 2 (fine-tuned), without augmentation", "—",
        lambda g: f"{g['cifar_phase1']} / {g['cifar_phase2']}", None),
    Row("12_transfer_learning", "the same, with augmentation (crop with padding 4, flip)", "—",
        lambda g: f"{g['cifar_phase1_aug']} / {g['cifar_phase2_aug']}", None),
    Row("12_transfer_learning", "the same network from scratch on CIFAR-10 (with augmentation)", "far below",
        lambda g: g["cifar_scratch"],
        lambda g: below(pct(g, "cifar_scratch"), best(*(pct(g, k) for k in ("cifar_phase1", "cifar_phase2",
                                                                                "cifar_phase1_aug", "cifar_phase2_aug"))), 0.10)),
]

VERDICTS = {True: "yes", False: "**no**", None: "within rounding"}

HEADER = """# Results

The pages of this site are built with the `fast` profile on a CPU, so the accuracies printed in
the lessons are those of the smaller experiment. This page records what the `full` profile
measures: all the training images, more epochs and wider networks, as each lesson's first code
cell sets out. `make full-profile` runs the lessons below with `LESSONKIT_PROFILE=full` and
keeps, for each, a record of every value it computed for its text, what it printed, the device
and the time it took (`results/full/*.json`); this page is generated from those records by
`make results`. The time is the wall-clock time of the whole lesson, top to bottom, not only of
the experiment in the row; on a machine shared with other jobs it is an upper bound.

"""

FOOTER = """
A row reads *to be measured* until its lesson has been run in the full profile, and *within
rounding* when the figure, as the lesson rounded it, lies on the target itself. On a GPU each
lesson takes minutes; on a laptop CPU, tens of minutes.
"""


def load_records() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))}


def device(record: dict) -> str:
    """The device, and on a CPU the number of threads torch used."""
    if record["device"].startswith("CPU"):
        threads = record["torch_threads"]
        return f"{record['device']}, {threads} thread{'s' if threads != 1 else ''}"
    return record["device"]


def render(records: dict[str, dict]) -> str:
    lines = ["| lesson | experiment (full profile) | target | measured | met | device | time |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in ROWS:
        number = row.lesson[:2]
        link = f"[{number}](../notebooks/{row.lesson}.ipynb)"
        record = records.get(row.lesson)
        glued = {} if record is None else record["glued"]
        try:
            measured = row.measured(glued)
        except KeyError:  # no full-profile run yet, or one recorded before this row's experiment existed
            lines.append(f"| {link} | {row.experiment} | {row.target} | *to be measured* | | | |")
            continue
        met = "—" if row.met is None else VERDICTS[row.met(glued)]
        minutes = record["seconds"] / 60
        lines.append(f"| {link} | {row.experiment} | {row.target} | {measured} | {met} "
                     f"| {device(record)}, torch {record['versions']['torch']} "
                     f"| {minutes:.0f} min ({record['started'][:10]}) |")
    return HEADER + "\n".join(lines) + "\n" + FOOTER


if __name__ == "__main__":
    if "--lessons" in sys.argv:  # the notebooks to run for this page (used by the Makefile)
        print(" ".join(f"notebooks/{stem}.ipynb" for stem in dict.fromkeys(r.lesson for r in ROWS)))
        sys.exit(0)
    text = render(load_records())
    if "--check" in sys.argv:
        sys.exit(0 if OUT.read_text() == text else "book/results.md is out of date: run `make results`")
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
