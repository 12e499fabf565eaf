"""Bokeh builders for the Fine-tuning trajectory page (``trajectory.Trajectory``): the curves by training step, the
layer × checkpoint heat strips and the small multiples of the layer × head maps, one colour scale per kind.

Every layout fits ``theme.WIDTH`` (800 px: a 1,280-px window beside the sidebar) and names its root, so the page and
the browser tests find it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Legend, LegendItem, Range1d
from bokeh.plotting import figure

from attnflow_core.plots.heatmap import layer_head_heatmap
from attnflow_core.plots.importance import IMPORTANCE
from attnflow_core.plots.theme import BASE, CHANGE, NEUTRAL, TUNED, WIDTH, fit
from attnflow_core.trajectory import FOCUS_NAMES, Trajectory

#: Each figure of a side-by-side pair, and each small multiple (three to a row): within ``WIDTH``.
HALF = WIDTH // 2 - 10
THIRD = (WIDTH - 20) // 3
PER_ROW = 3
HELDOUT = "#1f5f99"  # held-out accuracy: dark blue
ON_N = "#5dade2"  # accuracy on the N examples: light blue
CURVE_HEIGHT = 360
#: Head numbers a small multiple writes under its columns at most (beyond, every other one).
MAX_HEAD_TICKS = 8


def _pct(t: Trajectory) -> list[str]:
    return [f"{100 * c.fraction:.0f}" for c in t.checkpoints]


def _series(t: Trajectory, values: np.ndarray, label: str, texts: list[str]) -> ColumnDataSource:
    """One curve's points: step, its value (nan where unknown), the hover's words."""
    return ColumnDataSource(
        {
            "step": t.steps.tolist(),
            "value": np.asarray(values, dtype=np.float64).tolist(),
            "pct": _pct(t),
            "series": [label] * len(t.steps),
            "text": texts,
        }
    )


def _fmt(values: np.ndarray, spec: str = ".3f") -> list[str]:
    return ["—" if not np.isfinite(v) else format(float(v), spec) for v in np.asarray(values, np.float64)]


def _curve_figure(title: str, y_label: str, y_range: tuple[float, float], name: str) -> Any:
    fig = figure(
        width=HALF,
        height=CURVE_HEIGHT,
        title=title,
        tools="save,reset,box_zoom",
        toolbar_location="above",
        y_range=Range1d(*y_range),
        name=name,
    )
    fig.xaxis.axis_label, fig.yaxis.axis_label = "training step", y_label
    fig.add_tools(
        HoverTool(
            tooltips=[("", "@series"), ("step", "@step (@pct % of training)"), ("value", "@text")],
            renderers=[],
        )
    )
    fig.add_layout(Legend(location="center", orientation="vertical", label_text_font_size="11px"), "below")
    return fig


def _add_curve(
    fig: Any, src: ColumnDataSource, colour: str, dash: str = "solid", marker: bool = True
) -> None:
    label = src.data["series"][0]
    line = fig.line("step", "value", source=src, color=colour, line_width=2.5, line_dash=dash)
    items = [line]
    if marker:
        dots = fig.scatter("step", "value", source=src, color=colour, size=8)
        hover = fig.select_one(HoverTool)
        hover.renderers = [*hover.renderers, dots]
        items.append(dots)
    fig.legend[0].items.append(LegendItem(label=label, renderers=items))


def build_accuracy_figure(t: Trajectory) -> Any:
    """Held-out accuracy (recorded at training), accuracy on the N examples and the mean attention change as a
    share of its final value, by training step (one axis, 0 to 1)."""
    change = t.mean_change
    final = float(change[-1])
    share = change / final if final > 0 else np.zeros_like(change)
    fig = _curve_figure(
        "Accuracy and attention change by training step",
        "accuracy · share of the final change",
        (0.0, max(1.05, float(np.nanmax(share)) * 1.05)),
        "trajectory_accuracy",
    )
    n = len(t.uids)
    held = t.heldout_accuracy
    if np.isfinite(held).any():
        _add_curve(fig, _series(t, held, "held-out accuracy (recorded at training)", _fmt(held)), HELDOUT)
    acc = np.asarray(t.accuracy, dtype=np.float64)
    if np.isfinite(acc).any():
        _add_curve(fig, _series(t, acc, f"accuracy on these {n} examples", _fmt(acc)), ON_N, "dashed")
    words = [f"{s:.0%} of the final (mean JS {c:.4f})" for s, c in zip(share, change, strict=True)]
    _add_curve(fig, _series(t, share, "mean attention change, share of its final value", words), TUNED)
    return fig


def build_focus_figure(t: Trajectory) -> Any:
    """The share of the [CLS] flow reaching the focus tokens per checkpoint, beside the pre-trained model's and a
    uniform flow's (the y axis fitted to the values, so small movements show; its ticks say where it starts)."""
    focus = np.asarray(t.focus, dtype=np.float64)
    name = FOCUS_NAMES[t.task]
    levels = np.array([*focus, t.focus_base, t.focus_uniform], dtype=np.float64)
    known = levels[np.isfinite(levels)]
    lo, hi = (float(known.min()), float(known.max())) if known.size else (0.0, 1.0)
    pad = max(0.02, 0.15 * (hi - lo))
    title = f"Flow from [CLS] to {name}"
    if not np.isfinite(focus).any():
        title = f"Flow to {name}: no example has them"
    fig = _curve_figure(
        title, "share of the [CLS] flow", (max(0.0, lo - pad), min(1.0, hi + pad)), "trajectory_focus"
    )
    _add_curve(fig, _series(t, focus, "fine-tuned checkpoint", _fmt(focus)), TUNED)
    ends = [int(t.steps[0]), int(t.steps[-1])]
    for level, label, colour, dash in (
        (t.focus_base, "pre-trained model", BASE, "dashed"),
        (t.focus_uniform, "a uniform flow (the tokens' share of the sentence)", NEUTRAL, "dotted"),
    ):
        if np.isfinite(level):
            src = ColumnDataSource(
                {"step": ends, "value": [level, level], "series": [label] * 2, "pct": ["0", "100"],
                 "text": [f"{level:.3f}"] * 2}
            )  # fmt: skip
            _add_curve(fig, src, colour, dash, marker=False)
    return fig


