"""The Attention flow view: flow graph, sentence view and layer × head grids in one linked Bokeh layout.

- Flow graph: layers are columns (input at the left, the deepest layer of the range at the right), tokens are rows.
  It draws the edges of the chosen method (``attnflow_core.graph``: the thresholded trace, the rollout paths or the
  max-flow solution), heads merged, within an edge budget; colour says which model draws the edge (turquoise
  pre-trained only, purple fine-tuned only, orange both), width the flow it carries. With ``differences`` the shared
  edges fade to grey so the exclusive ones stand out; with ``per_head`` each merged edge is split into its heads.
  Node markers grow with the flow reaching each node in each model (turquoise left, purple right of the node).
- Sentence view: each unit's upper half shaded by its flow score in the pre-trained model, the lower half in the
  fine-tuned model, with a colour bar per model.
- Layer × head grids: each head's share of the drawn flow in each model. Under a measure without a per-head part
  (ALTI, GlobEnc, value zeroing: the residual is not a head) each layer is one whole cell, and the grids, the graph's
  title and the edges' hover say so (``WHOLE_LAYER``) instead of naming a head.

These builders draw one example under one set of settings (the first drawing, and what tests check); the
interactive view (``flow_view``) puts controls above them and redraws them in the browser with ``flow_engine.js``,
which reproduces exactly what these functions compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    BasicTicker,
    ColumnDataSource,
    HoverTool,
    LinearColorMapper,
    Range1d,
    TapTool,
    Title,
)
from bokeh.models.annotations import ColorBar
from bokeh.models.widgets import Div
from bokeh.plotting import figure

from attnflow_core.analysis import Analysis, drawn_graph
from attnflow_core.extract import MODEL_LABELS
from attnflow_core.graph import PairGraph, head_shares
from attnflow_core.measures import MEASURES
from attnflow_core.methods import METHODS
from attnflow_core.plots.heatmap import layer_head_heatmap
from attnflow_core.plots.theme import (
    BASE,
    DIV_HEIGHT,
    HIGHLIGHT,
    NEUTRAL,
    STATUS_COLOURS,
    STATUS_LABELS,
    TEXT,
    TOOLS,
    TUNED,
    WIDTH,
    fit,
    mapped_colour,
    ramp,
    text_on,
)

FADED = "#c8cfd2"
#: The per-head edges' columns (``_head_edge_columns``).
HEAD_EDGE_COLUMNS = ("x0", "y0", "x1", "y1", "colour", "alpha", "width", "head", "w")
#: The sentence view calls the flow "spread almost evenly" when, in both models, every unit gets some and the largest
#: score is less than this many times the smallest (max-flow's scores often are: a full colour scale then made every
#: token look important).
EVEN_RATIO = 3.0
#: What stands where a head would under a measure without a per-head part (grid titles, the graph's title, the
#: edges' hover; the engine reads it from ``engine_vocab``).
WHOLE_LAYER = "whole layer (no per-head part)"
#: The graph title's last part under such a measure, where "all heads" or "heads [..]" stands otherwise (short: the
#: title is one line; the controls' note and the grids say why).
WHOLE_LAYERS = "whole layers"
#: The longest head grid title that fits a grid's width at its font (``head_grid_title``; the engine mirrors it).
GRID_TITLE_CHARS = 52


def flow_graph_of(analysis: Analysis) -> PairGraph:
    """The edges the flow graph draws for an analysis under its settings (its method, source, τ, α, layers, heads):
    ``analysis.drawn_graph``, the one ``analyse`` solved with the scores."""
    return drawn_graph(analysis)


def graph_title(analysis: Analysis) -> str:
    """'<Method> of <measure> from '<token>' (#s) at layer b — <the settings the method reads>'."""
    s = analysis.settings
    method, measure = METHODS.get(s.method), MEASURES.get(s.measure)
    a, b = analysis.layer_range
    parts = [f"τ = {s.threshold:g}"] if method.uses_threshold else []
    parts += [f"α = {s.decay:g}"] if method.uses_decay else []
    if not measure.per_head:
        parts.append(WHOLE_LAYERS)
    else:
        parts.append("all heads" if s.heads is None else f"heads {sorted(set(s.heads))}")
    return (
        f"{method.phrase} of {measure.phrase} from '{analysis.labels[s.source]}' (#{s.source}) "
        f"at layer {b} down to the input{'' if a == 1 else f' of layer {a}'} — {', '.join(parts)}"
    )


def bottom_label(a: int) -> str:
    """The x-axis label of the graph's first column: the model's input, or the input of the range's first layer
    (not "layer a-1", which read as a layer the range leaves out)."""
    return "input" if a == 1 else f"input to layer {a}"


def _edge_columns(
    g: PairGraph, labels: tuple[str, ...], differences: bool, per_head: bool = True
) -> dict[str, list[Any]]:
    """One row per drawn (layer, from, to): geometry, colour by who draws it, width by the flow it carries
    (``per_head``: the measure has a per-head part, so the hover names the top heads; else ``WHOLE_LAYER``)."""
    top = float(max(g.mass_base.max(initial=0.0), g.mass_tuned.max(initial=0.0))) or 1.0
    mb, mt = g.mean_base, g.mean_tuned
    cols: dict[str, list[Any]] = {k: [] for k in (
        "x0", "y0", "x1", "y1", "colour", "alpha", "width", "status", "mb", "mt", "ab", "at", "perhead", "from",
        "to", "layer", "xm", "ym")}  # fmt: skip
    for k in range(g.n_edges):
        st, lay, j, i = str(g.status[k]), int(g.layer[k]), int(g.src[k]), int(g.dst[k])
        faded = differences and st == "shared"
        cols["x0"].append(lay)
        cols["y0"].append(-j)
        cols["x1"].append(lay - 1)
        cols["y1"].append(-i)
        cols["colour"].append(FADED if faded else STATUS_COLOURS[st])
        cols["alpha"].append(0.35 if faded else 0.75)
        cols["width"].append(round(0.8 + 7.0 * max(g.mass_base[k], g.mass_tuned[k]) / top, 2))
        cols["status"].append(STATUS_LABELS[st])
        cols["mb"].append(_sig(g.mass_base[k]))
        cols["mt"].append(_sig(g.mass_tuned[k]))
        cols["ab"].append(_sig(mb[k]))
        cols["at"].append(_sig(mt[k]))
        cols["perhead"].append(_per_head_text(g, k) if per_head else WHOLE_LAYER)
        cols["from"].append(f"{labels[j]} #{j}")
        cols["to"].append(f"{labels[i]} #{i}")
        cols["layer"].append(lay)
        cols["xm"].append(lay - 0.5)
        cols["ym"].append(-(j + i) / 2)
    return cols


def _sig(value: float, digits: int = 5) -> float:
    """A value rounded to ``digits`` significant digits (small flows keep their size: 2.1e-05, not 0.0)."""
    return float(f"{float(value):.{digits}g}")


def _printf(*fields: str) -> dict[str, str]:
    """Hover formatters: ``{%.3g}`` shows 0.312 and 2.1e-05 alike (a fixed 0.0000 hid the small flows)."""
    return dict.fromkeys(fields, "printf")


def _per_head_text(g: PairGraph, k: int, top: int = 4) -> str:
    """The heads with the most attention on edge k in either model: 'h3 0.41→0.12, h7 …' (pre-trained→fine-tuned)."""
    wb, wt = g.attn_base[k], g.attn_tuned[k]
    order = np.argsort(-np.maximum(wb, wt), kind="stable")[:top]  # ties in head order
    return ", ".join(f"h{g.heads[c]} {wb[c]:.2f}→{wt[c]:.2f}" for c in order)


def _head_edge_columns(g: PairGraph, threshold: float | None, differences: bool) -> dict[str, list[Any]]:
    """The per-head view: each drawn edge split into the heads that carry it (attention ≥ τ for the trace, ≥ the
    heads' mean for rollout and max-flow), side by side, width by that head's attention."""
    cols: dict[str, list[Any]] = {k: [] for k in HEAD_EDGE_COLUMNS}
    for k in range(g.n_edges):
        st = str(g.status[k])
        w = np.maximum(g.attn_base[k], g.attn_tuned[k])
        cut = threshold if threshold is not None else float(w.mean())
        carry = np.flatnonzero(w >= cut) if w.size else np.zeros(0, dtype=int)
        faded = differences and st == "shared"
        for pos, c in enumerate(carry):
            off = 0.08 * (pos - (carry.size - 1) / 2)
            cols["x0"].append(int(g.layer[k]))
            cols["y0"].append(-int(g.src[k]) + off)
            cols["x1"].append(int(g.layer[k]) - 1)
            cols["y1"].append(-int(g.dst[k]) + off)
            cols["colour"].append(FADED if faded else STATUS_COLOURS[st])
            cols["alpha"].append(0.35 if faded else 0.7)
            cols["width"].append(round(0.5 + 4.0 * float(w[c]), 2))
            cols["head"].append(int(g.heads[c]))
            cols["w"].append(round(float(w[c]), 4))
    return cols


def _node_sizes(values: np.ndarray) -> np.ndarray:
    """Marker size per node, relative to the largest value anywhere (the source's): 0 where nothing arrives."""
    peak = float(values.max(initial=0.0))
    rel = values / peak if peak > 0 else np.zeros_like(values)
    return np.where(rel > 0, 4.0 + 14.0 * np.sqrt(np.clip(rel, 0.0, None)), 0.0)


def _stop_message(g: PairGraph, analysis: Analysis) -> str:
    """Words for a trace that stops early in a model (no reached token has an edge passing τ), or ''."""
    parts = []
    for e, name in ((g.base, "pre-trained"), (g.tuned, "fine-tuned")):
        if e.stopped is not None:
            parts.append(
                f"The {name} model's trace stops at layer {e.stopped}: no edge from the tokens it reached passes "
                f"τ = {analysis.settings.threshold:g}."
            )
    if parts:
        parts.append("Lower τ, or switch the method to rollout, to follow it further.")
    return " ".join(parts)


def _stop_label(g: PairGraph, threshold: float) -> str:
    """The stop message in the figure itself, naming every model whose trace stops (e.g. 'Trace stops: pre-trained
    at layer 5, fine-tuned at layer 3 — no edge passes τ = 0.3')."""
    parts = [f"{name} at layer {e.stopped}" for e, name in ((g.base, "pre-trained"), (g.tuned, "fine-tuned"))
             if e.stopped is not None]  # fmt: skip
    return f"Trace stops: {', '.join(parts)} — no edge passes τ = {threshold:g}" if parts else ""


def build_graph_figure(
    analysis: Analysis, g: PairGraph, per_head: bool, differences: bool, height: int | None = None
) -> tuple[Any, ColumnDataSource]:
    """The flow graph figure: -> (figure, the node source whose selection is the click)."""
    s, n = analysis.settings, analysis.n
    a, b = analysis.layer_range
    graph = figure(
        width=WIDTH,
        height=height or max(320, 17 * n + 110),
        tools=TOOLS,
        x_range=Range1d(start=a - 1 - 1.2, end=b + 1.2),
        y_range=Range1d(start=-n + 0.3, end=1.2),
        title=graph_title(analysis),
        toolbar_location="above",
        name="flow_graph",
    )
    graph.xaxis.ticker = list(range(a - 1, b + 1))
    overrides: dict[float | str, Any] = {lay: f"layer {lay}" for lay in range(a, b + 1)}
    overrides[a - 1] = bottom_label(a)
    graph.xaxis.major_label_overrides = overrides
    graph.yaxis.visible = False
    graph.grid.visible = False
    graph.outline_line_color = None
    _edge_glyphs(graph, analysis, g, per_head, differences)
    nodes, hit = _node_glyphs(graph, analysis, g)
    _legend_and_labels(graph, analysis, differences)
    ring = ColumnDataSource({"x": [b], "y": [-s.source]}, name="source_ring")
    graph.scatter("x", "y", source=ring, size=20, fill_alpha=0, line_color=HIGHLIGHT, line_width=3)
    # a second title line under the first (inside the frame it would hide the top row or be clipped); always there,
    # empty and hidden unless a trace stops, so the browser's redraw can show it
    stop = _stop_label(g, s.threshold)
    graph.add_layout(Title(text=stop, text_color=HIGHLIGHT, text_font_size="10pt", text_font_style="normal",
                           name="trace_stopped", visible=bool(stop)), "above")  # fmt: skip
    return graph, nodes


def _edge_glyphs(graph: Any, analysis: Analysis, g: PairGraph, per_head: bool, differences: bool) -> None:
    """The drawn edges (heads merged, or one segment per head) and their hover targets at the midpoints."""
    s, labels = analysis.settings, analysis.labels
    edges = ColumnDataSource(_edge_columns(g, labels, differences, s.measure.per_head), name="edges")
    # both renderers always exist (the browser's redraw switches between them); only one is visible
    cut = s.threshold if s.method.uses_threshold else None
    heads_src = ColumnDataSource(
        _head_edge_columns(g, cut, differences) if per_head else dict.fromkeys(HEAD_EDGE_COLUMNS, []),
        name="head_edges",
    )
    graph.segment("x0", "y0", "x1", "y1", source=heads_src, line_color="colour", line_width="width",
                  line_alpha="alpha", name="head_edge_lines", visible=per_head)  # fmt: skip
    graph.segment("x0", "y0", "x1", "y1", source=edges, line_color="colour", line_width="width",
                  line_alpha="alpha", name="edge_lines", visible=not per_head)  # fmt: skip
    # Hover targets at the edges' midpoints: hovering a segment itself would list every edge that meets at a node.
    mid = graph.scatter("xm", "ym", source=edges, size=11, fill_alpha=0.0, line_alpha=0.0, hover_fill_color="colour",
                        hover_fill_alpha=0.9, hover_line_alpha=0.0, name="edge_midpoints")  # fmt: skip
    flow_name = "trace flow" if s.method.uses_threshold else "flow"
    graph.add_tools(
        HoverTool(
            name="edge_hover",
            renderers=[mid],
            tooltips=[
                ("edge", "@from → @to (layer @layer)"),
                ("drawn by", "@status"),
                (f"{flow_name} pre-trained", "@mb{%.3g}"),
                (f"{flow_name} fine-tuned", "@mt{%.3g}"),
                ("mean attention (pre → fine)", "@ab{%.3g} → @at{%.3g}"),
                ("top heads", "@perhead"),
            ],
            formatters=_printf("@mb", "@mt", "@ab", "@at"),
        )
    )


def _node_glyphs(graph: Any, analysis: Analysis, g: PairGraph) -> tuple[ColumnDataSource, Any]:
    """The node markers of both models (size = flow reaching the token) and the clickable node targets."""
    labels, n = analysis.labels, analysis.n
    a, b = analysis.layer_range
    lay_idx, tok_idx = np.meshgrid(np.arange(a - 1, b + 1), np.arange(n), indexing="ij")
    vb, vt = g.base.node[lay_idx, tok_idx], g.tuned.node[lay_idx, tok_idx]
    sb, st = _node_sizes(g.base.node)[lay_idx, tok_idx], _node_sizes(g.tuned.node)[lay_idx, tok_idx]
    nodes = ColumnDataSource(
        {
            "x": lay_idx.ravel().astype(np.int16),
            "y": (-tok_idx).ravel().astype(np.int16),
            "layer": lay_idx.ravel().astype(np.int16),
            "token": tok_idx.ravel().astype(np.int16),
            "label": [labels[i] for i in tok_idx.ravel()],
            "ib": vb.ravel().astype(np.float32),
            "it": vt.ravel().astype(np.float32),
            "sb": sb.ravel().astype(np.float32),
            "st": st.ravel().astype(np.float32),
            "xb": (lay_idx.ravel() - 0.08).astype(np.float32),
            "xt": (lay_idx.ravel() + 0.08).astype(np.float32),
        },
        name="nodes",
    )
    for x, size, colour, key in (("xb", "sb", BASE, "base"), ("xt", "st", TUNED, "tuned")):
        # (no selection styling: a click redraws the whole view from the server)
        graph.scatter(x, "y", size=size, source=nodes, color=colour, alpha=0.8,
                      legend_label=f"flow reaching a token — {analysis.model_labels[key]}")  # fmt: skip
    hit = graph.scatter("x", "y", size=9, source=nodes, fill_color="white", fill_alpha=0.0, line_color=NEUTRAL,
                        line_alpha=0.5, nonselection_fill_alpha=0.0, nonselection_line_alpha=0.5,
                        selection_line_color=HIGHLIGHT, selection_line_width=2.5, name="flow_nodes")  # fmt: skip
    graph.add_tools(
        HoverTool(
            renderers=[hit],
            tooltips=[
                ("token", "@label #@token, layer @layer — click to trace from it"),
                ("flow pre-trained", "@ib{%.3g}"),
                ("flow fine-tuned", "@it{%.3g}"),
            ],
            formatters=_printf("@ib", "@it"),
        )
    )
    graph.add_tools(TapTool(renderers=[hit]))
    return nodes, hit


def _legend_and_labels(graph: Any, analysis: Analysis, differences: bool) -> None:
    """The legend below the graph (node markers and one line glyph per edge status) and the token labels."""
    labels, n = analysis.labels, analysis.n
    a, b = analysis.layer_range
    # the edge legend: one zero-length segment per status, from one small source (fewer models to serialise)
    order = ("base", "tuned", "shared")
    legend_src = ColumnDataSource(
        {
            "x": [a - 1] * 3,
            "y": [1] * 3,
            "colour": [FADED if differences and k == "shared" else STATUS_COLOURS[k] for k in order],
            "label": [f"edge: {STATUS_LABELS[k]}" for k in order],
        },
        name="legend",
    )
    graph.segment(
        "x", "y", "x", "y", source=legend_src, line_color="colour", line_width=3, legend_field="label"
    )
    legend = graph.legend[0]
    graph.add_layout(legend, "below")
    legend.orientation = "horizontal"
    legend.ncols = 3  # two rows: one row of five items is wider than the graph and was cut on the left
    legend.label_text_font_size = "9pt"
    legend.border_line_alpha = 0
    legend.click_policy = "none"
    label_src = ColumnDataSource(
        {"y": [-i for i in range(n)], "text": list(labels), "xl": [a - 1 - 0.18] * n, "xr": [b + 0.18] * n},
        name="token_labels",
    )
    graph.text("xl", "y", "text", source=label_src, text_align="right", text_baseline="middle",
               text_font_size="9pt", text_color=TEXT)  # fmt: skip
    graph.text("xr", "y", "text", source=label_src, text_align="left", text_baseline="middle",
               text_font_size="9pt", text_color=TEXT)  # fmt: skip


def _sentence_layout(
    labels: tuple[str, ...], segments: tuple[int, ...], max_units: float = 104.0
) -> dict[str, list]:
    """Wrap the units into lines (segment B starts a new line): x centre, line, width per unit."""
    xs, ys, ws = [], [], []
    x, line = 0.0, 0
    prev_seg = segments[0] if segments else 0
    for label, seg in zip(labels, segments, strict=True):
        w = max(3.0, len(label) * 0.9 + 2.0)
        if (seg != prev_seg and x > 0) or x + w > max_units:
            x, line = 0.0, line + 1
        xs.append(x + w / 2)
        ys.append(-line)
        ws.append(w - 1.0)  # a gap between units, so that words read apart
        x += w
        prev_seg = seg
    return {"x": xs, "line": ys, "w": ws}


def build_sentence_figure(analysis: Analysis) -> Any:
    """The sentence strip: each unit's upper half shaded by the pre-trained score, the lower half by the fine-tuned
    score, on one scale (0 .. the larger maximum), with a colour bar per model."""
    s, labels, names = analysis.settings, analysis.labels, analysis.model_labels
    lay = _sentence_layout(labels, analysis.segments)
    n_lines = -min(lay["line"]) + 1 if lay["line"] else 1
    top = max(float(analysis.scores_base.max(initial=0)), float(analysis.scores_tuned.max(initial=0))) or 1.0
    sb, st = [_sig(v) for v in analysis.scores_base], [_sig(v) for v in analysis.scores_tuned]
    src = ColumnDataSource(
        {
            "x": lay["x"],
            "yb": [y + 0.2 for y in lay["line"]],
            "yt": [y - 0.2 for y in lay["line"]],
            "y": lay["line"],
            "w": lay["w"],
            "text": list(labels),
            "sb": sb,
            "st": st,
            "tc": text_colours(sb, st, top),
        },
        name="sentence",
    )
    fig = figure(
        width=WIDTH,
        height=90 + 46 * n_lines,
        tools="save,reset,pan",
        x_range=Range1d(start=-1, end=106),
        y_range=Range1d(start=-n_lines + 0.4, end=0.8),
        title=f"Sentence view: {s.method.phrase.lower()} score of {s.measure.phrase} per {s.unit} "
        f"(upper half {MODEL_LABELS['base']}, lower {MODEL_LABELS['tuned']})"
        f"{spread_note(analysis.scores_base, analysis.scores_tuned)}",  # one line: the colour bars name a checkpoint
        toolbar_location="above",
        name="sentence_view",
    )
    fig.axis.visible = False
    fig.grid.visible = False
    fig.outline_line_color = None
    rects = []
    for key, y, colour in (("sb", "yb", BASE), ("st", "yt", TUNED)):
        mapper = LinearColorMapper(palette=ramp(colour), low=0.0, high=top, name=f"sentence_map_{key}")
        rects.append(fig.rect("x", y, "w", 0.4, source=src, fill_color={"field": key, "transform": mapper},
                              line_alpha=0))  # fmt: skip
        name = names["base" if key == "sb" else "tuned"]
        fig.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker(desired_num_ticks=4), width=8, title=name,
                                title_text_font_size="8pt", major_label_text_font_size="8pt"), "right")  # fmt: skip
    fig.text("x", "y", "text", source=src, text_align="center", text_baseline="middle", text_font_size="10pt",
             text_color="tc")  # fmt: skip
    mark = ColumnDataSource(
        {"x": [lay["x"][s.source]], "y": [lay["line"][s.source]], "w": [lay["w"][s.source] + 0.4]},
        name="sentence_mark",
    )
    fig.rect("x", "y", "w", 0.9, source=mark, fill_alpha=0, line_color=HIGHLIGHT, line_width=2.5)
    fig.add_tools(HoverTool(renderers=rects[:1], tooltips=[("unit", "@text"), ("score pre-trained", "@sb{%.3g}"),
                                                           ("score fine-tuned", "@st{%.3g}")],
                            formatters=_printf("@sb", "@st")))  # fmt: skip
    return fig


