"""Colours and small helpers shared by the Bokeh builders (one visual language across all views)."""

from __future__ import annotations

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
MODEL_LABELS = {"base": "pre-trained", "tuned": "fine-tuned"}
#: Palette of "how much changed" heatmaps (0 = light grey, the maximum black).
CHANGE = list(reversed(Greys256))[30:]

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"

#: Width of every linked layout in pixels: fits the page's main column (820 px) beside the sidebar in a 1,280-px window (and
#: so in wider ones); a browser test checks every panel's box at 1,280 and 1,500 px.
WIDTH = 800
#: Height given to a Div (caption) when it does not say: two lines of 13-px text.
DIV_HEIGHT = 44


def rgba(hex_colour: str, alpha: float) -> str:
    """'#rrggbb' with an alpha in [0, 1] as a CSS rgba() string."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    a = min(max(float(alpha), 0.0), 1.0)
    return f"rgba({r},{g},{b},{a:.3f})"


def lightness(hex_colour: str) -> float:
    """Perceived lightness of '#rrggbb' in [0, 1] (0.299 R + 0.587 G + 0.114 B): text on a colour darker than about
    0.5 reads better in white."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255.0


def mapped_colour(palette: list[str], value: float, low: float, high: float) -> str:
    """The colour a ``LinearColorMapper(palette, low, high)`` gives ``value`` (BokehJS's rule: the palette split
    into equal bins over [low, high]; values outside are clamped)."""
    n = len(palette)
    if high <= low:
        return palette[0]
    k = int(np.floor((float(value) - low) / (high - low) * n))
    return palette[min(max(k, 0), n - 1)]


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
