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
        (dict(controls={}), ValueError, "controls must name at least one control"),
        (dict(controls=[("slope", [1])]), TypeError, "controls must be a mapping name -> sequence of values, got list"),
        (dict(controls={3: [1]}), TypeError, "a control name must be a str, got int"),
        (dict(controls={"slope": [1]}, ncols=0), ValueError, "ncols must be an int >= 1, got 0"),
        (dict(controls={"slope": [1]}, fps=2.5), TypeError, "fps must be an int, got float"),
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


# --- ipywidgets 7 (Colab's) and 8, Colab's widget manager, and the fallback -------------------

DEMO = (
    "from lessonkit.interactive import interactive_demo\n"
    "def draw(fig, slope):\n"
    "    fig.add_subplot().plot([0, 1], [0, slope])\n"
    "interactive_demo(draw, {'slope': [1, 2]}, figsize=(2, 1.5), dpi=30)\n"
    "None"
)


def _run_cells(tmp_path, *sources):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return [cell.outputs for cell in nb.cells]


def _kinds(outputs):
    return [o["output_type"] if o["output_type"] != "display_data" else "widget" if "application/vnd.jupyter.widget-view+json" in o["data"] else "static" for o in outputs]


def test_widget_bundle_points_at_the_widget_model():
    ipywidgets = pytest.importorskip("ipywidgets")
    from lessonkit.interactive import widget_bundle

    slider = ipywidgets.IntSlider()
    bundle = widget_bundle(slider, "controls")
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == slider.model_id and view["version_major"] == 2
    assert bundle["text/plain"] == "controls"
    with pytest.raises(TypeError, match="expected an ipywidgets widget"):
        widget_bundle(object(), "controls")
    with pytest.raises(TypeError, match="text must be a str"):
        widget_bundle(slider, 3)


def test_in_a_kernel_widgets_7_and_8_colab_manager_and_fallbacks(tmp_path):
    pytest.importorskip("ipywidgets")
    fake_colab = (
        "import sys, types\n"
        "calls = []\n"
        "google = types.ModuleType('google'); colab = types.ModuleType('google.colab')\n"
        "colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))\n"
        "google.colab = colab; sys.modules['google'] = google; sys.modules['google.colab'] = colab"
    )
    as_in_ipywidgets_7 = (  # ipywidgets 7 widgets have no _repr_mimebundle_
        "import ipywidgets\n"
        "for cls in type(ipywidgets.VBox()).__mro__:\n"
        "    if '_repr_mimebundle_' in vars(cls):\n"
        "        delattr(cls, '_repr_mimebundle_')\n"
        "assert not hasattr(ipywidgets.VBox(), '_repr_mimebundle_')"
    )
    broken = "import lessonkit.interactive as li\ndef boom(*a, **k):\n    raise AttributeError('no such widget')\nli._make_widget = boom"
    missing = "sys.modules['ipywidgets'] = None  # import ipywidgets now raises ImportError"
    outs = _run_cells(tmp_path, fake_colab, DEMO, DEMO, "print(len(calls))", as_in_ipywidgets_7, DEMO, broken, DEMO, missing, DEMO)
    # ipywidgets as installed (Colab: 7), in Colab: static figure, then the widget; the manager enabled once
    assert _kinds(outs[1]) == _kinds(outs[2]) == ["static", "widget"]
    assert outs[3][0]["text"] == "1\n"
    # a widget without _repr_mimebundle_ (ipywidgets 7): the same outputs, no AttributeError
    assert _kinds(outs[5]) == ["static", "widget"]
    assert outs[5][1]["data"]["text/plain"] == outs[1][1]["data"]["text/plain"]
    # a widget that cannot be built, or no ipywidgets: the static figure and one sentence, never an error
    assert _kinds(outs[7]) == _kinds(outs[9]) == ["static", "stream"]
    assert outs[7][1]["text"] == "The interactive controls (slope) cannot be shown here (AttributeError while building them); the figure above shows a few settings.\n"
    assert "(ipywidgets is not installed)" in outs[9][1]["text"]
