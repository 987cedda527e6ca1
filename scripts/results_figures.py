"""Draw the figures of the book's results page (book/results_figures/*.svg).

Used by scripts/make_results.py, which decides what each figure shows; this
module only draws. A figure's file name carries a hash of its data and of this
file, so that the page, which names the file, changes whenever the figure
would: the test that regenerates the page in memory then covers the figures
without comparing pixels, and a figure is drawn only when its name is new.
The SVG output is made reproducible (no date, a fixed id salt).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from full_records import write_atomically  # noqa: E402

_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
KINDS = ("cost", "curves")


def figure_name(kind: str, data: dict) -> str:
    """``<kind>-<hash>.svg``: the hash covers ``data`` and the drawing code."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    digest = hashlib.sha256((_CODE + kind + json.dumps(data, sort_keys=True)).encode("utf-8")).hexdigest()
    return f"{kind}-{digest[:16]}.svg"


def draw(kind: str, data: dict, path: Path) -> None:
    """Draw figure ``kind`` from ``data`` into the SVG file ``path`` (written atomically)."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no backend, no global state

    with matplotlib.rc_context({"svg.hashsalt": "results-page", "svg.fonttype": "path", "font.size": 9}):
        fig = {"cost": _cost, "curves": _curves}[kind](Figure, data)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    write_atomically(Path(path), buffer.getvalue().decode("utf-8"))


def _cost(Figure, data: dict):
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2, sharey=True)
    ref = data["reference"]
    for ax, key, label in ((axes[0], "minutes", "training time (minutes)"), (axes[1], "flops", "training FLOPs")):
        ax.scatter([ref[key]], [100 * ref["accuracy"]], marker="*", s=160, color="tab:orange", label=ref["label"],
                   zorder=3)
        for i, p in enumerate(data["points"]):
            color = f"C{i % 10}" if i % 10 != 1 else "C9"
            ax.scatter([p[key]], [100 * p["accuracy"]], s=50, label=p["label"] + (" (stale)" if p["stale"] else ""),
                       facecolors="none" if p["stale"] else color, edgecolors=color, zorder=3)
        xs = [ref[key]] + [p[key] for p in data["points"]]
        ax.set_xscale("log")
        ax.set_xlim(min(xs) / 5, max(xs) * 5)
        ax.set_xlabel(label)
        ax.grid(True, which="major", alpha=0.3)
    ys = [100 * ref["accuracy"]] + [100 * p["accuracy"] for p in data["points"]]
    axes[0].set_ylim(min(min(ys) - 5, 80), 100)
    axes[0].set_ylabel("CIFAR-10 test accuracy (%)")
    axes[0].legend(loc="lower right", fontsize=7)
    fig.suptitle("Accuracy against training cost")
    return fig


def _curves(Figure, data: dict):
    from matplotlib.ticker import MaxNLocator

    panels = data["panels"]
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.8 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        scale = 100 if panel["percent"] else 1
        for line in panel["lines"]:
            epochs = range(1, len(line["values"]) + 1)
            ax.plot(epochs, [scale * v for v in line["values"]], marker="o", markersize=3,
                    linestyle="--" if panel["stale"] else "-", label=line["series"])
        ax.set_title(panel["title"], fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{panel['quantity']} (%)" if panel["percent"] else panel["quantity"])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
