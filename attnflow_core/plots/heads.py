"""The Head differences view: layer × head heatmaps of how much each head changed, and one head's attention matrix
in both models side by side with their difference.

Tapping a heatmap cell swaps the three matrices in the browser when every head's matrices are embedded (examples of
at most ``MAX_EMBED_TOKENS`` units, so the page stays light); otherwise the page's head selector rebuilds the view.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    HoverTool,
    LinearColorMapper,
    Range1d,
    TapTool,
)
from bokeh.models.annotations import ColorBar
from bokeh.models.widgets import Div
from bokeh.palettes import Blues256, RdBu11
from bokeh.plotting import figure

from attnflow_core.analysis import Analysis
from attnflow_core.plots.heatmap import layer_head_heatmap
from attnflow_core.plots.theme import CHANGE, DIV_HEIGHT, NEUTRAL, TEXT, WIDTH, fit

MAX_EMBED_TOKENS = 40
SEQUENTIAL = list(reversed(Blues256))
# Bokeh's RdBu runs from blue (low) to red (high): negative differences (more attention in the pre-trained model)
# are blue, positive ones (more after fine-tuning) red, as the captions say.
DIVERGING = list(RdBu11)


def _heatmap(values: np.ndarray, title: str, palette: list[str], low: float, high: float, name: str) -> Any:
    return layer_head_heatmap(values, title, palette, high, low=low, name=name, tap=True)


def _matrix_source(m: np.ndarray) -> dict[str, Any]:
    """One n × n matrix as cells: numeric columns as arrays (sent to the browser as compact binary); the hover
    turns x/y back into token labels (no per-cell strings: 128 tokens make 16k cells per matrix)."""
    n = m.shape[0]
    jj, ii = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return {
        "x": ii.ravel().astype(np.int32),
        "y": jj.ravel().astype(np.int32),
        "v": m.ravel().astype(np.float32),
    }


def _label_of(labels: tuple[str, ...]) -> CustomJSHover:
    """A hover formatter that shows the token label at an index."""
    return CustomJSHover(args={"labels": list(labels)}, code="return labels[value] + ' #' + value;")


MATRIX_CELL_PX = 12  # pixels per token in the head matrices: 25 tokens need ~420 px, not the ~190 px they had
MATRIX_MARGIN_PX = 120  # axis labels, title and colour bar
LABEL_PX = 11  # one 8-pt tick label


def matrix_size(n: int) -> int:
    """Side in pixels of an n × n head matrix: grows with the token count (bounded to 260..560 px)."""
    return max(260, min(560, MATRIX_CELL_PX * n + MATRIX_MARGIN_PX))


def label_step(n: int, size: int) -> int:
    """Show every k-th token label so that n labels on a ``size``-pixel axis do not overlap."""
    room = max(size - MATRIX_MARGIN_PX, LABEL_PX)
    return max(1, -(-n * LABEL_PX // room))


def _matrix_figure(
    src: ColumnDataSource, labels: tuple[str, ...], title: str, mapper: LinearColorMapper
) -> Any:
    n = len(labels)
    size = matrix_size(n)
    fig = figure(
        width=size,
        height=size,
        x_range=Range1d(start=-0.5, end=n - 0.5),
        y_range=Range1d(start=n - 0.5, end=-0.5),
        tools="save,box_zoom,reset",
        title=title,
        toolbar_location="above",
    )
    fig.rect("x", "y", 1, 1, source=src, fill_color={"field": "v", "transform": mapper}, line_color=None)
    fig.add_tools(
        HoverTool(
            tooltips=[("from (query)", "@y{label}"), ("to (key)", "@x{label}"), ("value", "@v{0.0000}")],
            formatters={"@x": _label_of(labels), "@y": _label_of(labels)},
        )
    )
    ticks = list(range(0, n, label_step(n, size)))
    overrides: dict[float | str, Any] = {i: labels[i] for i in ticks}
    fig.xaxis.ticker = fig.yaxis.ticker = ticks
    fig.xaxis.major_label_overrides = fig.yaxis.major_label_overrides = overrides
    fig.xaxis.major_label_orientation = 1.2
    fig.xaxis.major_label_text_font_size = fig.yaxis.major_label_text_font_size = "8pt" if n > 25 else "9pt"
    fig.xaxis.axis_label, fig.yaxis.axis_label = "attends to (key)", "token (query)"
    fig.grid.visible = False
    fig.add_layout(ColorBar(color_mapper=mapper, width=8), "right")
    return fig


def build_head_diff_layout(analysis: Analysis, selected: tuple[int, int] = (1, 0)) -> Any:
    """Heatmaps of JS divergence and mean |Δ| per (layer, head) and the selected head's matrices (layer 1-based)."""
    d = analysis.head_diff
    n_layers, n_heads = d.js.shape
    layer, head = selected
    if not (1 <= layer <= n_layers and 0 <= head < n_heads):
        raise ValueError(
            f"selected head must be (layer 1..{n_layers}, head 0..{n_heads - 1}); got {selected}"
        )
    labels = analysis.labels
    js_fig, js_src, _ = _heatmap(
        d.js, "Jensen–Shannon divergence (0 = same, 1 = disjoint)", CHANGE, 0.0, max(float(d.js.max()), 1e-6),
        "js_heatmap",
    )  # fmt: skip
    mad_fig, mad_src, _ = _heatmap(
        d.mad, "Mean |Δ attention|", CHANGE, 0.0, max(float(d.mad.max()), 1e-6), "mad_heatmap"
    )
    base_m = analysis.attn_base[layer - 1, head].astype(np.float64)
    tuned_m = analysis.attn_tuned[layer - 1, head].astype(np.float64)
    attn_mapper = LinearColorMapper(palette=SEQUENTIAL, low=0.0, high=1.0)
    lim = max(float(np.abs(tuned_m - base_m).max()), 1e-3)
    diff_mapper = LinearColorMapper(palette=DIVERGING, low=-lim, high=lim)
    src_b = ColumnDataSource(_matrix_source(base_m), name="matrix_base")
    src_t = ColumnDataSource(_matrix_source(tuned_m), name="matrix_tuned")
    src_d = ColumnDataSource(_matrix_source(tuned_m - base_m), name="matrix_diff")
    mb = _matrix_figure(src_b, labels, "pre-trained", attn_mapper)
    mt = _matrix_figure(src_t, labels, "fine-tuned", attn_mapper)
    md = _matrix_figure(src_d, labels, "fine-tuned − pre-trained", diff_mapper)
    caption = Div(
        text=_caption(layer, head, float(d.js[layer - 1, head]), float(d.mad[layer - 1, head])),
        width=WIDTH,
        height=24,
        styles={"font-size": "13px", "color": TEXT},
        name="head_caption",
    )
    cell = (layer - 1) * n_heads + head
    js_src.selected.indices = [cell]
    mad_src.selected.indices = [cell]
    if analysis.n <= MAX_EMBED_TOKENS:
        all_b = np.round(analysis.attn_base.astype(np.float64), 4)
        all_t = np.round(analysis.attn_tuned.astype(np.float64), 4)
        callback = CustomJS(
            args={
                "cells": js_src,
                "other": mad_src,
                "src_b": src_b,
                "src_t": src_t,
                "src_d": src_d,
                "B": all_b.reshape(n_layers * n_heads, -1).tolist(),
                "T": all_t.reshape(n_layers * n_heads, -1).tolist(),
                "H": n_heads,
                "js": d.js.ravel().tolist(),
                "mad": d.mad.ravel().tolist(),
                "caption": caption,
                "diff_mapper": diff_mapper,
            },
            code=_JS,
        )
        js_src.selected.js_on_change("indices", callback)
        mad_src.selected.js_on_change(
            "indices", CustomJS(args={"cells": js_src, "other": mad_src}, code=_MIRROR)
        )
        for fig in (js_fig, mad_fig):
            # "replace": a second tap keeps the cell selected (bokeh's default "toggle" would clear the selection)
            fig.select_one(TapTool).update(mode="replace", callback=CustomJS(code=_TOGGLE))
        hint = (
            "Tap a cell in either heatmap to show that head below (or use the selector above); in the app the tap "
            "also adds the head to, or removes it from, the heads to zero or patch."
        )
    else:
        hint = f"Use the selector above to show another head (tapping cells works for examples of ≤ {MAX_EMBED_TOKENS} units)."
        for fig in (js_fig, mad_fig):
            fig.select_one(TapTool).renderers = []
    legend = Div(
        text=f"<span style='color:{NEUTRAL}'>{hint} Matrices: row = query token, column = the token it attends to; "
        "in the difference, red = more attention after fine-tuning, blue = less.</span>",
        width=WIDTH,
        height=DIV_HEIGHT,
    )
    return fit(column(row(js_fig, mad_fig), caption, legend, row(mb, mt, md), name="head_layout"))


