"""The Attention flow view: flow graph, sentence view and layer × head grid in one linked Bokeh layout.

- Flow graph: layers are columns (input at the left, the deepest layer of the range at the right), tokens are rows.
  Edges traced from the source token are drawn per (layer, from, to), summed over the heads that keep them; colour
  says which model keeps the edge (turquoise pre-trained only, purple fine-tuned only, orange both), width its
  weight. Node markers grow with influence in each model (turquoise left, purple right of the node).
- Sentence view: the example with both segments, each unit's upper half shaded by its flow score in the pre-trained
  model and its lower half in the fine-tuned model.
- Layer × head grid: each head's share of the traced flow in each model.

Clicking a node re-traces from that token entirely in the browser (CustomJS): the layout embeds, for both models,
the attention entries that can ever be kept (weight ≥ τ, within the layer range and head set) and re-runs the same
definition as ``flows.trace`` on them. ``sparse_trace`` is the Python mirror of that JavaScript and is tested
against ``flows.trace``. When more than ``MAX_SPARSE`` entries would be embedded (τ near 0 on a long example) the
click is disabled and the view says to raise τ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Range1d, TapTool
from bokeh.models.widgets import Div
from bokeh.plotting import figure

from attnflow_core.analysis import Analysis
from attnflow_core.extract import ExampleResult
from attnflow_core.flows import PairTrace, rollout, select_heads
from attnflow_core.plots.theme import (
    BASE,
    DIV_HEIGHT,
    HIGHLIGHT,
    NEUTRAL,
    SEGMENT_FILL,
    SHARED,
    STATUS_LABELS,
    TEXT,
    TOOLS,
    TUNED,
    WIDTH,
    fit,
)

MAX_SPARSE = 150_000


@dataclass(frozen=True)
class Sparse:
    """Attention entries that a trace may keep: parallel arrays, ordered by layer descending."""

    layer: np.ndarray
    head: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    @property
    def size(self) -> int:
        return int(self.layer.size)


def sparse_attention(
    attn: np.ndarray, layers: tuple[int, int], heads: tuple[int, ...] | None, threshold: float
) -> Sparse:
    """All entries with weight ≥ τ and > 0 in layers a..b of the selected heads: (L, H, n, n) -> Sparse."""
    a, b = layers
    sel = select_heads(attn.shape[1], heads)
    # Compare in float64 like flows.trace: float32(τ) can lie below τ (0.02, 0.06, ...) and would be kept here only.
    blocks = attn[a - 1 : b][:, sel].astype(np.float64)
    keep = (blocks >= threshold) & (blocks > 0)
    li, hi, ji, ii = np.nonzero(keep)
    layer = li + a
    order = np.lexsort((ii, ji, hi, -layer))
    return Sparse(
        layer=layer[order].astype(int),
        head=sel[hi][order].astype(int),
        src=ji[order].astype(int),
        dst=ii[order].astype(int),
        weight=blocks[li, hi, ji, ii][order].astype(np.float64),
    )


def sparse_trace(
    sp: Sparse, n: int, n_layers: int, source: int, layers: tuple[int, int], n_heads: int, decay: float
) -> tuple[np.ndarray, np.ndarray]:
    """The trace definition on a Sparse (mirrors the layout's JavaScript): -> (kept mask (E,), influence (L+1, n))."""
    a, b = layers
    influence = np.zeros((n_layers + 1, n))
    influence[b, source] = 1.0
    kept = np.zeros(sp.size, dtype=bool)
    for layer in range(b, a - 1, -1):
        idx = np.flatnonzero(sp.layer == layer)
        live = idx[influence[layer, sp.src[idx]] > 0]
        kept[live] = True
        flow = decay * influence[layer, sp.src[live]] * sp.weight[live] / n_heads
        influence[layer - 1] = np.bincount(sp.dst[live], weights=flow, minlength=n)
    return kept, influence


@dataclass
class _EdgeSum:
    """One drawn edge (layer, from, to): its heads' weights summed, per model, divided by the number of heads."""

    kept_base: float = 0.0  # over the heads whose edge the pre-trained model keeps (sets the width)
    kept_tuned: float = 0.0
    shown_base: float = 0.0  # over every head either model keeps (the hover: a below-τ weight included)
    shown_tuned: float = 0.0
    by_base: bool = False  # some head's edge is kept by the pre-trained model
    by_tuned: bool = False
    heads: set[int] = field(default_factory=set)

    @property
    def status(self) -> str:
        if self.by_base and self.by_tuned:
            return "shared"
        return "base" if self.by_base else "tuned"


def _edge_data(trace: PairTrace, labels: tuple[str, ...], n_heads: int) -> dict[str, list[Any]]:
    """Edges summed over heads per (layer, from, to): coordinates, colour by status, width by the kept weight.

    The hover weights ``wb``/``wt`` sum both models' attention over every head that keeps the edge in either model,
    so an edge only one model keeps still shows the other model's (below-τ) weight on it.
    """
    sums: dict[tuple[int, int, int], _EdgeSum] = {}
    for k in range(trace.n_edges):
        e = sums.setdefault((int(trace.layer[k]), int(trace.src[k]), int(trace.dst[k])), _EdgeSum())
        status = str(trace.status[k])
        wb, wt = float(trace.weight_base[k]) / n_heads, float(trace.weight_tuned[k]) / n_heads
        if status in ("shared", "base"):
            e.kept_base += wb
            e.by_base = True
        if status in ("shared", "tuned"):
            e.kept_tuned += wt
            e.by_tuned = True
        e.shown_base += wb
        e.shown_tuned += wt
        e.heads.add(int(trace.head[k]))
    return _edge_columns(sums, labels)


def _edge_columns(
    sums: dict[tuple[int, int, int], _EdgeSum], labels: tuple[str, ...]
) -> dict[str, list[Any]]:
    names = (
        "x0",
        "y0",
        "x1",
        "y1",
        "colour",
        "width",
        "status",
        "wb",
        "wt",
        "heads",
        "from",
        "to",
        "layer",
        "xm",
        "ym",
    )
    cols: dict[str, list[Any]] = {k: [] for k in names}
    top = max((max(e.kept_base, e.kept_tuned) for e in sums.values()), default=1.0) or 1.0
    for (layer, src, dst), e in sorted(sums.items()):
        status = e.status
        cols["x0"].append(layer)
        cols["y0"].append(-src)
        cols["x1"].append(layer - 1)
        cols["y1"].append(-dst)
        cols["colour"].append({"shared": SHARED, "base": BASE, "tuned": TUNED}[status])
        cols["width"].append(0.8 + 7.0 * max(e.kept_base, e.kept_tuned) / top)
        cols["status"].append(STATUS_LABELS[status])
        cols["wb"].append(round(e.shown_base, 4))
        cols["wt"].append(round(e.shown_tuned, 4))
        cols["heads"].append(", ".join(str(h) for h in sorted(e.heads)))
        cols["from"].append(f"{labels[src]} #{src}")
        cols["to"].append(f"{labels[dst]} #{dst}")
        cols["layer"].append(layer)
        cols["xm"].append(layer - 0.5)  # the edge's midpoint: where hovering shows its weights
        cols["ym"].append(-(src + dst) / 2)
    return cols


def _node_sizes(influence: np.ndarray) -> np.ndarray:
    """Marker size per node from influence, relative to the largest influence anywhere (the source's): the trace's
    spreading and the decay α per layer both show as smaller markers further from the source."""
    peak = float(influence.max(initial=0.0))
    rel = influence / peak if peak > 0 else np.zeros_like(influence)
    return np.where(rel > 0, 5.0 + 13.0 * np.sqrt(rel), 0.0)


def _sentence_layout(
    labels: tuple[str, ...], segments: tuple[int, ...], max_units: float = 110.0
) -> dict[str, list]:
    """Wrap the units into lines (segment B starts a new line): x centre, line, width per unit."""
    xs, ys, ws = [], [], []
    x, line = 0.0, 0
    prev_seg = segments[0] if segments else 0
    for label, seg in zip(labels, segments, strict=True):
        w = max(3.0, len(label) * 0.9 + 1.2)
        if (seg != prev_seg and x > 0) or x + w > max_units:
            x, line = 0.0, line + 1
        xs.append(x + w / 2)
        ys.append(-line)
        ws.append(w - 0.3)
        x += w
        prev_seg = seg
    return {"x": xs, "line": ys, "w": ws}


def _alphas(scores_b: np.ndarray, scores_t: np.ndarray) -> tuple[list[float], list[float]]:
    top = max(float(scores_b.max(initial=0)), float(scores_t.max(initial=0))) or 1.0
    return (
        np.round(0.08 + 0.92 * scores_b / top, 4).tolist(),
        np.round(0.08 + 0.92 * scores_t / top, 4).tolist(),
    )


def build_flow_layout(
    analysis: Analysis, result: ExampleResult | None = None, height: int | None = None
) -> Any:
    """The linked Attention flow layout (flow graph, sentence view, head grid) for one analysed example."""
    s = analysis.settings
    labels = analysis.labels
    n = analysis.n
    n_layers, n_heads_all = int(analysis.attn_base.shape[0]), int(analysis.attn_base.shape[1])
    a, b = analysis.layer_range
    sel = select_heads(n_heads_all, s.heads)
    tr = analysis.trace

    # ---- flow graph
    h = height or max(320, 17 * n + 90)
    title_rest = (
        f" at layer {b} down to the input — τ = {s.threshold:g}, α = {s.decay:g}, "
        f"heads {'all' if s.heads is None else list(s.heads)}"
    )
    graph = figure(
        width=WIDTH,
        height=h,
        tools=TOOLS,
        x_range=Range1d(start=a - 1 - 1.1, end=b + 1.1),
        y_range=Range1d(start=-n + 0.3, end=1.2),
        title=f"Attention flow from '{labels[s.source]}' (#{s.source})" + title_rest,
        toolbar_location="above",
        name="flow_graph",
    )
    graph.xaxis.ticker = list(range(a - 1, b + 1))
    overrides: dict[float | str, Any] = {lay: f"layer {lay}" for lay in range(a, b + 1)}
    overrides[a - 1] = "input" if a == 1 else f"layer {a - 1}"
    graph.xaxis.major_label_overrides = overrides
    graph.yaxis.visible = False
    graph.grid.visible = False
    graph.outline_line_color = None
    edges = ColumnDataSource(_edge_data(tr, labels, sel.size), name="edges")
    graph.segment(
        "x0",
        "y0",
        "x1",
        "y1",
        source=edges,
        line_color="colour",
        line_width="width",
        line_alpha=0.55,
        hover_line_color="colour",
        hover_line_alpha=1.0,
    )
    # Hover targets at the edges' midpoints: hovering a segment itself would list every edge that meets at a node.
    mid_r = graph.scatter(
        "xm", "ym", source=edges, size=11, fill_alpha=0.0, line_alpha=0.0, hover_fill_color="colour",
        hover_fill_alpha=0.9, hover_line_alpha=0.0, name="edge_midpoints",
    )  # fmt: skip
    graph.add_tools(
        HoverTool(
            renderers=[mid_r],
            tooltips=[
                ("edge", "@from → @to (layer @layer)"),
                ("kept by", "@status"),
                ("weight pre-trained", "@wb{0.000}"),
                ("weight fine-tuned", "@wt{0.000}"),
                ("heads", "@heads"),
            ],
        )
    )
    lay_idx, tok_idx = np.meshgrid(np.arange(a - 1, b + 1), np.arange(n), indexing="ij")
    infl_b, infl_t = tr.base.influence, tr.tuned.influence
    size_b, size_t = _node_sizes(infl_b), _node_sizes(infl_t)
    nodes = ColumnDataSource(
        {
            "x": lay_idx.ravel().tolist(),
            "y": (-tok_idx).ravel().tolist(),
            "layer": lay_idx.ravel().tolist(),
            "token": tok_idx.ravel().tolist(),
            "label": [labels[i] for i in tok_idx.ravel()],
            "ib": np.round(infl_b[lay_idx, tok_idx].ravel(), 5).tolist(),
            "it": np.round(infl_t[lay_idx, tok_idx].ravel(), 5).tolist(),
            "sb": size_b[lay_idx, tok_idx].ravel().tolist(),
            "st": size_t[lay_idx, tok_idx].ravel().tolist(),
            "xb": (lay_idx.ravel() - 0.07).tolist(),
            "xt": (lay_idx.ravel() + 0.07).tolist(),
        },
        name="nodes",
    )
    # The markers share the tapped source: keep them unfaded when the click selects one node.
    for x, size, colour, label in (("xb", "sb", BASE, "pre-trained"), ("xt", "st", TUNED, "fine-tuned")):
        graph.scatter(x, "y", size=size, source=nodes, color=colour, alpha=0.8, nonselection_alpha=0.8,
                      selection_alpha=0.8, legend_label=label)  # fmt: skip
    hit = graph.scatter(
        "x",
        "y",
        size=9,
        source=nodes,
        fill_color="white",
        line_color=NEUTRAL,
        fill_alpha=0.0,
        line_alpha=0.6,
        nonselection_fill_alpha=0.0,
        nonselection_line_alpha=0.6,
        selection_line_color=HIGHLIGHT,
        selection_line_width=2.5,
        name="flow_nodes",
    )
    graph.segment(0, 0, 0, 0, line_color=SHARED, line_width=3, legend_label="edge kept by both")
    graph.add_tools(
        HoverTool(
            renderers=[hit],
            tooltips=[
                ("token", "@label #@token"),
                ("layer", "@layer"),
                ("influence pre-trained", "@ib{0.0000}"),
                ("influence fine-tuned", "@it{0.0000}"),
            ],
        )
    )
    tap = TapTool(renderers=[hit])
    graph.add_tools(tap)
    legend = graph.legend[0]
    graph.add_layout(legend, "below")
    legend.orientation = "horizontal"
    legend.label_text_font_size = "9pt"
    legend.border_line_alpha = 0
    label_src = ColumnDataSource(
        {
            "y": [-i for i in range(n)],
            "text": [f"{t}" for t in labels],
            "xl": [a - 1 - 0.18] * n,
            "xr": [b + 0.18] * n,
            "seg": [SEGMENT_FILL[1] if seg else SEGMENT_FILL[0] for seg in analysis.segments],
        }
    )
    graph.text("xl", "y", "text", source=label_src, text_align="right", text_baseline="middle",
               text_font_size="9pt", text_color=TEXT)  # fmt: skip
    graph.text("xr", "y", "text", source=label_src, text_align="left", text_baseline="middle",
               text_font_size="9pt", text_color=TEXT)  # fmt: skip
    ring = ColumnDataSource({"x": [b], "y": [-s.source]}, name="source_ring")
    graph.scatter("x", "y", source=ring, size=20, fill_alpha=0, line_color=HIGHLIGHT, line_width=3)

    # ---- sentence view
    lay = _sentence_layout(labels, analysis.segments)
    alpha_b, alpha_t = _alphas(analysis.scores_base, analysis.scores_tuned)
    n_lines = -min(lay["line"]) + 1 if lay["line"] else 1
    sentence_src = ColumnDataSource(
        {
            "x": lay["x"],
            "yb": [y + 0.2 for y in lay["line"]],
            "yt": [y - 0.2 for y in lay["line"]],
            "y": lay["line"],
            "w": lay["w"],
            "text": list(labels),
            "ab": alpha_b,
            "at": alpha_t,
            "sb": np.round(analysis.scores_base, 4).tolist(),
            "st": np.round(analysis.scores_tuned, 4).tolist(),
            "seg": list(analysis.segments),
        },
        name="sentence",
    )
    sentence = figure(
        width=WIDTH,
        height=70 + 46 * n_lines,
        tools="save,reset,pan",
        x_range=Range1d(start=-1, end=112),
        y_range=Range1d(start=-n_lines + 0.4, end=0.8),
        title=f"Sentence view: flow score ({s.method}) — upper half pre-trained, lower half fine-tuned",
        toolbar_location="above",
        name="sentence_view",
    )
    sentence.axis.visible = False
    sentence.grid.visible = False
    sentence.outline_line_color = None
    rb = sentence.rect(
        "x", "yb", "w", 0.4, source=sentence_src, fill_color=BASE, fill_alpha="ab", line_alpha=0
    )
    sentence.rect("x", "yt", "w", 0.4, source=sentence_src, fill_color=TUNED, fill_alpha="at", line_alpha=0)
    sentence.text("x", "y", "text", source=sentence_src, text_align="center", text_baseline="middle",
                  text_font_size="10pt", text_color=TEXT)  # fmt: skip
    sent_ring = ColumnDataSource(
        {"x": [lay["x"][s.source]], "y": [lay["line"][s.source]], "w": [lay["w"][s.source] + 0.4]},
        name="sentence_ring",
    )
    sentence.rect("x", "y", "w", 0.9, source=sent_ring, fill_alpha=0, line_color=HIGHLIGHT, line_width=2.5)
    sentence.add_tools(
        HoverTool(
            renderers=[rb],
            tooltips=[
                ("unit", "@text"),
                ("score pre-trained", "@sb{0.000}"),
                ("score fine-tuned", "@st{0.000}"),
            ],
        )
    )

    # ---- layer × head grid
    share_b = analysis.head_diff.flow_share_base
    share_t = analysis.head_diff.flow_share_tuned
    if share_b is None or share_t is None:
        share_b = share_t = np.zeros((n_layers, n_heads_all))
    ll, hh = np.meshgrid(np.arange(1, n_layers + 1), np.arange(n_heads_all), indexing="ij")
    top = max(float(share_b.max()), float(share_t.max())) or 1.0
    grid_src = ColumnDataSource(
        {
            "layer": ll.ravel().tolist(),
            "head": hh.ravel().tolist(),
            "vb": np.round(share_b.ravel(), 5).tolist(),
            "vt": np.round(share_t.ravel(), 5).tolist(),
            "ab": np.round(share_b.ravel() / top, 4).tolist(),
            "at": np.round(share_t.ravel() / top, 4).tolist(),
        },
        name="head_grid",
    )
    grids = []
    for key, colour, title in (("ab", BASE, "pre-trained"), ("at", TUNED, "fine-tuned")):
        g = figure(
            width=WIDTH // 2 - 10,
            height=60 + 26 * n_layers,
            tools="save,hover",
            x_range=Range1d(start=-0.5, end=n_heads_all - 0.5),
            y_range=Range1d(start=0.5, end=n_layers + 0.5),
            title=f"Heads carrying the trace — {title} (share of traced flow)",
            toolbar_location="above",
            tooltips=[
                ("layer", "@layer"),
                ("head", "@head"),
                ("share pre-trained", "@vb{0.000}"),
                ("share fine-tuned", "@vt{0.000}"),
            ],  # fmt: skip
        )
        g.rect("head", "layer", 0.95, 0.95, source=grid_src, fill_color=colour, fill_alpha=key, line_color=NEUTRAL,
               line_alpha=0.3)  # fmt: skip
        g.xaxis.axis_label = "head"
        g.yaxis.axis_label = "layer"
        g.xaxis.ticker = list(range(n_heads_all))
        g.yaxis.ticker = list(range(1, n_layers + 1))
        g.grid.visible = False
        grids.append(g)

    # ---- click to re-trace (browser side)
    sp_b = sparse_attention(analysis.attn_base, (a, b), s.heads, s.threshold)
    sp_t = sparse_attention(analysis.attn_tuned, (a, b), s.heads, s.threshold)
    enabled = sp_b.size + sp_t.size <= MAX_SPARSE
    note = Div(
        text=_caption(labels, s.source, s.method, enabled),
        width=WIDTH,
        height=DIV_HEIGHT,
        name="flow_caption",
        styles={"font-size": "13px", "color": TEXT},
    )
    rb_top = rollout(analysis.attn_base[a - 1 : b], s.heads)[-1] if s.method == "rollout" else None
    rt_top = rollout(analysis.attn_tuned[a - 1 : b], s.heads)[-1] if s.method == "rollout" else None

    def pack(sp: Sparse, other: np.ndarray) -> dict[str, np.ndarray]:
        """The entries as typed arrays (BokehJS receives them as binary, compact and exact): the model's weight
        ``w`` and the other model's weight ``wo`` on the same (layer, head, src, dst), for the hover."""
        if not enabled:  # nothing to send: a click only says to raise τ
            none = np.zeros(0, dtype=int)
            sp = Sparse(layer=none, head=none, src=none, dst=none, weight=np.zeros(0))
        return {
            "layer": sp.layer.astype(np.int16),
            "head": sp.head.astype(np.int16),
            "src": sp.src.astype(np.int16),
            "dst": sp.dst.astype(np.int16),
            "w": sp.weight.astype(np.float32),
            "wo": other[sp.layer - 1, sp.head, sp.src, sp.dst].astype(np.float32),
        }

    callback = CustomJS(
        args={
            "nodes": nodes,
            "edges": edges,
            "sentence": sentence_src,
            "grid": grid_src,
            "ring": ring,
            "sent_ring": sent_ring,
            "note": note,
            "title": graph.title,
            "title_rest": title_rest,
            "spb": pack(sp_b, analysis.attn_tuned),
            "spt": pack(sp_t, analysis.attn_base),
            "rb": None if rb_top is None else np.round(rb_top, 6).tolist(),
            "rt": None if rt_top is None else np.round(rt_top, 6).tolist(),
            "labels": list(labels),
            "n": n,
            "L": n_layers,
            "H": n_heads_all,
            "a": a,
            "b": b,
            "nh": int(sel.size),
            "decay": float(s.decay),
            "method": s.method,
            "enabled": enabled,
            "colours": {"shared": SHARED, "base": BASE, "tuned": TUNED},
            "status_labels": STATUS_LABELS,
        },
        code=_JS,
    )
    nodes.selected.js_on_change("indices", callback)
    return fit(column(note, graph, sentence, row(*grids), name="flow_layout"))


def _caption(labels: tuple[str, ...], source: int, method: str, enabled: bool) -> str:
    text = f"<b>Tracing from</b> <span style='color:{HIGHLIGHT}'><b>{_esc(labels[source])}</b> (#{source})</span>. "
    if enabled:
        text += (
            "Click any token node in the graph to trace from that token instead (computed in your browser)."
        )
    else:
        text += "Raise τ to enable click-to-trace: at this threshold there are too many edges to send to the browser."
    if method == "maxflow":
        text += " The sentence view shows max-flow scores only for the sidebar's source token; after a click it shows the trace."
    return text


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_JS = r"""
const idx = nodes.selected.indices;
if (idx.length === 0) { return; }
const s = nodes.data.token[idx[0]];
const esc = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
if (!enabled) {
  note.text = "<b>Click-to-trace is off at this threshold</b>: raise τ (fewer edges) or pick the token in the sidebar.";
  return;
}
function run(sp) {
  const infl = [];
  for (let l = 0; l <= L; l++) { infl.push(new Float64Array(n)); }
  infl[b][s] = 1.0;
  const kept = [];
  for (let l = b; l >= a; l--) {
    for (let k = 0; k < sp.layer.length; k++) {
      if (sp.layer[k] !== l) { continue; }
      const j = sp.src[k];
      if (infl[l][j] > 0) {
        kept.push(k);
        infl[l - 1][sp.dst[k]] += decay * infl[l][j] * sp.w[k] / nh;
      }
    }
  }
  return {infl: infl, kept: kept};
}
const rb_ = run(spb), rt_ = run(spt);
// every kept (layer, head, from, to) once, with both models' weights on it (the other model's may be below τ)
const perHead = new Map();
function add(res, sp, which) {
  for (const k of res.kept) {
    const key = sp.layer[k] + "," + sp.head[k] + "," + sp.src[k] + "," + sp.dst[k];
    let e = perHead.get(key);
    if (!e) { e = {l: sp.layer[k], h: sp.head[k], j: sp.src[k], i: sp.dst[k], kb: false, kt: false, wb: 0, wt: 0}; perHead.set(key, e); }
    if (which === "b") { e.kb = true; e.wb = sp.w[k]; e.wt = sp.wo[k]; } else { e.kt = true; e.wt = sp.w[k]; e.wb = sp.wo[k]; }
  }
}
add(rb_, spb, "b"); add(rt_, spt, "t");
// edges summed over heads per (layer, from, to): shown weights over every keeping head, width by the kept weight
const agg = new Map();
for (const e of perHead.values()) {
  const key = e.l + "," + e.j + "," + e.i;
  let a = agg.get(key);
  if (!a) { a = {l: e.l, j: e.j, i: e.i, kwb: 0, kwt: 0, wb: 0, wt: 0, kb: false, kt: false, heads: new Set()}; agg.set(key, a); }
  a.wb += e.wb / nh; a.wt += e.wt / nh;
  if (e.kb) { a.kwb += e.wb / nh; a.kb = true; }
  if (e.kt) { a.kwt += e.wt / nh; a.kt = true; }
  a.heads.add(e.h);
}
let top = 0;
for (const a of agg.values()) { top = Math.max(top, a.kwb, a.kwt); }
if (top === 0) { top = 1; }
const cols = {x0: [], y0: [], x1: [], y1: [], colour: [], width: [], status: [], wb: [], wt: [], heads: [], from: [], to: [], layer: [], xm: [], ym: []};
const ordered = Array.from(agg.values()).sort((p, q) => p.l - q.l || p.j - q.j || p.i - q.i);
for (const e of ordered) {
  const st = e.kb && e.kt ? "shared" : (e.kb ? "base" : "tuned");
  cols.x0.push(e.l); cols.y0.push(-e.j); cols.x1.push(e.l - 1); cols.y1.push(-e.i);
  cols.colour.push(colours[st]); cols.width.push(0.8 + 7.0 * Math.max(e.kwb, e.kwt) / top);
  cols.status.push(status_labels[st]); cols.wb.push(e.wb); cols.wt.push(e.wt);
  cols.heads.push(Array.from(e.heads).sort((x, y) => x - y).join(", "));
  cols.from.push(labels[e.j] + " #" + e.j); cols.to.push(labels[e.i] + " #" + e.i); cols.layer.push(e.l);
  cols.xm.push(e.l - 0.5); cols.ym.push(-(e.j + e.i) / 2);
}
edges.data = cols;
// node sizes, relative to the largest influence anywhere (as _node_sizes)
function sizes(infl) {
  const out = [];
  const peak = Math.max(0, ...infl.map((row) => Math.max(...row)));
  for (let k = 0; k < nodes.data.layer.length; k++) {
    const l = nodes.data.layer[k], t = nodes.data.token[k];
    const rel = peak > 0 ? infl[l][t] / peak : 0;
    out.push(rel > 0 ? 5.0 + 13.0 * Math.sqrt(rel) : 0.0);
  }
  return out;
}
const nd = Object.assign({}, nodes.data);
nd.sb = sizes(rb_.infl); nd.st = sizes(rt_.infl);
nd.ib = nodes.data.layer.map((l, k) => rb_.infl[l][nodes.data.token[k]]);
nd.it = nodes.data.layer.map((l, k) => rt_.infl[l][nodes.data.token[k]]);
nodes.data = nd;
ring.data = {x: [b], y: [-s]};
title.text = "Attention flow from '" + labels[s] + "' (#" + s + ")" + title_rest;
// sentence view
function scores(res, R) {
  if (method === "rollout" && R !== null) { return R[s].slice(); }
  const bottom = Array.from(res.infl[a - 1]);
  const tot = bottom.reduce((x, y) => x + y, 0);
  return bottom.map((v) => tot > 0 ? v / tot : 0);
}
const sb = scores(rb_, rb), stt = scores(rt_, rt);
let smax = Math.max(...sb, ...stt); if (smax <= 0) { smax = 1; }
const sd = Object.assign({}, sentence.data);
sd.sb = sb; sd.st = stt;
sd.ab = sb.map((v) => 0.08 + 0.92 * v / smax); sd.at = stt.map((v) => 0.08 + 0.92 * v / smax);
sentence.data = sd;
sent_ring.data = {x: [sentence.data.x[s]], y: [sentence.data.y[s]], w: [sentence.data.w[s] + 0.4]};
// head grid: share of traced flow per (layer, head)
function shares(res, sp) {
  const out = new Float64Array(L * H);
  let tot = 0;
  for (const k of res.kept) {
    const v = sp.w[k] * res.infl[sp.layer[k]][sp.src[k]];
    out[(sp.layer[k] - 1) * H + sp.head[k]] += v; tot += v;
  }
  return Array.from(out).map((v) => tot > 0 ? v / tot : 0);
}
const gb = shares(rb_, spb), gt = shares(rt_, spt);
let gmax = Math.max(...gb, ...gt); if (gmax <= 0) { gmax = 1; }
grid.data = Object.assign({}, grid.data, {vb: gb, vt: gt, ab: gb.map((v) => v / gmax), at: gt.map((v) => v / gmax)});
let text = "<b>Tracing from</b> <span style='color:#e74c3c'><b>" + esc(labels[s]) + "</b> (#" + s + ")</span> " +
  "at layer " + b + " (clicked). The sidebar's settings still apply; click another node to move on.";
if (method === "maxflow") { text += " The sentence view shows the trace's scores for clicked tokens."; }
note.text = text;
"""


def standalone_html(layout: Any, title: str) -> str:
    """A self-contained HTML page of a layout (BokehJS inlined, so it opens offline and keeps the click)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    return file_html(layout, INLINE, title)
