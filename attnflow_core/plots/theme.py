"""Colours and small helpers shared by the Bokeh builders (one visual language across all views)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from bokeh.palettes import Greys256

T = TypeVar("T")

BASE = "#16a085"  # pre-trained model: turquoise
TUNED = "#8e44ad"  # fine-tuned model: purple
SHARED = "#e67e22"  # edges both models keep: orange, distinct from both
NEUTRAL = "#95a5a6"
TEXT = "#2c3e50"
HIGHLIGHT = "#e74c3c"

STATUS_COLOURS = {"shared": SHARED, "base": BASE, "tuned": TUNED}
STATUS_LABELS = {"shared": "both models", "base": "pre-trained only", "tuned": "fine-tuned only"}
#: Palette of "how much changed" heatmaps (0 = light grey, the maximum black).
CHANGE = list(reversed(Greys256))[30:]

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"

#: Width of every linked layout in pixels: fits the page's main column (820 px) beside the sidebar in a 1,280-px window (and
#: so in wider ones), the Dataset overview's figures and the saliency row included; a browser test checks every panel's
#: box at 1,280 and 1,500 px.
WIDTH = 800
#: Text colours on coloured cells: ``text_on`` picks the one that reads. Black and white: on any colour one of them
#: has a WCAG contrast of at least 4.58 (AA for normal text); the softer TEXT does not always reach 4.5.
DARK_TEXT, LIGHT_TEXT = "#000000", "#ffffff"
#: Height given to a Div (caption) when it does not say: two lines of 13-px text.
DIV_HEIGHT = 44


def rgba(hex_colour: str, alpha: float) -> str:
    """'#rrggbb' with an alpha in [0, 1] as a CSS rgba() string."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    a = min(max(float(alpha), 0.0), 1.0)
    return f"rgba({r},{g},{b},{a:.3f})"


def mapped_colour(palette: Sequence[str], value: float, low: float, high: float) -> str:
    """The colour a ``LinearColorMapper(palette, low, high)`` gives ``value`` (BokehJS's rule: the palette split
    into equal bins over [low, high]; values outside are clamped). NaN gets the first colour (where Bokeh draws its
    ``nan_color``), and so does every value of an empty range. ``flow_engine.js`` mirrors this function exactly."""
    n = len(palette)
    if high <= low or math.isnan(value):
        return palette[0]
    k = math.floor((float(value) - low) / (high - low) * n) if math.isfinite(value) else value
    return palette[int(min(max(k, 0), n - 1))]


def natural_size(model: Any) -> tuple[int, int]:
    """(width, height) in pixels that a fixed-size Bokeh layout needs: figures and Divs by their own size, rows
    side by side, columns stacked (plus their spacing)."""
    from bokeh.layouts import Column, Row
    from bokeh.models import Div

    if isinstance(model, Row | Column):
        sizes = [natural_size(child) for child in model.children]
        gaps = int(model.spacing or 0) * max(len(sizes) - 1, 0)
        if not sizes:
            return 0, 0
        if isinstance(model, Row):
            return sum(w for w, _ in sizes) + gaps, max(h for _, h in sizes)
        return max(w for w, _ in sizes), sum(h for _, h in sizes) + gaps
    width = int(model.width or WIDTH)
    height = model.height
    if height is None:
        height = DIV_HEIGHT if isinstance(model, Div) else 300
    return width, int(height)


def fit(layout: T) -> T:
    """Give a layout's root its natural size, so that the page reserves exactly that much room for it.

    streamlit-bokeh sizes the page element from the root's own ``width``/``height`` (a Column has none, and would
    get a default 350 px, letting taller content spill over what follows).
    """
    width, height = natural_size(layout)
    layout.width, layout.height = width, height
    return layout


def ramp(hex_colour: str, steps: int = 64) -> list[str]:
    """A sequential palette from near-white to ``hex_colour`` (for values 0 .. max shaded in one model's colour)."""
    h = hex_colour.lstrip("#")
    rgb = [int(h[i : i + 2], 16) for i in (0, 2, 4)]
    out = []
    for k in range(steps):
        t = 0.06 + 0.94 * k / (steps - 1)
        r, g, b = (round(255 + (c - 255) * t) for c in rgb)
        out.append(f"#{r:02x}{g:02x}{b:02x}")
    return out


def luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of '#rrggbb' (0 = black, 1 = white)."""
    h = hex_colour.lstrip("#")
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 = none, 21 = black on white)."""
    la, lb = sorted((luminance(a), luminance(b)))
    return (lb + 0.05) / (la + 0.05)


def text_on(*fills: str, dark: str = DARK_TEXT, light: str = LIGHT_TEXT) -> str:
    """The text colour that reads on a cell of colour ``fill`` (``dark`` on light cells, ``light`` on dark ones:
    whichever contrasts more with it), or on a cell of several fills (the flow view's sentence strip writes one
    label across both models' halves): the one whose lowest contrast over them is the higher. ``flow_engine.js``
    mirrors this function exactly (``textOn``)."""
    worst_dark = min(contrast(f, dark) for f in fills)
    worst_light = min(contrast(f, light) for f in fills)
    return dark if worst_dark >= worst_light else light


def mapped_colours(palette: Sequence[str], values: Any, low: float, high: float) -> list[str]:
    """``mapped_colour`` of each of ``values`` (any shape, read in C order), so that a cell's text colour can be
    picked (``text_on``) from the colour its fill gets."""
    return [
        mapped_colour(palette, v, low, high) for v in np.asarray(values, dtype=np.float64).ravel().tolist()
    ]