def _caption(layer: int, head: int, js: float, mad: float) -> str:
    return f"<b>Layer {layer}, head {head}</b>: Jensen–Shannon divergence {js:.3f}, mean |Δ| {mad:.4f}."


_MIRROR = """
const idx = other.selected.indices;
if (idx.length && (cells.selected.indices.length === 0 || cells.selected.indices[0] !== idx[0])) {
  cells.selected.indices = [idx[0]];
}
"""

_JS = """
const idx = cells.selected.indices;
if (!idx.length) { return; }
const k = idx[0];
if (other.selected.indices[0] !== k) { other.selected.indices = [k]; }
const b = B[k], t = T[k];
const d = b.map((v, i) => t[i] - v);
src_b.data = Object.assign({}, src_b.data, {v: b});
src_t.data = Object.assign({}, src_t.data, {v: t});
src_d.data = Object.assign({}, src_d.data, {v: d});
const lim = Math.max(1e-3, ...d.map(Math.abs));
diff_mapper.low = -lim; diff_mapper.high = lim;
const layer = Math.floor(k / H) + 1, head = k % H;
caption.text = "<b>Layer " + layer + ", head " + head + "</b>: Jensen–Shannon divergence " + js[k].toFixed(3) +
  ", mean |Δ| " + mad[k].toFixed(4) + ".";
"""

# A TapTool callback fires on every tap, also on the cell already selected (a selection change would not), so a
# second tap on a cell removes the head again. On the app's Head differences page the tap adds the head to (or
# removes it from) the heads to zero or patch (window.attnflowToggleHead: head_bridge.js); an export has no bridge.
_TOGGLE = """
const idx = cb_data.source.selected.indices;
const host = (typeof window !== "undefined") ? window : globalThis;
if (idx.length && typeof host.attnflowToggleHead === "function") { host.attnflowToggleHead(idx[0]); }
"""
