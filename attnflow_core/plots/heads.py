"""The Head differences view: layer × head heatmaps of how much each head changed, and one head's attention matrix
in both models beside their difference — the difference first, so the panel that answers "what changed?" is never
the one off-screen.

The head shown is chosen in the browser (a tap on a heatmap cell, or the view's own "Head to show" selector): the
matrices are swapped from the example's measured attention (``heads_view.js``), which the page sends once as the
view's payload (``pages/ui/bokeh_host.py``) and a standalone export holds in the document. In the app a tap also adds
the head to (or removes it from) the heads to zero or patch (``window.attnflowToggleHead``).
"""

from __future__ import annotations

from pathlib import Path
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
    Select,
    TapTool,
)
from bokeh.models.annotations import ColorBar
from bokeh.models.widgets import Div
from bokeh.palettes import Blues256, RdBu11
from bokeh.plotting import figure

from attnflow_core.analysis import Analysis
from attnflow_core.plots.flow_payload import attention_source
from attnflow_core.plots.heatmap import layer_head_heatmap
from attnflow_core.plots.theme import CHANGE, DIV_HEIGHT, NEUTRAL, TEXT, WIDTH

SEQUENTIAL = list(reversed(Blues256))
# Bokeh's RdBu runs from blue (low) to red (high): negative differences (more attention in the pre-trained model)
# are blue, positive ones (more after fine-tuning) red, as the captions say.
DIVERGING = list(RdBu11)
HEADS_JS = (Path(__file__).with_name("heads_view.js")).read_text(encoding="utf-8")


def _heatmap(values: np.ndarray, title: str, palette: list[str], low: float, high: float, name: str) -> Any:
    return layer_head_heatmap(values, title, palette, high, low=low, name=name, tap=True)


def _matrix_source(m: np.ndarray) -> dict[str, Any]:
    """One n × n matrix (row = query, column = key) as one image: drawn and swapped as a whole (n² separate cells
    made a head change slow to draw at 128 tokens); the hover turns the pointer's x/y back into token labels."""
    return {"image": [np.ascontiguousarray(m, dtype=np.float32)]}


def _label_of(labels: tuple[str, ...]) -> CustomJSHover:
    """A hover formatter that shows the token label at the pointer's position (rounded to the token's index)."""
    return CustomJSHover(
        args={"labels": list(labels)},
        code="const k = Math.round(value); return (labels[k] ?? '') + ' #' + k;",
    )


MATRIX_CELL_PX = 12  # pixels per token in the head matrices, until they reach their room
MATRIX_MARGIN_PX = 140  # token labels, title, toolbar and colour bar
LABEL_PX = 11  # one 8-pt tick label
MATRIX_MIN_PX = 300
#: The two models' matrices side by side fit the layout's width (each figure holds its labels and colour bar), so
#: no panel falls off a 1,280-px window; the difference sits above them, as large.
MATRIX_MAX_PX = (WIDTH - 10) // 2


