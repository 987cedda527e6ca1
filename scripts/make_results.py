"""Write book/results.md, and its figures, from the full-profile records in results/full/.

``make full-profile`` runs lessons with ``LESSONKIT_PROFILE=full`` and leaves one
JSON record per lesson (see ``scripts/run_full_profile.py``); this script turns
the values those lessons glued into the results table and figures, so that no
figure on the page is typed by hand. ``make results`` rewrites the page;
tests/test_results.py regenerates it in memory and fails when the committed page
is not what the records give.

Each row says whether its record is *current* or *stale*: a record is stale when
the lesson's code, the lessonkit modules it uses, or the other lessons' values
it reads have changed since the run (``scripts/full_records.py`` defines the
fingerprint). A stale row keeps its figures, marked, until ``make full-profile``
re-runs the lesson.

What a lesson glues for this page
---------------------------------
- **Table rows** (``ROWS``): each row reads named glued values of one lesson,
  e.g. ``lk.glue("test_top1", f"{acc:.1%}", display=False)``.
- **Accuracy against cost** (``COST_POINTS``): a lesson named there glues its
  test accuracy as a percentage (``"93.2%"``), its training time in minutes
  and its training FLOPs, each a plain number (``"42.5"``, ``"3.6e14"``; a unit
  suffix such as ``"min"``, ``"s"`` or ``"PFLOP"`` is read too). They are drawn
  against the published reference point (``REFERENCE``).
- **Learning curves**: every glued value whose name ends in ``_curve`` is a
  list of per-epoch values, glued as a list or as its JSON
  (``lk.glue("val_acc_curve", history.val_acc, display=False)``). The name
  reads ``<series>_<quantity>_curve``: curves of one lesson with the same
  quantity share a panel, one line per series (``train_acc_curve`` and
  ``val_acc_curve`` are the lines ``train`` and ``val`` of the panel ``acc``);
  a quantity ending in ``acc`` is a fraction, drawn in percent.

The figures are files under ``book/results_figures/`` whose names carry a hash
of what they show and of the drawing code (scripts/results_figures.py), so the
page's text changes whenever a figure would, and the regeneration test covers
the figures too without comparing pixels.
"""

from __future__ import annotations

import ast
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import full_records  # noqa: E402  (records, fingerprints and staleness: one home)
import results_figures  # noqa: E402  (the drawing: imported lazily by it, matplotlib only when drawing)

