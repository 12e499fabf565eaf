"""Bokeh builders for the Dataset overview page (one figure or layout per statistic)."""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, FactorRange, Range1d, Whisker
from bokeh.palettes import Reds256
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

from attnflow_core.overview import BEHAVIOURS, Overview, behaviour_labels
from attnflow_core.plots.heatmap import layer_head_heatmap
from attnflow_core.plots.theme import BASE, CHANGE, NEUTRAL, TUNED, WIDTH, fit

#: Each figure of a side-by-side pair: half the page's width (``WIDTH``: the layout fits a 1,280 px window).
HALF = WIDTH // 2 - 10
SINK = list(reversed(Reds256))
BEHAVIOUR_COLOURS = ("#2980b9", "#27ae60", "#f1c40f", "#c0392b", "#95a5a6", "#ecf0f1")


def _grid(
    values: np.ndarray, title: str, palette: list[str], high: float, extra: dict[str, Any] | None = None
) -> Any:
    return layer_head_heatmap(values, title, palette, high, extra=extra, digits=3, width=HALF)[0]


def build_change_layout(ov: Overview) -> Any:
    """Head change map (mean JS per head, its spread on hover) and the per-layer mean with ± std whiskers."""
    heat = _grid(ov.js_mean, "Head change: mean JS divergence over examples", CHANGE, float(ov.js_mean.max()),
                 {"std": ov.js_std})  # fmt: skip
    n_layers = ov.js_mean.shape[0]
    mean = ov.layer_change()
    spread = ov.js_std.mean(axis=1)
    src = ColumnDataSource(
        {
            "layer": [str(i) for i in range(1, n_layers + 1)],
            "mean": mean.tolist(),
            "upper": (mean + spread).tolist(),
            "lower": np.maximum(mean - spread, 0).tolist(),
        }
    )
    bars = figure(
        width=HALF,
        height=80 + 30 * n_layers,
        x_range=FactorRange(*[str(i) for i in range(1, n_layers + 1)]),
        tools="save,hover",
        tooltips=[("layer", "@layer"), ("mean JS", "@mean{0.000}")],
        title="Per layer: mean JS (whiskers: mean per-head std)",
        toolbar_location="above",
    )
    bars.vbar(x="layer", top="mean", width=0.7, source=src, color=TUNED, alpha=0.7)
    bars.add_layout(Whisker(source=src, base="layer", upper="upper", lower="lower", line_color=NEUTRAL))
    bars.xaxis.axis_label, bars.yaxis.axis_label = "layer", "JS divergence"
    # The whiskers are annotations, which the automatic range ignores: make room for them explicitly.
    top = float(np.nanmax(mean + spread, initial=0.0))
    bars.y_range = Range1d(start=0, end=(top * 1.08) or 1.0)
    return row(heat, bars)


def build_cross_segment_figure(ov: Overview, segment_names: tuple[str, str]) -> Any:
    """Per layer and model: share of segment A's attention on B and of B's on A, and on themselves."""
    n_layers = ov.cross.shape[1]
    a, b = segment_names
    kinds = [(0, 1, f"{a} → {b}"), (1, 0, f"{b} → {a}"), (0, 0, f"{a} → {a}"), (1, 1, f"{b} → {b}")]
    factors = [(str(layer), k[2]) for layer in range(1, n_layers + 1) for k in kinds]
    data: dict[str, list[Any]] = {"x": factors, "base": [], "tuned": []}
    for layer in range(n_layers):
        for fr, to, _ in kinds:
            data["base"].append(float(np.nan_to_num(ov.cross[0, layer, fr, to])))
            data["tuned"].append(float(np.nan_to_num(ov.cross[1, layer, fr, to])))
    fig = figure(
        width=WIDTH,
        height=400,
        x_range=FactorRange(*factors),
        tools="save,hover",
        tooltips=[("", "@x"), ("pre-trained", "@base{0.000}"), ("fine-tuned", "@tuned{0.000}")],
        title="Cross-segment attention per layer (share of a segment's attention, mean over its tokens and heads)",
        toolbar_location="above",
    )
    src = ColumnDataSource(data)
    fig.vbar(x="x", top="base", width=0.8, source=src, color=BASE, alpha=0.45, legend_label="pre-trained")
    fig.scatter(
        x="x", y="tuned", source=src, color=TUNED, size=9, marker="diamond", legend_label="fine-tuned"
    )
    fig.xaxis.major_label_orientation = "vertical"  # four long "A → B" labels per layer: upright ones collide
    fig.xaxis.group_text_font_size = "10pt"
    fig.y_range.start = 0
    fig.legend.location = "top_left"
    fig.legend.orientation = "horizontal"
    fig.add_layout(fig.legend[0], "above")  # outside the plot area: inside, it covered the first layer's bars
    return fig