def matrix_size(n: int) -> int:
    """Side in pixels of an n × n head matrix: grows with the token count, within ``MATRIX_MIN_PX`` and
    ``MATRIX_MAX_PX`` (two side by side fit the layout's width)."""
    return max(MATRIX_MIN_PX, min(MATRIX_MAX_PX, MATRIX_CELL_PX * n + MATRIX_MARGIN_PX))


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
        name=f"{src.name}_figure",  # matrix_base_figure, matrix_tuned_figure, matrix_diff_figure
    )
    # row j of the image is query token j: the image starts at y = -0.5, and the y range runs downwards
    fig.image(image="image", x=-0.5, y=-0.5, dw=n, dh=n, source=src, color_mapper=mapper)
    fig.add_tools(
        HoverTool(
            tooltips=[("from (query)", "$y{label}"), ("to (key)", "$x{label}"), ("value", "@image{0.0000}")],
            formatters={"$x": _label_of(labels), "$y": _label_of(labels)},
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


def head_caption(analysis: Analysis, layer: int, head: int) -> str:
    """The caption of the head shown (layer 1-based)."""
    d = analysis.head_diff
    return (
        f"<b>Layer {layer}, head {head}</b>: Jensen–Shannon divergence {d.js[layer - 1, head]:.3f}, "
        f"mean |Δ| {d.mad[layer - 1, head]:.4f}. Matrices: row = query token, column = the token it attends to."
    )


def head_option(analysis: Analysis, layer: int, head: int) -> str:
    """The "Head to show" selector's label of a head."""
    return f"layer {layer}, head {head} — JS {analysis.head_diff.js[layer - 1, head]:.3f}"


def build_head_diff_layout(
    analysis: Analysis, selected: tuple[int, int] | None = None, *, with_arrays: bool = True
) -> Any:
    """Heatmaps of JS divergence and mean |Δ| per (layer, head), a selector, and the selected head's matrices
    (layer 1-based; None = the most changed head). ``with_arrays``: put every head's attention into the document
    (a standalone file); the app sends it as the view's payload instead (``pages/ui/bokeh_host.py``)."""
    d = analysis.head_diff
    n_layers, n_heads = d.js.shape
    layer, head = selected or d.most_changed()
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
    diff_mapper = LinearColorMapper(palette=DIVERGING, low=-lim, high=lim, name="diff_mapper")
    src_b = ColumnDataSource(_matrix_source(base_m), name="matrix_base")
    src_t = ColumnDataSource(_matrix_source(tuned_m), name="matrix_tuned")
    src_d = ColumnDataSource(_matrix_source(tuned_m - base_m), name="matrix_diff")
    names = analysis.model_labels
    diff_title = f"{names['tuned']} − {names['base']}"
    if (
        len(diff_title) <= 24
    ):  # the colours named too while the title fits the matrix (a checkpoint's label is long)
        diff_title += " (red: more, blue: less)"
    md = _matrix_figure(src_d, labels, diff_title, diff_mapper)
    mb = _matrix_figure(src_b, labels, names["base"], attn_mapper)
    mt = _matrix_figure(src_t, labels, names["tuned"], attn_mapper)
    caption = Div(
        text=head_caption(analysis, layer, head), width=WIDTH, height=DIV_HEIGHT,
        styles={"font-size": "13px", "color": TEXT}, name="head_caption",
    )  # fmt: skip
    cells = [(lay, h) for lay in range(1, n_layers + 1) for h in range(n_heads)]
    picker = Select(
        title="Head to show (the most changed head first shown)",
        options=[(str(k), head_option(analysis, lay, h)) for k, (lay, h) in enumerate(cells)],
        value=str((layer - 1) * n_heads + head), width=320, height=56, name="head_pick",
    )  # fmt: skip
    cell = (layer - 1) * n_heads + head
    js_src.selected.indices = [cell]
    mad_src.selected.indices = [cell]
    payload = attention_source(analysis, with_arrays)
    show = CustomJS(
        args={
            "payload": payload, "picker": picker, "cells": js_src, "other": mad_src, "src_b": src_b,
            "src_t": src_t, "src_d": src_d, "diff_mapper": diff_mapper, "caption": caption,
            "captions": [head_caption(analysis, lay, h) for lay, h in cells], "n": analysis.n, "H": n_heads,
        },
        code=HEADS_JS,
    )  # fmt: skip
    picker.js_on_change("value", show)
    payload.js_on_change("data", show)
    for src in (js_src, mad_src):
        src.selected.js_on_change("indices", show)
    for fig in (js_fig, mad_fig):
        # "replace": a second tap keeps the cell selected (bokeh's default "toggle" would clear the selection)
        fig.select_one(TapTool).update(mode="replace", callback=CustomJS(code=_TOGGLE))
    legend = Div(
        text=f"<span style='color:{NEUTRAL}'>Tap a cell in either heatmap (or use the selector) to show that head "
        "below; in the app the tap also adds the head to, or removes it from, the heads to zero or patch. In the "
        "difference, red = more attention after fine-tuning, blue = less.</span>",
        width=WIDTH,
        height=DIV_HEIGHT,
    )
    # (no fixed root size: the page's host lets the document take the room it draws)
    return column(row(js_fig, mad_fig), picker, caption, legend, md, row(mb, mt), name="head_layout")


# A TapTool callback fires on every tap, also on the cell already selected (a selection change would not), so a
# second tap on a cell removes the head again. On the app's Head differences page the tap adds the head to (or
# removes it from) the heads to zero or patch (window.attnflowToggleHead: head_bridge.js); an export has no bridge.
_TOGGLE = """
const idx = cb_data.source.selected.indices;
const host = (typeof window !== "undefined") ? window : globalThis;
if (idx.length && typeof host.attnflowToggleHead === "function") { host.attnflowToggleHead(idx[0]); }
"""