ROOT = Path(__file__).resolve().parents[1]
RECORDS = full_records.RECORDS
OUT = ROOT / "book" / "results.md"
FIGURES = ROOT / "book" / "results_figures"


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
    Row("04_training_a_cnn", "a classic small CNN on MNIST (Chollet's first convnet), test accuracy: flatten head / "
        "global-average-pooling head / a dense network without convolutions",
        "≥ 99 % (flatten head)", lambda g: f"{g['mnist_acc']} / {g['mnist_gap_acc']} / {g['mnist_dense_acc']}",
        lambda g: at_least(pct(g, "mnist_acc"), 0.99)),
    Row("05_shift_robustness", "shift-augmented CNN, Fashion-MNIST test set: clean / shifted 4 px left or right",
        "≥ 90 % / ≥ 85 %", lambda g: f"{g['aug_clean']} / {g['aug_shift4']}",
        lambda g: all_of(at_least(pct(g, "aug_clean"), 0.90), at_least(pct(g, "aug_shift4"), 0.85))),
    Row("05_shift_robustness", "the same CNN without augmentation: clean / shifted 4 px", "clearly below at 4 px",
        lambda g: f"{g['cnn_clean']} / {g['cnn_shift4']}",
        lambda g: below(pct(g, "cnn_shift4"), pct(g, "aug_shift4"), 0.05)),
    Row("10_cifar10_from_scratch", "FastCifarNet (airbench94's network, widths 64-256-256), 9.9 epochs of the "
        "fast-training recipe, CIFAR-10 test accuracy with test-time augmentation, on the mirror's JPEG copy",
        "≥ 93 % (94 % on the original arrays)", lambda g: g["test_acc"], lambda g: at_least(pct(g, "test_acc"), 0.93)),
    Row("10_cifar10_from_scratch", "the same run: training time to 90 % / 92 % / 94 % test accuracy (one view, "
        "measured after each epoch); whole training time and operations", "whole training ≤ 30 min on a CPU with AVX-512",
        lambda g: f"{g['time_to_90']} / {g['time_to_92']} / {g['time_to_94']}; {g['train_minutes']} min, "
                  f"{g['train_pflop']} PFLOP", lambda g: quantity(g["train_minutes"], MINUTE_UNITS, "train_minutes") <= 30),
    Row("10_cifar10_from_scratch", "ablation (widths 64-128-128, 2 epochs, one view, one seed per variant): the tricks "
        "whose removal cost accuracy detectably in that run (paired test)", "—", lambda g: g["abl_lost"]),
    Row("10_cifar10_from_scratch", "exercise 2 at the ablation's size, CIFAR-10 test accuracy: max-pooling / "
        "strided convolutions / 1×1 kernels / 5×5 kernels / squeeze-and-excitation", "—",
        lambda g: " / ".join(g[f"ex2_{k}"] for k in ("pool", "stride", "k1", "k5", "se"))),
    Row("11_cats_vs_dogs_from_scratch", "lesson 11's CNN from scratch on Cats vs Dogs (2,000 photographs, 150 px), "
        "no remedies: validation accuracy (last 5 epochs) / gap to clean training accuracy (epochs)",
        "overfits: gap ≥ 15 points",
        lambda g: f"{g['cvd_overfit_val']} / {g['cvd_overfit_gap']} points ({g['epochs_a']} epochs)",
        lambda g: float(g["cvd_overfit_gap"].rstrip("%")) >= 15),  # glued in points, e.g. "34"
    Row("11_cats_vs_dogs_from_scratch", "the same with augmentation, dropout 0.5 and weight decay; "
        "validation accuracy after the last epoch, run B minus run A on the same images (paired test)",
        "gap ≤ 5 points, run B detectably ahead",
        lambda g: f"{g['cvd_cured_val']} / {g['cvd_cured_gap']} points ({g['epochs_b']} epochs); "
                  f"B − A: {g['cmp_val_b_a']}",
        lambda g: float(g["cvd_cured_gap"].rstrip("%")) <= 5 and ": run B is better" in g["cmp_val_b_a"]),
    Row("12_transfer_learning", "EfficientNet-Lite0, Cats vs Dogs validation accuracy: "
        "frozen backbone + new head / fine-tuned (image size)", "≥ 95 %",
        lambda g: f"{g['cvd_phase1']} / {g['cvd_phase2']} ({g['img_side']} px)",
        lambda g: at_least(best(pct(g, "cvd_phase1"), pct(g, "cvd_phase2")), 0.95)),
    Row("12_transfer_learning", "the same network trained from scratch (with augmentation)", "far below",
        lambda g: g["cvd_scratch"],
        lambda g: below(pct(g, "cvd_scratch"), best(pct(g, "cvd_phase1"), pct(g, "cvd_phase2")), 0.10)),
    Row("12_transfer_learning", "Cats vs Dogs validation accuracy, fine-tuning (phase 2) from the last stage / "
        "from the first stage (every weight trains)", "—",
        lambda g: f"{g['unfreeze_last1']} / {g['unfreeze_all']}", None),
    Row("12_transfer_learning", "CIFAR-10 test accuracy, pretrained backbone on upsampled images: "
        "phase 1 (frozen) / phase 2 (fine-tuned), without augmentation (training images, size)", "—",
        lambda g: f"{g['cifar_phase1']} / {g['cifar_phase2']} ({g['cifar_n_train']} images, {g['cifar_size']} px)", None),
    Row("12_transfer_learning", "the same, with augmentation (crop with padding 4, flip)", "—",
        lambda g: f"{g['cifar_phase1_aug']} / {g['cifar_phase2_aug']}", None),
    Row("12_transfer_learning", "the same network from scratch on CIFAR-10 (with augmentation)", "far below",
        lambda g: g["cifar_scratch"],
        lambda g: below(pct(g, "cifar_scratch"), best(*(pct(g, k) for k in ("cifar_phase1", "cifar_phase2",
                                                                                "cifar_phase1_aug", "cifar_phase2_aug"))), 0.10)),
]

VERDICTS = {True: "yes", False: "**no**", None: "within rounding"}


# --------------------------------------------------------------------------- accuracy against cost


@dataclass(frozen=True)
class CostPoint:
    """A lesson's point on the accuracy-against-cost figure: the names of the values it glues."""

    lesson: str
    label: str
    accuracy: str = "test_acc"  # a percentage, e.g. "93.2%"
    minutes: str = "train_minutes"  # the training's wall-clock minutes, e.g. "42.5"
    flops: str = "train_flops"  # the training's floating-point operations, e.g. "3.6e14"