def build_sink_layout(ov: Overview) -> Any:
    """Per head: share of attention on [CLS] + [SEP] in each model (punctuation and each part on hover)."""
    figs = []
    high = float((ov.sinks[..., 0] + ov.sinks[..., 1]).max())
    for model, name in ((0, "pre-trained"), (1, "fine-tuned")):
        s = ov.sinks[model]
        figs.append(
            _grid(
                s[..., 0] + s[..., 1],
                f"Sinks: share on [CLS]+[SEP] — {name}",
                SINK,
                high,
                {"CLS": s[..., 0], "SEP": s[..., 1], "punctuation": s[..., 2]},
            )  # fmt: skip
        )
    return row(*figs)


def build_behaviour_layout(ov: Overview) -> Any:
    """Head behaviour labels before and after fine-tuning, as two categorical grids with one legend."""
    figs = []
    n_layers, n_heads = ov.js_mean.shape
    labels = [behaviour_labels(ov.behaviour[m]) for m in (0, 1)]
    for model, name in ((0, "pre-trained"), (1, "fine-tuned")):
        ll, hh = np.meshgrid(np.arange(1, n_layers + 1), np.arange(n_heads), indexing="ij")
        stats = ov.behaviour[model].reshape(-1, 5)
        lab = labels[model].ravel().tolist()
        other = labels[1 - model].ravel().tolist()
        src = ColumnDataSource(
            {
                "layer": ll.ravel().tolist(),
                "head": hh.ravel().tolist(),
                "label": lab,
                "changed": ["changed" if x != y else "" for x, y in zip(lab, other, strict=True)],
                "prev": stats[:, 0].round(3).tolist(),
                "next": stats[:, 1].round(3).tolist(),
                "self": stats[:, 2].round(3).tolist(),
                "special": stats[:, 3].round(3).tolist(),
                "entropy": stats[:, 4].round(3).tolist(),
            }
        )
        fig = figure(
            width=HALF,
            height=120 + 30 * n_layers,
            x_range=Range1d(start=-0.5, end=n_heads - 0.5),
            y_range=Range1d(start=0.5, end=n_layers + 0.5),
            tools="save,hover",
            tooltips=[("layer, head", "@layer, @head"), ("label", "@label @changed"), ("previous", "@prev"),
                      ("next", "@next"), ("self", "@self"), ("[CLS]/[SEP]", "@special"), ("entropy", "@entropy")],
            title=f"Head behaviour — {name}",
            toolbar_location="above",
        )  # fmt: skip
        fig.rect("head", "layer", 0.94, 0.94, source=src, line_color=None, legend_field="label",
                 fill_color=factor_cmap("label", palette=list(BEHAVIOUR_COLOURS), factors=list(BEHAVIOURS)))  # fmt: skip
        fig.legend.location = "top_center"
        fig.legend.orientation = "horizontal"
        fig.legend.label_text_font_size = "8pt"
        fig.add_layout(fig.legend[0], "below")
        fig.xaxis.axis_label, fig.yaxis.axis_label = "head", "layer"
        fig.xaxis.ticker = list(range(n_heads))
        fig.yaxis.ticker = list(range(1, n_layers + 1))
        fig.grid.visible = False
        figs.append(fig)
    return row(*figs)


def build_overview_layout(ov: Overview, segment_names: tuple[str, str] | None) -> Any:
    """All overview figures in one column (the page renders it with one component call)."""
    parts = [build_change_layout(ov)]
    if segment_names is not None:
        parts.append(build_cross_segment_figure(ov, segment_names))
    parts += [build_sink_layout(ov), build_behaviour_layout(ov)]
    return fit(column(*parts, name="overview_layout"))
