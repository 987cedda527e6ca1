"""Interactive demos that stay visible in the static book.

Introduced in lesson 01 ("Image convolution") and used by every interactive
demo in the course.

Design
------
A demo is one drawing function ``draw(fig, **values)`` that draws into an empty
matplotlib figure for one setting of its controls, plus the controls
themselves (``name -> sequence of allowed values``). :func:`interactive_demo`
then shows, in this order:

1. **A static fallback, always.** By default a *frame grid*: the figure drawn
   for a few settings (``frames``), rasterised and tiled into one PNG with the
   setting written above each tile. With ``static="animation"`` (or
   ``"both"``) it also emits a self-contained HTML/JavaScript player
   (:meth:`matplotlib.animation.Animation.to_jshtml`) stepping through the
   frames. Because these outputs are stored in the executed notebook, the
   built book shows them without a kernel; a widget alone would render as
   nothing there. Both are emitted as HTML inside
   ``<div class="lessonkit-static">`` (the grid as an ``<img>`` with a
   data URI), so the site can find and check them.
2. **The live widget, when one can work**: if IPython with a kernel and
   ``ipywidgets`` are available, a panel of controls (a slider for numbers, a
   drop-down for anything else) that redraws the figure on change. The figure
   is written into the ``Output`` widget's state (``append_display_data``),
   not captured from display messages, so a headless run (nbclient, nbval,
   the book build) records no stray output next to the widget.

Regression checks (nbval) compare ``text/plain`` and ``text/html`` outputs
but skip PNG images and widget views. So every ``text/plain`` this module
emits is a fixed sentence (no widget ids, no timings), the widget is displayed
with a fixed ``text/plain`` stand-in, and the HTML player's element id, which
matplotlib draws at random, is replaced by a hash of the frames. The HTML
outputs embed rendered pixels (base64 PNG), identical from run to run on one
machine but not necessarily across machines (fonts, libraries); an nbval
sanitiser that replaces ``data:image/png;base64,...`` by a placeholder makes
them comparable everywhere. The animation is larger and slower to compare:
tag a cell that uses ``static="animation"`` with ``nbval-ignore-output``.

Outside IPython (a script, a test) nothing is displayed; the function still
returns the static figure, so the same demo can be saved or tested.

Where students run it
---------------------
The widget works with ipywidgets 7 and 8. Google Colab preinstalls
ipywidgets 7 (and imports it before any cell runs), in which a widget has no
``_repr_mimebundle_``; the widget is then displayed with the same bundle that
ipywidgets 7's own ``_ipython_display_`` sends, with our fixed ``text/plain``.
In Colab the custom widget manager is enabled before the first widget is
shown. If the live widget cannot be built or displayed for any reason
(ipywidgets missing, an incompatible version), the demo shows its static
version and one sentence saying why the controls are missing; it never raises.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._utils import check_choice, check_int, check_type
from .plot import _panel_grid

__all__ = ["InteractiveDemo", "interactive_demo", "render_frames", "frame_grid", "frames_animation", "static_html", "in_notebook", "widget_bundle"]

_STATIC_MODES = ("grid", "animation", "both")
STATIC_TEXT = "Static preview of an interactive demo ({n} settings)."
ANIMATION_TEXT = "Animation of an interactive demo ({n} frames)."
WIDGET_TEXT = "Interactive controls ({names}): run this notebook in Jupyter to use them; the figure above shows a few settings."
NO_WIDGET_TEXT = "The interactive controls ({names}) cannot be shown here ({reason}); the figure above shows a few settings."
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@dataclass
class InteractiveDemo:
    """What :func:`interactive_demo` built: the static figure/HTML and the widget (if any).

    Attributes
    ----------
    frames : list of dict
        The control values of each frame of the static fallback.
    grid : matplotlib.figure.Figure or None
        The frame grid (``static="grid"`` or ``"both"``).
    animation_html : str or None
        The HTML player (``static="animation"`` or ``"both"``).
    widget : ipywidgets widget or None
        The live controls, when built.

    Examples
    --------
    >>> demo = interactive_demo(lambda fig, k: fig.add_subplot().plot([0, k]), {"k": [1, 2]}, widget=False)
    >>> demo.frames, demo.grid is not None, demo.widget
    ([{'k': 1}, {'k': 2}], True, None)

    Introduced in lesson 01.
    """

    frames: list[dict[str, Any]]
    grid: Figure | None = None
    animation_html: str | None = field(default=None, repr=False)
    widget: Any = field(default=None, repr=False)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # a stable text form if it is ever the cell's value
        p.text(f"InteractiveDemo({len(self.frames)} frames)")


def in_notebook() -> bool:
    """True when running inside an IPython kernel (Jupyter, Colab, nbclient).

    Examples
    --------
    >>> in_notebook()  # a doctest or a script runs without a kernel
    False

    Introduced in lesson 01.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of Jupyter
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _check_controls(controls: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    if not isinstance(controls, Mapping):
        raise TypeError(f"controls must be a mapping name -> sequence of values, got {type(controls).__name__}")
    if not controls:
        raise ValueError("controls must name at least one control, got an empty mapping")
    out: dict[str, list[Any]] = {}
    for name, values in controls.items():
        check_type("a control name", name, str)
        if not name.isidentifier():
            raise ValueError(f"control names must be Python identifiers (they become keyword arguments), got {name!r}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) and not isinstance(values, np.ndarray):
            raise TypeError(f"control {name!r} needs a sequence of allowed values, got {type(values).__name__}")
        values = list(values)
        if not values:
            raise ValueError(f"control {name!r} has no values")
        out[name] = values
    return out


def _resolve_frames(controls: dict[str, list[Any]], defaults: Mapping[str, Any] | None, frames: Sequence[Mapping[str, Any]] | None, max_frames: int) -> list[dict[str, Any]]:
    base = {name: values[0] for name, values in controls.items()}
    for name, value in (defaults or {}).items():
        if name not in controls:
            raise ValueError(f"default for unknown control {name!r}; controls are {list(controls)}")
        base[name] = value
    if frames is None:
        first, values = next(iter(controls.items()))
        idx = np.unique(np.linspace(0, len(values) - 1, min(max_frames, len(values))).round().astype(int))
        frames = [{first: values[i]} for i in idx]
    resolved = []
    for i, frame in enumerate(frames):
        if not isinstance(frame, Mapping):
            raise TypeError(f"frames[{i}] must be a mapping control -> value, got {type(frame).__name__}")
        unknown = set(frame) - set(controls)
        if unknown:
            raise ValueError(f"frames[{i}] sets unknown control(s) {sorted(unknown)}; controls are {list(controls)}")
        resolved.append({**base, **frame})
    if not resolved:
        raise ValueError("frames is empty: the static fallback needs at least one frame")
    return resolved


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _label(frame: Mapping[str, Any], names: Sequence[str]) -> str:
    return ", ".join(f"{k}={_fmt(frame[k])}" for k in names)


def render_frames(draw: Callable[..., Any], frames: Sequence[Mapping[str, Any]], *, figsize: tuple[float, float] = (6.0, 3.0), dpi: int = 80) -> list[np.ndarray]:
    """Draw ``draw(fig, **frame)`` for each frame and return the RGB pixels.

    Parameters
    ----------
    draw : callable
        ``draw(fig, **values)`` draws into the empty figure ``fig``.
    frames : sequence of dict
        One mapping of keyword arguments per frame.
    figsize, dpi
        Size of each rendered frame.

    Returns
    -------
    list of numpy.ndarray
        One ``(H, W, 3)`` uint8 array per frame, all the same shape.

    Examples
    --------
    >>> imgs = render_frames(lambda fig, k: fig.add_subplot().plot([0, k]), [{"k": 1}, {"k": 2}])
    >>> len(imgs), imgs[0].ndim
    (2, 3)

    Introduced in lesson 01.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not callable(draw):
        raise TypeError(f"draw must be callable as draw(fig, **values), got {type(draw).__name__}")
    images = []
    for frame in frames:
        fig = Figure(figsize=figsize, dpi=dpi)
        canvas = FigureCanvasAgg(fig)
        draw(fig, **frame)
        canvas.draw()
        images.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return images


def frame_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, *, ncols: int = 3, dpi: int = 80) -> Figure:
    """Tile rendered frames into one figure (the static fallback of a demo).

    Parameters
    ----------
    images : sequence of ``(H, W, 3)`` arrays, e.g. from :func:`render_frames`
    titles : sequence of str, optional
        One caption per frame.
    ncols : int
        Tiles per row.

    Returns
    -------
    matplotlib.figure.Figure
        A figure not registered with pyplot (display it, or ``fig.savefig``).

    Examples
    --------
    >>> frames = [np.zeros((30, 40, 3), np.uint8)] * 5
    >>> fig = frame_grid(frames, [f"k={k}" for k in range(5)], ncols=3)
    >>> len(fig.axes), fig.axes[4].get_title()  # two rows of three, the last tile empty
    (6, 'k=4')

    Introduced in lesson 01.
    """
    if len(images) == 0:
        raise ValueError("frame_grid needs at least one image")
    h, w = images[0].shape[:2]
    title_h = 0.3 if titles is not None else 0.0
    fig, axes = _panel_grid(
        len(images),
        titles,
        ncols=ncols,
        figsize=lambda nrows, ncols: (ncols * w / dpi, nrows * (h / dpi + title_h)),
        fontsize=9,
        new_figure=lambda size: Figure(figsize=size, dpi=dpi, layout="constrained"),
    )
    for image, ax in zip(images, axes):
        ax.imshow(image, interpolation="antialiased")
    return fig


def frames_animation(images: Sequence[np.ndarray], *, fps: int = 4) -> str:
    """A self-contained HTML/JavaScript player for rendered frames.

    The element id that matplotlib draws at random is replaced by a hash of
    the frames, so the same frames always give the same HTML.

    Returns
    -------
    str
        HTML (display with ``IPython.display.HTML``).

    Examples
    --------
    >>> frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 255)]
    >>> html = frames_animation(frames)
    >>> html.count("data:image/png;base64"), html == frames_animation(frames)  # one per frame; reproducible
    (2, True)

    Introduced in lesson 01.
    """
    check_int("fps", fps, minimum=1)
    from matplotlib import animation

    if len(images) == 0:
        raise ValueError("frames_animation needs at least one image")
    h, w = images[0].shape[:2]
    fig = Figure(figsize=(w / 80, h / 80), dpi=80)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    artist = ax.imshow(images[0], interpolation="nearest")

    def update(i: int):
        artist.set_data(images[i])
        return (artist,)

    anim = animation.FuncAnimation(fig, update, frames=len(images), interval=1000 // fps, blit=False)
    html = anim.to_jshtml(fps=fps, default_mode="loop")
    # matplotlib links Font Awesome 4 from a CDN for the button icons; the book's theme already
    # ships Font Awesome, and a static site must not depend on a third-party CDN.
    html = re.sub(r'<link rel="stylesheet"\s+href="https://maxcdn\.bootstrapcdn\.com/[^"]*">\s*', "", html)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(im).tobytes() for im in images)).hexdigest()[:32]
    ids = set(re.findall(r"_anim_img([0-9a-f]{32})", html))
    for old in ids:
        html = html.replace(old, digest)
    return html


def _png(fig: Figure) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def _display_figure(fig: Figure) -> None:
    """Display a figure as a PNG whatever the matplotlib backend (even ``agg``)."""
    from IPython.display import Image, display

    display(Image(data=_png(fig), format="png"))


def static_html(fig: Figure, alt: str) -> str:
    """The frame grid as an HTML figure: ``<div class="lessonkit-static"><img ...></div>``.

    The ``lessonkit-static`` class marks the static fallback of a demo on the
    built site (the site tests check that it is visible).

    Examples
    --------
    >>> html = static_html(Figure(figsize=(1, 1)), alt="a <demo>")
    >>> html.startswith('<div class="lessonkit-static"><img alt="a &lt;demo&gt;" src="data:image/png;base64,')
    True

    Introduced in lesson 01.
    """
    check_type("fig", fig, Figure)
    check_type("alt", alt, str)
    import base64
    import html

    data = base64.b64encode(_png(fig)).decode("ascii")
    return f'<div class="lessonkit-static"><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="max-width:100%"/></div>'


def _make_widget(draw: Callable[..., Any], controls: dict[str, list[Any]], start: dict[str, Any], figsize: tuple[float, float]):
    import ipywidgets as widgets
    from IPython.display import Image

    inputs = {}
    for name, values in controls.items():
        value = start[name] if start[name] in values else values[0]
        if all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
            inputs[name] = widgets.SelectionSlider(options=[(_fmt(v), v) for v in values], value=value, description=name, continuous_update=False)
        else:
            inputs[name] = widgets.Dropdown(options=[(_fmt(v), v) for v in values], value=value, description=name)
    out = widgets.Output()

    def redraw(change: Any = None) -> None:
        # Write into the Output widget's state instead of capturing display messages: no
        # iopub traffic, so a headless run (nbclient, nbval) records nothing outside the widget.
        fig = Figure(figsize=figsize)
        try:
            draw(fig, **{name: w.value for name, w in inputs.items()})
            item: Any = Image(data=_png(fig), format="png")
        except Exception as exc:  # shown in the widget: a callback's traceback would be lost
            item = f"{type(exc).__name__}: {exc}"
        out.outputs = ()
        if isinstance(item, str):
            out.append_stdout(item + "\n")
        else:
            out.append_display_data(item)

    for w in inputs.values():
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox(list(inputs.values())), out])


_colab_manager_enabled = False


def _enable_colab_widgets() -> None:
    """In Google Colab, switch on the custom widget manager once (harmless elsewhere: a no-op)."""
    global _colab_manager_enabled
    if _colab_manager_enabled or "google.colab" not in sys.modules:
        return
    from google.colab import output  # type: ignore[import-not-found]

    output.enable_custom_widget_manager()
    _colab_manager_enabled = True


def widget_bundle(widget: Any, text: str) -> dict[str, Any]:
    """The display bundle of an ipywidgets widget with a fixed ``text/plain``, for ipywidgets 7 and 8.

    ipywidgets 8 has ``_repr_mimebundle_``; ipywidgets 7 (Colab's) displays a
    widget through ``_ipython_display_``, which sends a widget view of model
    format 2.0 pointing at ``widget.model_id``: the same bundle is built here.

    Introduced in lesson 01.

    Examples
    --------
    >>> class Seven:  # what an ipywidgets 7 widget offers
    ...     model_id = "abc"
    >>> widget_bundle(Seven(), "controls")["application/vnd.jupyter.widget-view+json"]["model_id"]
    'abc'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if callable(getattr(widget, "_repr_mimebundle_", None)):
        bundle = dict(widget._repr_mimebundle_())
    elif getattr(widget, "model_id", None):
        bundle = {_WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}
    else:
        raise TypeError(f"expected an ipywidgets widget (with _repr_mimebundle_ or model_id), got {type(widget).__name__}")
    if _WIDGET_VIEW not in bundle:
        raise ValueError("the widget has no view to display")
    bundle["text/plain"] = text
    return bundle


def _display_widget(widget: Any, text: str) -> str | None:
    """Display the widget; return why it could not be, instead of raising."""
    from IPython.display import display

    try:
        _enable_colab_widgets()
        bundle = widget_bundle(widget, text)
    except Exception as exc:
        return f"{type(exc).__name__} while displaying them"
    display(bundle, raw=True)
    handle_displayed = getattr(widget, "_handle_displayed", None)  # ipywidgets 7 fires its on_displayed callbacks
    if callable(handle_displayed) and not callable(getattr(widget, "_repr_mimebundle_", None)):
        handle_displayed()
    return None


def interactive_demo(
    draw: Callable[..., Any],
    controls: Mapping[str, Sequence[Any]],
    *,
    frames: Sequence[Mapping[str, Any]] | None = None,
    defaults: Mapping[str, Any] | None = None,
    static: str = "grid",
    ncols: int = 3,
    max_frames: int = 6,
    figsize: tuple[float, float] = (6.0, 3.0),
    dpi: int = 80,
    fps: int = 4,
    widget: bool | None = None,
) -> InteractiveDemo:
    """Show a demo: a static fallback (always) and live controls (in Jupyter).

    Parameters
    ----------
    draw : callable
        ``draw(fig, **values)`` draws into an empty figure for one setting.
    controls : dict of name -> sequence
        The allowed values of each control: numbers give a slider, anything
        else a drop-down.
    frames : sequence of dict, optional
        The settings shown in the static fallback (missing controls take their
        default). Default: up to ``max_frames`` values of the first control.
    defaults : dict, optional
        Default value of each control (else its first value).
    static : {"grid", "animation", "both"}
        The static fallback: a PNG frame grid, an HTML/JS player, or both.
    ncols : int
        Tiles per row of the frame grid.
    figsize, dpi : size of one frame.
    fps : frames per second of the HTML player.
    widget : bool, optional
        Show the live widget; default: when in a kernel. If it cannot be
        built or shown (no ipywidgets, an incompatible version), one sentence
        below the static figure says so; the demo never raises for it.

    Returns
    -------
    InteractiveDemo
        The frames, the grid figure, the player HTML and the widget.

    Examples
    --------
    >>> def draw(fig, k):
    ...     fig.add_subplot().plot(np.arange(5) ** k)
    >>> demo = interactive_demo(draw, {"k": [1, 2, 3]}, widget=False)
    >>> len(demo.frames)
    3

    Introduced in lesson 01.
    """
    check_choice("static", static, _STATIC_MODES)
    check_int("ncols", ncols, minimum=1)
    check_int("max_frames", max_frames, minimum=1)
    check_int("fps", fps, minimum=1)
    ctrl = _check_controls(controls)
    resolved = _resolve_frames(ctrl, defaults, frames, max_frames)
    images = render_frames(draw, resolved, figsize=figsize, dpi=dpi)
    names = [n for n in ctrl if len({repr(f[n]) for f in resolved}) > 1] or list(ctrl)
    titles = [_label(f, names) for f in resolved]
    demo = InteractiveDemo(frames=resolved)
    if static in ("grid", "both"):
        demo.grid = frame_grid(images, titles, ncols=ncols, dpi=dpi)
    if static in ("animation", "both"):
        demo.animation_html = frames_animation(images, fps=fps)

    notebook = in_notebook()
    names_text = ", ".join(ctrl)
    problem = None  # why the live widget is missing, when it was wanted
    if widget is None:
        widget = notebook
        if widget:
            try:
                importlib.import_module("ipywidgets")  # only whether it imports matters here
            except ImportError:
                widget, problem = False, "ipywidgets is not installed"
    if widget:
        start = {**{n: v[0] for n, v in ctrl.items()}, **(defaults or {})}
        try:
            demo.widget = _make_widget(draw, ctrl, start, figsize)
        except Exception as exc:  # an incompatible ipywidgets must not break the lesson
            problem = f"{type(exc).__name__} while building them"

    if notebook:
        from IPython.display import display

        if demo.grid is not None:
            alt = "Static preview of an interactive demo: " + "; ".join(titles)
            display({"text/html": static_html(demo.grid, alt), "text/plain": STATIC_TEXT.format(n=len(titles))}, raw=True)
        if demo.animation_html is not None:
            display({"text/html": f'<div class="lessonkit-static">{demo.animation_html}</div>', "text/plain": ANIMATION_TEXT.format(n=len(titles))}, raw=True)
        if demo.widget is not None:
            problem = _display_widget(demo.widget, WIDGET_TEXT.format(names=names_text))
        if problem is not None:
            print(NO_WIDGET_TEXT.format(names=names_text, reason=problem))
    return demo