def spread_note(scores_base: np.ndarray, scores_tuned: np.ndarray) -> str:
    """' — spread almost evenly (max/min = 1.4)' when, in both models, every unit gets flow and the largest score is
    under ``EVEN_RATIO`` times the smallest (the larger ratio of the two is given); '' otherwise."""
    ratios = []
    for scores in (scores_base, scores_tuned):
        v = np.asarray(scores, dtype=np.float64)
        if v.size == 0 or not (v > 0).all():
            return ""
        ratios.append(float(v.max() / v.min()))
    top = max(ratios)
    return f" — spread almost evenly (max/min = {top:.1f})" if top < EVEN_RATIO else ""


def text_colours(scores_base: list[float], scores_tuned: list[float], high: float) -> list[str]:
    """Per unit, the colour of its text on the sentence strip: the one that reads on both halves of its cell
    (``theme.text_on``), with the shades the strip's colour mappers give them (``theme.mapped_colour``)."""
    pal_b, pal_t = ramp(BASE), ramp(TUNED)
    return [
        text_on(mapped_colour(pal_b, vb, 0.0, high), mapped_colour(pal_t, vt, 0.0, high))
        for vb, vt in zip(scores_base, scores_tuned, strict=True)
    ]


def _nothing_drawn(g: PairGraph, key: str, names: Mapping[str, str], per_head: bool = True) -> str:
    """A head grid's title when that model draws no edge (its trace stopped at the top layer), else ''."""
    e = g.base if key == "base" else g.tuned
    if e.n_edges:
        return ""
    why = f": its trace stops at layer {e.stopped}" if e.stopped is not None else ""
    return f"No {'head' if per_head else 'layer'} carries the {names[key]} flow{why}"