COST_POINTS = [CostPoint("10_cifar10_from_scratch", "lesson 10, CIFAR-10 from scratch")]


@dataclass(frozen=True)
class Reference:
    """A published result the figure compares with, and where it is stated."""

    label: str
    accuracy: float
    seconds: float
    flops: float
    hardware: str
    source: str


# Jordan (2024), "94% on CIFAR-10 in 3.29 seconds on a single GPU" (arXiv:2404.00498): the
# table of the repository's README at the commit below lists airbench94_compiled.py with
# 94.01 % mean accuracy, 3.29 s and 0.36 PFLOPs on one NVIDIA A100 (the README of March 2025
# gives 3.09 s for the same script with torch 2.4; accuracy and FLOPs unchanged).
REFERENCE = Reference(
    label="airbench94 (Jordan, 2024)", accuracy=0.9401, seconds=3.29, flops=0.36e15, hardware="one NVIDIA A100",
    source="https://github.com/KellerJordan/cifar10-airbench/blob/fd079371079cc41c2d2e432a917a7a6845c8b4f5/README.md")
PAPER = "https://arxiv.org/abs/2404.00498"

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
FLOP_UNITS = {"": 1.0, "flop": 1.0, "gflop": 1e9, "tflop": 1e12, "pflop": 1e15}
MINUTE_UNITS = {"": 1.0, "min": 1.0, "s": 1 / 60, "h": 60.0}


def quantity(text: str, units: dict[str, float], what: str) -> float:
    """A positive number glued as text, with an optional unit from ``units`` (``"3.6e14"``, ``"0.36 PFLOP"``)."""
    match = re.fullmatch(rf"\s*({_NUMBER})\s*([A-Za-z]*)\s*", str(text).replace(",", ""))
    unit = match.group(2).lower() if match else None
    if unit is not None and unit not in units and unit.endswith("s") and unit[:-1] in units:
        unit = unit[:-1]  # "FLOPs", "mins"
    if match is None or unit not in units:
        raise ValueError(f"{what} must be a number with an optional unit ({', '.join(u for u in units if u)}), "
                         f"got {text!r}")
    value = float(match.group(1)) * units[unit]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be positive and finite, got {text!r}")
    return value


def cost_points(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]]) -> tuple[list[dict], list[str]]:
    """The lessons' points for the cost figure, and a sentence for each point that has none yet."""
    points, missing = [], []
    for p in COST_POINTS:
        record = records.get(p.lesson)
        names = (p.accuracy, p.minutes, p.flops)
        glued = {} if record is None else record["glued"]
        if not all(n in glued for n in names):
            what = "has no full-profile record yet" if record is None else "has a full-profile record without them"
            missing.append(f"lesson {p.lesson[:2]} glues {', '.join(f'`{n}`' for n in names)} and {what}")
            continue
        where = f"lesson {p.lesson[:2]}'s glued"
        points.append({
            "label": f"{p.label} ({record['device']})",
            "accuracy": Percent.parse(glued[p.accuracy]).value,
            "minutes": quantity(glued[p.minutes], MINUTE_UNITS, f"{where} {p.minutes}"),
            "flops": quantity(glued[p.flops], FLOP_UNITS, f"{where} {p.flops}"),
            "stale": statuses.get(p.lesson, ("missing", []))[0] == "stale",
        })
    return points, missing


# --------------------------------------------------------------------------- learning curves


@dataclass(frozen=True)
class Curve:
    """A per-epoch curve a lesson glued under ``<series>_<quantity>_curve``."""

    lesson: str
    name: str
    values: tuple[float, ...]
    stale: bool

    @property
    def series(self) -> str:
        stem = self.name.removesuffix("_curve")
        return stem.rpartition("_")[0] or stem

    @property
    def quantity(self) -> str:
        return self.name.removesuffix("_curve").rpartition("_")[2]


