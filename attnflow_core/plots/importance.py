"""Bokeh builders for "does the change matter?": head importance beside head change, their scatter, and a token
saliency row (one row per saliency method under the sentence view)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, FixedTicker, Range1d
from bokeh.palettes import Blues256, RdBu11
from bokeh.plotting import figure

from attnflow_core.importance import change_importance_rho
from attnflow_core.plots.overview import CHANGE, _grid
from attnflow_core.plots.theme import TUNED, WIDTH, fit, mapped_colours, text_on
from attnflow_core.saliency import SALIENCY_METHODS, saliency_title

IMPORTANCE = list(reversed(Blues256))[30:]
DIVERGING = list(reversed(RdBu11))  # blue = lowers the predicted label, red = raises it


def build_importance_layout(change: np.ndarray, importance: np.ndarray) -> Any:
    """Head change map (L, H) and head importance map (L, H) side by side, with the change-vs-importance scatter
    (one dot per head) under them; the scatter's title gives Spearman ρ."""
    change = np.asarray(change, dtype=np.float64)
    importance = np.asarray(importance, dtype=np.float64)
    left = _grid(change, "Head change: mean JS divergence", CHANGE, float(change.max()))
    right = _grid(
        importance,
        "Head importance, fine-tuned: |∂L/∂ξ| (Michel et al.)",
        IMPORTANCE,
        float(importance.max()),
    )
    rho = change_importance_rho(change, importance)
    n_layers, n_heads = change.shape
    ll, hh = np.meshgrid(np.arange(1, n_layers + 1), np.arange(n_heads), indexing="ij")
    src = ColumnDataSource(
        {
            "change": change.ravel().tolist(),
            "importance": importance.ravel().tolist(),
            "name": [f"L{a} H{b}" for a, b in zip(ll.ravel(), hh.ravel(), strict=True)],
        }
    )
    scatter = figure(
        width=WIDTH - 20,
        height=300,
        title=f"Change vs importance, one dot per head — Spearman ρ = {rho:.2f}",
        tools="save,hover,box_zoom,reset",
        tooltips=[
            ("head", "@name"),
            ("change (JS)", "@change{0.000}"),
            ("importance", "@importance{0.0000}"),
        ],
        toolbar_location="above",
        name="importance_scatter",
    )
    scatter.scatter("change", "importance", source=src, size=8, color=TUNED, alpha=0.7)
    scatter.xaxis.axis_label = "head change (mean JS divergence)"
    scatter.yaxis.axis_label = "head importance"
    return fit(column(row(left, right), scatter))


#: Token layout of the saliency row: characters per line of the plot area (about 6.5 px per 11-px character in
#: ``WIDTH`` less the method names), the room a token takes beyond its characters, the least room it takes.
LINE_CHARS, TOKEN_PAD, TOKEN_MIN = 92.0, 1.6, 3.0
#: Pixels per method row, and rows of space between two lines of tokens.
ROW_PX, LINE_GAP = 24, 0.6


def token_lines(units: Sequence[str], line_chars: float = LINE_CHARS) -> list[tuple[int, float, float]]:
    """Lay ``units`` out as text is: left to right, each as wide as its characters (plus ``TOKEN_PAD``, at least
    ``TOKEN_MIN``), wrapping to a new line when the next would pass ``line_chars``. -> (line, left, right) per unit,
    in character units."""
    out: list[tuple[int, float, float]] = []
    line, x = 0, 0.0
    for u in units:
        w = max(len(u) + TOKEN_PAD, TOKEN_MIN)
        if x > 0 and x + w > line_chars:
            line, x = line + 1, 0.0
        out.append((line, x, x + w))
        x += w
    return out


def _short(method: str) -> str:
    """A saliency method's short name (the row labels), its key when it is not registered."""
    found = SALIENCY_METHODS.find(method)
    return method if found is None else found.short


def build_saliency_row(units: Sequence[str], saliencies: Mapping[str, np.ndarray]) -> Any:
    """The sentence once per saliency method, each unit's cell coloured by its signed saliency scaled per method to
    [-1, 1] (red raises the predicted label, blue lowers it) and its text dark or light to read on that colour; the
    units wrap onto lines like text (one block of method rows per line), so every label is readable at any length.
    The value is on hover."""
    methods = list(saliencies)
    names = [_short(m) for m in methods]
    places = token_lines(units)
    n_lines = places[-1][0] + 1 if places else 1
    block = len(methods) + LINE_GAP
    xs, ys, ws, vals, raw, texts, methods_of = [], [], [], [], [], [], []
    for k, m in enumerate(methods):
        s = np.asarray(saliencies[m], dtype=np.float64)
        scale = np.abs(s).max() or 1.0
        for i, (line, left, right) in enumerate(places):
            xs.append((left + right) / 2)
            ys.append(-(line * block + k))
            ws.append(right - left - 0.25)
            vals.append(float(s[i] / scale))
            raw.append(float(s[i]))
            texts.append(units[i])
            methods_of.append(saliency_title(m))
    fills = mapped_colours(DIVERGING, vals, -1.0, 1.0)
    rows = n_lines * block - LINE_GAP
    fig = figure(
        width=WIDTH,
        height=int(70 + ROW_PX * rows),
        x_range=Range1d(-0.5, LINE_CHARS + 0.5),
        y_range=Range1d(-(rows - 0.5), 0.5),
        tools="save,hover",
        tooltips=[("token", "@text"), ("method", "@method"), ("saliency", "@raw{0.0000}")],
        toolbar_location="above",
        title="Saliency of the fine-tuned prediction: red raises it, blue lowers it (scaled per method)",
        name="saliency_row",
    )
    src = ColumnDataSource(
        {"x": xs, "y": ys, "w": ws, "v": vals, "raw": raw, "text": texts, "method": methods_of, "fill": fills,
         "ink": [text_on(f) for f in fills]}
    )  # fmt: skip
    fig.rect("x", "y", "w", 0.9, source=src, line_color=None, fill_color="fill")
    fig.text("x", "y", text="text", source=src, text_align="center", text_baseline="middle",
             text_font_size="11px", text_color="ink")  # fmt: skip
    fig.xaxis.visible = False
    fig.yaxis.ticker = FixedTicker(ticks=sorted({float(y) for y in ys}))
    fig.yaxis.major_label_overrides = {
        float(-(line * block + k)): name for line in range(n_lines) for k, name in enumerate(names)
    }
    fig.yaxis.major_tick_line_color = None
    fig.grid.visible = False
    fig.outline_line_color = None
    return fit(fig)
