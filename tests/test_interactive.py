"""Tests for lessonkit.interactive: static fallbacks, determinism, widget output."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import nbformat
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lessonkit.interactive import (
    ANIMATION_TEXT,
    STATIC_TEXT,
    WIDGET_TEXT,
    frame_grid,
    frames_animation,
    in_notebook,
    interactive_demo,
    render_frames,
)


def draw_line(fig, slope, colour="red"):
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, slope], color=colour)
    ax.set_ylim(-3, 3)


def test_render_frames_matches_direct_agg_rendering():
    # Oracle: render the same drawing by hand with the Agg canvas.
    fig = Figure(figsize=(3, 2), dpi=50)
    canvas = FigureCanvasAgg(fig)
    draw_line(fig, slope=2)
    canvas.draw()
    expected = np.asarray(canvas.buffer_rgba())[..., :3]
    (got,) = render_frames(draw_line, [{"slope": 2}], figsize=(3, 2), dpi=50)
    assert got.shape == (100, 150, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_frames_differ_when_the_setting_differs():
    a, b, c = render_frames(draw_line, [{"slope": 1}, {"slope": -2}, {"slope": 1}], figsize=(3, 2), dpi=40)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_default_frames_sweep_the_first_control_and_fill_defaults():
    demo = interactive_demo(draw_line, {"slope": [-2, -1, 0, 1, 2], "colour": ["red", "blue"]}, max_frames=3, defaults={"colour": "blue"}, widget=False, figsize=(2, 1.5), dpi=30)
    assert demo.frames == [{"slope": -2, "colour": "blue"}, {"slope": 0, "colour": "blue"}, {"slope": 2, "colour": "blue"}]
    assert demo.grid is not None and len([ax for ax in demo.grid.axes if ax.images]) == 3
    titles = [ax.get_title() for ax in demo.grid.axes]
    assert titles == ["slope=-2", "slope=0", "slope=2"]
    assert demo.animation_html is None and demo.widget is None


def test_explicit_frames_and_grid_layout():
    frames = [{"slope": 1}, {"slope": 2, "colour": "blue"}, {"slope": 0}]
    demo = interactive_demo(draw_line, {"slope": [0, 1, 2], "colour": ["red", "blue"]}, frames=frames, ncols=2, widget=False, figsize=(2, 1.5), dpi=30)
    assert [ax.get_title() for ax in demo.grid.axes][:3] == ["slope=1, colour=red", "slope=2, colour=blue", "slope=0, colour=red"]
    assert len(demo.grid.axes) == 4  # 2 x 2 grid, the last tile empty
    assert not demo.grid.axes[3].images


def test_animation_html_is_deterministic_and_holds_every_frame():
    images = render_frames(draw_line, [{"slope": s} for s in (1, 2, 3)], figsize=(2, 1.5), dpi=30)
    html1 = frames_animation(images)
    html2 = frames_animation(images)
    assert html1 == html2
    assert html1.count("data:image/png;base64") == 3
    assert "https://" not in html1  # no third-party CDN in a static page
    other = frames_animation(images[:2])
    ids1 = set(re.findall(r'id="_anim_img([0-9a-f]+)"', html1))
    ids2 = set(re.findall(r'id="_anim_img([0-9a-f]+)"', other))
    assert len(ids1) == 1 and ids1 != ids2


def test_frame_grid_validation():
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="at least one"):
        frame_grid([])
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        frame_grid([img, img], ["a"])
    with pytest.raises(ValueError, match="ncols"):
        frame_grid([img], ncols=0)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(controls={}), TypeError, "non-empty mapping"),
        (dict(controls={"slope": 3}), TypeError, "sequence of allowed values"),
        (dict(controls={"slope": "abc"}), TypeError, "sequence of allowed values"),
        (dict(controls={"slope": []}), ValueError, "has no values"),
        (dict(controls={"not valid": [1]}), ValueError, "identifiers"),
        (dict(controls={"slope": [1]}, static="movie"), ValueError, "static must be one of"),
        (dict(controls={"slope": [1]}, frames=[{"angle": 3}]), ValueError, "unknown control"),
        (dict(controls={"slope": [1]}, frames=[3]), TypeError, "frames\\[0\\]"),
        (dict(controls={"slope": [1]}, frames=[]), ValueError, "frames is empty"),
        (dict(controls={"slope": [1]}, defaults={"angle": 1}), ValueError, "unknown control"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        interactive_demo(draw_line, widget=False, **kwargs)


def test_draw_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        interactive_demo("not a function", {"slope": [1]}, widget=False)


def test_not_in_notebook_here():
    assert in_notebook() is False


def _run_notebook(tmp_path):
    from nbclient import NotebookClient

    code = (
        "import matplotlib\nmatplotlib.use('agg')  # the Makefile's backend: the demo must not depend on inline\n"
        "from lessonkit.interactive import interactive_demo\n"
        "def draw(fig, slope, colour='red'):\n"
        "    ax = fig.add_subplot(); ax.plot([0, 1], [0, slope], color=colour)\n"
        "interactive_demo(draw, {'slope': [1, 2, 3], 'colour': ['red', 'blue']}, static='both', figsize=(2, 1.5), dpi=30);"
    )
    # The same demo twice in one kernel: its outputs must not depend on the run.
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell(code.split("\n")[-1])])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return [cell.outputs for cell in nb.cells]


def test_in_a_kernel_static_outputs_come_first_and_text_is_stable(tmp_path):
    pytest.importorskip("ipywidgets")
    runs = _run_notebook(tmp_path)
    for outputs in runs:
        assert [o["output_type"] for o in outputs] == ["display_data"] * 3
        grid, player, widget = (o["data"] for o in outputs)
        # the frame grid: what the static book shows, marked for the site tests
        assert grid["text/html"].startswith('<div class="lessonkit-static"><img alt="Static preview')
        assert grid["text/html"].count("data:image/png;base64,") == 1
        assert grid["text/plain"] == STATIC_TEXT.format(n=3)
        assert player["text/html"].startswith('<div class="lessonkit-static">')  # the HTML/JS player
        assert player["text/html"].count("data:image/png;base64") == 3
        assert player["text/plain"] == ANIMATION_TEXT.format(n=3)
        assert "application/vnd.jupyter.widget-view+json" in widget
        assert widget["text/plain"] == WIDGET_TEXT.format(names="slope, colour")
    # What nbval compares (text/plain, text/html) is identical between two runs.
    for a, b in zip(*runs):
        for key in ("text/plain", "text/html"):
            assert a["data"].get(key) == b["data"].get(key)
    # The widget's model id is random, which is why nbval skips that mime type.
    ids = [r[2]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for r in runs]
    assert ids[0] != ids[1]