def parse_curve(text: str, what: str) -> tuple[float, ...]:
    """A glued curve: a non-empty list of finite numbers, as JSON or as a Python list."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError):
            value = None
    numbers_only = isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not numbers_only:
        raise ValueError(f"{what} must be a non-empty list of finite numbers (one per epoch), got {str(text)[:80]!r}")
    return tuple(float(v) for v in value)


def curves(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]]) -> list[Curve]:
    """Every ``*_curve`` value of every record, by lesson and in glue order."""
    found = []
    for lesson, record in sorted(records.items()):
        for name, text in record.get("glued", {}).items():
            if name.endswith("_curve"):
                values = parse_curve(text, f"lesson {lesson}'s glued {name}")
                found.append(Curve(lesson, name, values, statuses.get(lesson, ("missing", []))[0] == "stale"))
    return found


def curve_panels(found: list[Curve]) -> list[dict]:
    """One panel per lesson and quantity, one line per series."""
    panels: dict[tuple[str, str], dict] = {}
    for c in found:
        panel = panels.setdefault((c.lesson, c.quantity), {
            "title": f"lesson {c.lesson[:2]}: {c.quantity}" + (" (stale record)" if c.stale else ""),
            "quantity": c.quantity, "percent": c.quantity.endswith("acc"), "stale": c.stale, "lines": []})
        panel["lines"].append({"series": c.series, "values": list(c.values)})
    return list(panels.values())


# --------------------------------------------------------------------------- the page


HEADER = """# Results

The pages of this site are built with the `fast` profile on a CPU, so the accuracies printed in
the lessons are those of the smaller experiment. This page records what the `full` profile
measures: all the training images, more epochs and wider networks, as each lesson's first code
cell sets out. `make full-profile` runs the lessons below with `LESSONKIT_PROFILE=full` and
keeps, for each, a record of every value it computed for its text, what it printed, the device,
the time it took and a fingerprint of the code it ran (`results/full/*.json`); this page is
generated from those records by `make results`. The time is the wall-clock time of the whole
lesson, top to bottom, not only of the experiment in the row; on a machine shared with other
jobs it is an upper bound.

"""

ROW_NOTES = """A row reads *to be measured* until its lesson has been run in the full profile, and *within
rounding* when the figure, as the lesson rounded it, lies on the target itself. Its record is
*current* while the lesson's code, the `lessonkit` modules it uses and the values it reads from
other lessons are those the run measured, and **stale** once any of them has changed: a stale
row shows what the last run measured, which the code in the repository may no longer reproduce.
`make full-profile` runs the lessons whose records are missing or stale, one at a time, and
resumes where an interrupted run stopped. How long each lesson took on the machine that made
its record is in the row; on a GPU the same lessons should take minutes, but no record on this
page comes from one.
"""


def lessons() -> list[str]:
    """The lessons this page reports, in order: those `make full-profile` runs."""
    return list(dict.fromkeys([r.lesson for r in ROWS] + [p.lesson for p in COST_POINTS]))


def load_records() -> dict[str, dict]:
    return full_records.load_records(RECORDS)


def current_statuses(records: dict[str, dict]) -> dict[str, tuple[str, list[str]]]:
    """Each record's status against the code in the repository now."""
    return {lesson: full_records.status(lesson, records) for lesson in records}


def device(record: dict) -> str:
    """The device, and on a CPU the number of threads torch used."""
    if record["device"].startswith("CPU"):
        threads = record["torch_threads"]
        return f"{record['device']}, {threads} thread{'s' if threads != 1 else ''}"
    return record["device"]


def _took(record: dict) -> str:
    """The lesson's wall-clock time and the day of its run, as the page shows it (seconds under a minute)."""
    seconds = record["seconds"]
    return f"{seconds / 60:.0f} min ({record['started'][:10]})" if seconds >= 60 else f"{seconds:.0f} s ({record['started'][:10]})"


def _link(lesson: str) -> str:
    return f"[{lesson[:2]}](../notebooks/{lesson}.ipynb)"


def _table(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]]) -> list[str]:
    lines = ["| lesson | record | experiment (full profile) | target | measured | met | device | time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in ROWS:
        record = records.get(row.lesson)
        state = {"current": "current", "stale": "**stale**"}.get(statuses.get(row.lesson, ("missing",))[0], "")
        glued = {} if record is None else record["glued"]
        try:
            measured = row.measured(glued)
        except KeyError:  # no full-profile run yet, or one recorded before this row's experiment existed
            lines.append(f"| {_link(row.lesson)} | {state} | {row.experiment} | {row.target} | *to be measured* | | | |")
            continue
        met = "—" if row.met is None else VERDICTS[row.met(glued)]
        lines.append(f"| {_link(row.lesson)} | {state} | {row.experiment} | {row.target} | {measured} | {met} "
                     f"| {device(record)}, torch {record['versions']['torch']} | {_took(record)} |")
    return lines


def _stale_section(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]]) -> list[str]:
    stale = [(lesson, reasons) for lesson, (state, reasons) in sorted(statuses.items()) if state == "stale"]
    if not stale:
        return ["Every record is current."]
    lines = ["Stale records (the code has changed since their run; `make full-profile` runs them again):", ""]
    for lesson, reasons in stale:
        lines.append(f"- lesson {_link(lesson)}, run on {records[lesson]['started'][:10]}: {'; '.join(reasons)}")
    return lines


