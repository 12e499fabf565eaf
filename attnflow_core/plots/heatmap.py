"""The one layer × head heatmap that every view uses (head differences, dataset overview, the flow view's head grids)."""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.models import BasicTicker, ColumnDataSource, LinearColorMapper, Range1d
from bokeh.models.annotations import ColorBar
from bokeh.plotting import figure

from attnflow_core.plots.theme import HIGHLIGHT, WIDTH


def layer_head_heatmap(
    values: np.ndarray,
    title: str,
    palette: list[str],
    high: float,
    *,
    low: float = 0.0,
    name: str | None = None,
    extra: dict[str, np.ndarray] | None = None,
    tap: bool = False,
    digits: int = 4,
    bar_title: str | None = None,
    width: int = WIDTH // 2 - 10,
) -> tuple[Any, ColumnDataSource, Any]:
    """A (L, H) array as a heatmap with a colour bar: -> (figure, its cells' source, the cell renderer).

    Rows are layers 1..L, columns heads 0..H-1; ``extra`` adds named (L, H) arrays to the source and the hover; ``tap``
    lets a click select a cell (outlined in the highlight colour); ``width`` in pixels (half a layout by default).
    """
    n_layers, n_heads = values.shape
    ll, hh = np.meshgrid(np.arange(1, n_layers + 1), np.arange(n_heads), indexing="ij")
    data: dict[str, Any] = {
        "layer": ll.ravel().tolist(),
        "head": hh.ravel().tolist(),
        "v": np.round(np.asarray(values, dtype=np.float64).ravel(), digits + 1).tolist(),
    }
    fmt = "{0." + "0" * digits + "}"
    tooltips = [("layer", "@layer"), ("head", "@head"), ("value", "@v" + fmt)]
    for key, arr in (extra or {}).items():
        data[key] = np.round(np.asarray(arr, dtype=np.float64).ravel(), digits + 1).tolist()
        tooltips.append((key, f"@{{{key}}}" + fmt))
    src = ColumnDataSource(data)
    mapper = LinearColorMapper(palette=palette, low=low, high=max(high, low + 1e-6))
    fig = figure(
        width=width,
        height=80 + 30 * n_layers,
        x_range=Range1d(start=-0.5, end=n_heads - 0.5),
        y_range=Range1d(start=0.5, end=n_layers + 0.5),
        tools=("tap," if tap else "") + "save,hover",
        tooltips=tooltips,
        title=title,
        toolbar_location="above",
        name=name,
    )
    cells = fig.rect(
        "head",
        "layer",
        0.96,
        0.96,
        source=src,
        fill_color={"field": "v", "transform": mapper},
        line_color=None,
        selection_line_color=HIGHLIGHT,
        selection_line_width=3,
        nonselection_fill_alpha=1.0,
    )
    bar = ColorBar(color_mapper=mapper, ticker=BasicTicker(desired_num_ticks=5), width=10)
    if bar_title:
        bar.title = bar_title
    fig.add_layout(bar, "right")
    fig.xaxis.axis_label, fig.yaxis.axis_label = "head", "layer"
    fig.xaxis.ticker = list(range(n_heads))
    fig.yaxis.ticker = list(range(1, n_layers + 1))
    fig.grid.visible = False
    return fig, src, cells
