"""Bokeh builders for "does the change matter?": head importance beside head change, their scatter, and a token
saliency row (one row per saliency method under the sentence view)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, FactorRange, LinearColorMapper
from bokeh.palettes import Blues256, RdBu11
from bokeh.plotting import figure

from attnflow_core.importance import change_importance_rho
from attnflow_core.plots.overview import CHANGE, _grid
from attnflow_core.plots.theme import TEXT, TUNED, WIDTH, fit
from attnflow_core.saliency import saliency_title

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
        "Head importance of the fine-tuned model (|∂L/∂ξ|, Michel et al.)",
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


def build_saliency_row(units: Sequence[str], saliencies: Mapping[str, np.ndarray]) -> Any:
    """One row of cells per saliency method over the input units, coloured by signed saliency scaled per method
    to [-1, 1] (red raises the predicted label, blue lowers it); the value is on hover."""
    labels = [f"{i}:{u}" for i, u in enumerate(units)]
    methods = [saliency_title(m) for m in saliencies]
    xs, ys, vals, raw, texts = [], [], [], [], []
    for m, title in zip(saliencies, methods, strict=True):
        s = np.asarray(saliencies[m], dtype=np.float64)
        scale = np.abs(s).max() or 1.0
        for i, lab in enumerate(labels):
            xs.append(lab)
            ys.append(title)
            vals.append(float(s[i] / scale))
            raw.append(float(s[i]))
            texts.append(units[i])
    mapper = LinearColorMapper(palette=DIVERGING, low=-1.0, high=1.0)
    fig = figure(
        width=WIDTH,
        height=60 + 34 * len(methods),
        x_range=FactorRange(*labels),
        y_range=FactorRange(*reversed(methods)),
        tools="save,hover",
        tooltips=[("token", "@text"), ("method", "@y"), ("saliency", "@raw{0.0000}")],
        toolbar_location="above",
        title="Token saliency of the fine-tuned prediction (red raises it, blue lowers it; scaled per row)",
        name="saliency_row",
    )
    src = ColumnDataSource({"x": xs, "y": ys, "v": vals, "raw": raw, "text": texts})
    fig.rect("x", "y", 0.96, 0.9, source=src, line_color=None, fill_color={"field": "v", "transform": mapper})
    fig.text("x", "y", text="text", source=src, text_align="center", text_baseline="middle",
             text_font_size="10px", text_color=TEXT)  # fmt: skip
    fig.xaxis.visible = False
    fig.grid.visible = False
    return fit(fig)