def _strip(t: Trajectory, values: np.ndarray, title: str, high: float, bar_title: str, name: str) -> Any:
    """A layer × checkpoint heat strip: values (K, L), checkpoints as columns by step, layer 1 at the bottom."""
    from bokeh.models import BasicTicker, ColorBar, LinearColorMapper

    k, n_layers = values.shape
    steps = [str(s) for s in t.steps]
    layer_final = t.layer_change[-1]
    src = ColumnDataSource(
        {
            "step": [steps[i] for i in range(k) for _ in range(n_layers)],
            "pct": [_pct(t)[i] for i in range(k) for _ in range(n_layers)],
            "layer": [layer + 1 for _ in range(k) for layer in range(n_layers)],
            "v": np.nan_to_num(values.ravel()).tolist(),
            "change": t.layer_change.ravel().tolist(),
            "share": [
                float(c / f) if f > 0 else 0.0
                for c, f in zip(t.layer_change.ravel(), np.tile(layer_final, k), strict=True)
            ],
        }
    )
    mapper = LinearColorMapper(palette=CHANGE, low=0.0, high=max(high, 1e-6))
    fig = figure(
        width=HALF,
        height=80 + 30 * n_layers,
        x_range=FactorRange(*steps),
        y_range=Range1d(0.5, n_layers + 0.5),
        title=title,
        tools="save,hover",
        toolbar_location="above",
        tooltips=[
            ("checkpoint", "step @step (@pct % of training)"),
            ("layer", "@layer"),
            ("mean change (JS)", "@change{0.0000}"),
            ("share of the layer's final change", "@share{0%}"),
        ],
        name=name,
    )
    fig.rect(
        "step",
        "layer",
        0.96,
        0.96,
        source=src,
        fill_color={"field": "v", "transform": mapper},
        line_color=None,
    )
    bar = ColorBar(color_mapper=mapper, ticker=BasicTicker(desired_num_ticks=5), width=10, title=bar_title)
    fig.add_layout(bar, "right")
    fig.xaxis.axis_label, fig.yaxis.axis_label = "checkpoint (training step)", "layer"
    fig.yaxis.ticker = list(range(1, n_layers + 1))
    fig.grid.visible = False
    return fig


def build_layer_strips(t: Trajectory) -> Any:
    """Two layer × checkpoint strips side by side: the mean change of each layer's heads (which layers change
    most), and the same as a share of the layer's final change (which layers change late; Hao et al. 2020)."""
    layers = t.layer_change
    final = layers[-1]
    share = np.divide(layers, final, out=np.zeros_like(layers), where=final > 0)
    return row(
        _strip(
            t, layers, "Mean change per layer and checkpoint", float(layers.max()), "JS", "trajectory_layers"
        ),
        _strip(
            t,
            share,
            "The same, as a share of each layer's final change",
            max(1.0, float(share.max())),
            "share",
            "trajectory_layer_share",
        ),
    )


def build_head_maps(
    t: Trajectory, values: np.ndarray, what: str, palette: list[str], name: str, digits: int = 3
) -> Any:
    """Small multiples of the layer × head map (``plots.heatmap``), one per checkpoint, three to a row, on one
    colour scale (0 to the largest value of any checkpoint), so growth from one to the next is visible. values
    (K, L, H); ``what`` names the value in the hover."""
    values = np.asarray(values, dtype=np.float64)
    high = float(np.nanmax(values)) if values.size else 1.0
    figs = []
    for k, c in enumerate(t.checkpoints):
        fig, _, _ = layer_head_heatmap(
            values[k],
            f"step {c.step} ({100 * c.fraction:.0f} % of training)",
            palette,
            high,
            digits=digits,
            width=THIRD,
        )
        n_heads = values.shape[2]
        if n_heads > MAX_HEAD_TICKS:  # a third of the page: every other head's number, or they run together
            fig.xaxis.ticker = list(range(0, n_heads, 2))
        hover = fig.select_one(HoverTool)
        hover.tooltips = [("checkpoint", f"step {c.step}"), *hover.tooltips[:2], (what, hover.tooltips[2][1])]
        figs.append(fig)
    rows = [row(*figs[i : i + PER_ROW]) for i in range(0, len(figs), PER_ROW)]
    return fit(column(*rows, name=name))


def build_change_maps(t: Trajectory) -> Any:
    """Each checkpoint's head change map (mean JS divergence from the pre-trained model), one colour scale."""
    return build_head_maps(t, t.change, "change (JS)", CHANGE, "trajectory_change_maps")


def build_importance_maps(t: Trajectory) -> Any | None:
    """Each checkpoint's head importance map, one colour scale; None when the trajectory has no importance."""
    if t.importance is None:
        return None
    return build_head_maps(t, t.importance, "importance", IMPORTANCE, "trajectory_importance_maps", digits=4)


def build_curves_layout(t: Trajectory) -> Any:
    """The page's first panel: accuracy and change | focus flow, then the two layer × checkpoint strips."""
    return fit(
        column(
            row(build_accuracy_figure(t), build_focus_figure(t)),
            build_layer_strips(t),
            name="trajectory_curves",
        )
    )