# Each lesson's full profile must finish within this many minutes on two CPU cores (lesson 10,
# the recipe that reaches 94 % on CIFAR-10, has an hour).
BUDGET_MINUTES = {"10_cifar10_from_scratch": 60}
DEFAULT_BUDGET_MINUTES = 45


def _time_section(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]],
                  notebooks: Path = full_records.NOTEBOOKS) -> list[str]:
    """Every lesson's full-profile time against its budget, from its record (the lessons without one say so)."""
    lines = ["## Every lesson's full profile", "",
             "How long each lesson took from top to bottom in the `full` profile, on the machine that made its "
             f"record, against its budget ({DEFAULT_BUDGET_MINUTES} minutes on two CPU cores; lesson 10: "
             f"{BUDGET_MINUTES['10_cifar10_from_scratch']}). A lesson the table above does not report has a record "
             "here when its full profile has been run (`make full-profile FULL_NB=notebooks/<lesson>.ipynb`): "
             "every check cell ran at full size and passed.", "",
             "| lesson | record | time | budget | within | device |", "| --- | --- | --- | --- | --- | --- |"]
    for lesson in sorted({p.stem for p in notebooks.glob("[0-9][0-9]_*.ipynb")} | set(records)):
        budget = BUDGET_MINUTES.get(lesson, DEFAULT_BUDGET_MINUTES)
        record = records.get(lesson)
        if record is None:
            lines.append(f"| {_link(lesson)} | *not run yet* | | {budget} min | | |")
            continue
        state = {"current": "current", "stale": "**stale**"}.get(statuses.get(lesson, ("missing",))[0], "")
        lines.append(f"| {_link(lesson)} | {state} | {_took(record)} | {budget} min "
                     f"| {'yes' if record['seconds'] <= 60 * budget else '**no**'} | {device(record)} |")
    return lines


def _figure(path: str, alt: str, caption: str) -> list[str]:
    return [f"```{{figure}} {path}", f":alt: {alt}", ":width: 100%", "", caption, "```"]


def _cost_section(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]],
                  figures: dict[str, tuple[str, dict]]) -> list[str]:
    points, missing = cost_points(records, statuses)
    r = REFERENCE
    data = {"reference": {"label": f"{r.label}, {r.hardware}", "accuracy": r.accuracy, "minutes": r.seconds / 60,
                          "flops": r.flops}, "points": points}
    name = results_figures.figure_name("cost", data)
    figures[name] = ("cost", data)
    lines = ["## Accuracy against training cost", "",
             "CIFAR-10 test accuracy against the training's wall-clock time (left) and its floating-point "
             "operations (right), both on logarithmic scales. The reference point is airbench94 "
             f"([Jordan, 2024]({PAPER})): {r.accuracy:.2%} mean test accuracy in {r.seconds} s of training on "
             f"{r.hardware}, {r.flops / 1e15:.2f} PFLOP, as the table of [its repository's README]({r.source}) "
             "states them for `airbench94_compiled.py`, which uses `torch.compile` (the uncompiled "
             "`airbench94.py`, which the lesson's code follows, takes 3.83 s at the same commit; the current "
             "README gives 3.09 s for the compiled script with a newer PyTorch). "
             "Times on different hardware compare the recipes only loosely; FLOPs do not depend on the "
             "hardware.", ""]
    lines += _figure(f"{FIGURES.name}/{name}", "CIFAR-10 test accuracy against training minutes and training FLOPs",
                     "CIFAR-10 test accuracy against training cost: the full-profile runs and the published "
                     "reference. A hollow marker is a stale record.")
    lines.append("")
    if not points:
        lines.append("No lesson's full-profile record has these values yet ("
                     + "; ".join(missing) + "), so the figure shows only the reference point.")
    else:
        lines += ["| run | test accuracy | training time | training FLOPs | record |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {p['label']} | {p['accuracy']:.1%} | {p['minutes']:.3g} min | {p['flops']:.2e} "
                  f"| {'**stale**' if p['stale'] else 'current'} |" for p in points]
        if missing:
            lines += ["", "Not yet on the figure: " + "; ".join(missing) + "."]
    return lines