def head_grid_title(method: str, model: str, per_head: bool) -> str:
    """A head grid's title when its model (``model``: its label) draws edges: the heads carrying the drawn flow, or,
    under a measure without a per-head part, the whole layers (each one cell, its axis labelled ``WHOLE_LAYER``).
    Within ``GRID_TITLE_CHARS`` (a grid's width): a checkpoint's longer label drops the method's name (the graph's
    title has it)."""
    what = "Whole layers in the" if not per_head else "Heads carrying the"
    title = f"{what} {method} — {model}"
    return title if len(title) <= GRID_TITLE_CHARS else f"{what} flow — {model}"


def build_head_grids(analysis: Analysis, g: PairGraph) -> list[Any]:
    """Two layer × head heatmaps: each head's share of the drawn flow, per model, on one colour scale (one column,
    the whole layer, under a measure without a per-head part)."""
    n_layers, n_heads = int(analysis.attn_base.shape[0]), int(analysis.attn_base.shape[1])
    per_head = analysis.settings.measure.per_head
    share_b = head_shares(g, n_layers, n_heads, "base")
    share_t = head_shares(g, n_layers, n_heads, "tuned")
    top = max(float(share_b.max()), float(share_t.max())) or 1.0
    method = analysis.settings.method.phrase.lower()
    a, b = analysis.layer_range
    names = analysis.model_labels
    grids = []
    for values, colour, key in ((share_b, BASE, "base"), (share_t, TUNED, "tuned")):
        fig, cells, _ = layer_head_heatmap(
            values, _nothing_drawn(g, key, names, per_head) or head_grid_title(method, names[key], per_head),
            ramp(colour), top,
            name=f"head_grid_{key}", extra={names["base"]: share_b, names["tuned"]: share_t}, digits=3,
            bar_title="share", column_label=None if per_head else WHOLE_LAYER,
        )  # fmt: skip
        cells.name = f"head_grid_{key}_cells"
        fig.y_range.update(start=a - 0.5, end=b + 0.5)  # only the layers of the range
        fig.yaxis.ticker = list(range(a, b + 1))
        grids.append(fig)
    return grids


def _caption(analysis: Analysis, g: PairGraph) -> str:
    s, labels = analysis.settings, analysis.labels
    text = (
        f"<b>{s.method.verb} from</b> "
        f"<span style='color:{HIGHLIGHT}'><b>{_esc(labels[s.source])}</b> (#{s.source})</span>"
        f" — {g.base.n_edges} edges drawn for the pre-trained model, {g.tuned.n_edges} for the fine-tuned "
        "(each reached token's strongest incoming edges). Click any token node to trace from it."
    )
    stop = _stop_message(g, analysis)
    if stop:
        text += f"<br><span style='color:{HIGHLIGHT}'>{_esc(stop)}</span>"
    return text


def build_flow_layout(
    analysis: Analysis, height: int | None = None, per_head: bool = False, differences: bool = True
) -> Any:
    """The linked Attention flow layout (caption, flow graph, sentence view, head grids) for one analysed example
    (``per_head`` edges only under a measure with a per-head part)."""
    per_head = per_head and analysis.settings.measure.per_head
    g = flow_graph_of(analysis)
    graph, nodes = build_graph_figure(analysis, g, per_head, differences, height)
    note = Div(
        text=_caption(analysis, g),
        width=WIDTH,
        height=CAPTION_HEIGHT,
        name="flow_caption",
        styles={"font-size": "13px", "color": TEXT},
    )
    sentence = build_sentence_figure(analysis)
    grids = build_head_grids(analysis, g)
    return fit(column(note, graph, sentence, row(*grids), name="flow_layout"))


#: The caption's height: room for the stop message's line too, so the layout does not move when a trace stops.
CAPTION_HEIGHT = DIV_HEIGHT + 22


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def standalone_html(layout: Any, title: str) -> str:
    """A self-contained HTML page of a layout (BokehJS inlined, so it opens offline)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    return file_html(layout, INLINE, title)