def _curve_notes(found: list[Curve], records: dict[str, dict]) -> str:
    """What a curve cannot say by itself: lesson 10's is one view, after each (possibly partial) epoch."""
    if not any(c.lesson == "10_cifar10_from_scratch" for c in found):
        return ""
    note = (" Lesson 10's test accuracy is measured after each epoch with one view of each image (no "
            "test-time augmentation, which only its final figure in the table uses)")
    epochs = records["10_cifar10_from_scratch"].get("glued", {}).get("epochs")
    if epochs is None:
        return note + "."
    partial = "" if float(epochs).is_integer() else ", so its last point comes after a partial epoch"
    return note + f"; the recipe trains {epochs} epochs{partial}."


def _curves_section(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]],
                    figures: dict[str, tuple[str, dict]]) -> list[str]:
    lines = ["## Learning curves", ""]
    found = curves(records, statuses)
    if not found:
        return lines + ["No full-profile record carries a learning curve yet (a lesson records one by gluing "
                        "a list of per-epoch values under a name ending in `_curve`)."]
    data = {"panels": curve_panels(found)}
    name = results_figures.figure_name("curves", data)
    figures[name] = ("curves", data)
    listed = ", ".join(f"lesson {c.lesson[:2]}'s {c.name} ({len(c.values)} epochs)" for c in found)
    lines += ["The per-epoch curves the full-profile runs recorded, one panel per lesson and quantity; "
              "a panel from a stale record says so in its title." + _curve_notes(found, records), ""]
    lines += _figure(f"{FIGURES.name}/{name}", f"Learning curves of the full-profile runs: {listed}",
                     f"Learning curves of the full-profile runs: {listed}.")
    return lines


def page(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]] | None = None
         ) -> tuple[str, dict[str, tuple[str, dict]]]:
    """The page's text, and the figures it shows (file name -> kind and data)."""
    statuses = current_statuses(records) if statuses is None else statuses
    figures: dict[str, tuple[str, dict]] = {}
    lines = _table(records, statuses) + ["", ROW_NOTES] + _stale_section(records, statuses) + [""]
    lines += _cost_section(records, statuses, figures) + [""] + _curves_section(records, statuses, figures)
    lines += [""] + _time_section(records, statuses)
    return HEADER + "\n".join(lines) + "\n", figures


def render(records: dict[str, dict], statuses: dict[str, tuple[str, list[str]]] | None = None) -> str:
    """The page's text (statuses: each record's status; by default against the code now)."""
    return page(records, statuses)[0]


def write(records: dict[str, dict] | None = None, out: Path = OUT, figures_dir: Path = FIGURES) -> list[str]:
    """Write the page and draw its missing figures; remove figures it no longer shows. Returns what changed."""
    text, figures = page(load_records() if records is None else records)
    changed = []
    figures_dir.mkdir(parents=True, exist_ok=True)
    for name, (kind, data) in figures.items():
        if not (figures_dir / name).exists():
            results_figures.draw(kind, data, figures_dir / name)
            changed.append(f"drew {figures_dir.name}/{name}")
    for old in sorted(figures_dir.glob("*.svg")):
        if old.name not in figures:
            old.unlink()
            changed.append(f"removed {figures_dir.name}/{old.name}")
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        full_records.write_atomically(out, text)
        changed.append(f"wrote {out.name}")
    return changed


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def problems(out: Path = OUT, figures_dir: Path = FIGURES) -> list[str]:
    """How the committed page differs from what the records give (empty: it does not)."""
    text, figures = page(load_records())
    found = []
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        found.append(f"{_shown(out)} is not what the records give")
    found += [f"{_shown(figures_dir)}/{n} is missing" for n in figures if not (figures_dir / n).exists()]
    return found


if __name__ == "__main__":
    if "--lessons" in sys.argv:  # the notebooks this page reports
        print(" ".join(f"notebooks/{stem}.ipynb" for stem in lessons()))
        sys.exit(0)
    if "--check" in sys.argv:
        found = problems()
        sys.exit("; ".join(found) + ": run `make results`" if found else 0)
    for line in write() or ["book/results.md is current"]:
        print(line)
