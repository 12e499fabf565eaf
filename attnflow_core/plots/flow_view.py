"""The interactive Attention flow view: the flow layout (``flow_graph``) under its own controls, redrawn in the browser.

Every drawing setting (method, the token to trace from, τ, α, the layer range, the heads, per-head edges, emphasise
differences) is a Bokeh widget of this one document. A change runs ``flow_view.js`` (after ``flow_engine.js``) in the
browser, which recomputes the figure data from the example's measured attention and patches the sources in place:
no server round trip, no new document. The attention arrives either inside the document (``with_arrays``: the
standalone HTML export, which stays interactive offline) or, in the app, as the page's binary payload
(``pages/ui/bokeh_host.py`` injects it into the ``payload`` source). Max-flow is solved on the server: the page sends
each solution into the ``maxflow`` source; an export holds the solution of its own settings. The server's wishes
(a link's settings, a preset) arrive through the ``desired`` source.

``flow_engine.js`` is tested against the Python builders in Node (``tests/plots/test_flow_engine.py``), so the
first drawing (Python's) and every redraw (the engine's) are one definition in behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bokeh.layouts import column, row
from bokeh.models import (
    CheckboxGroup,
    ColumnDataSource,
    CustomJS,
    Div,
    MultiChoice,
    RadioButtonGroup,
    RangeSlider,
    Select,
    Slider,
)

from attnflow_core.analysis import Analysis
from attnflow_core.methods import METHODS
from attnflow_core.plots.flow_graph import build_flow_layout
from attnflow_core.plots.flow_payload import attention_source, engine_js, engine_vocab
from attnflow_core.plots.theme import NEUTRAL, WIDTH, fit
from attnflow_core.settings import DECAY_SLIDER, THRESHOLD_SLIDER

VIEW_JS_PATH = Path(__file__).with_name("flow_view.js")
#: The labels of the two view toggles, in the order of ``CheckboxGroup.active`` (flow_view.js reads 0 and 1; under a
#: measure without a per-head part the view has the first only).
TOGGLES = ("Emphasise differences", "Per-head edges")
CONTROL_HEIGHT = 56


def view_js() -> str:
    """The view's CustomJS code: the engine, then the redraw."""
    return engine_js() + "\n" + VIEW_JS_PATH.read_text(encoding="utf-8")


def view_meta(analysis: Analysis, view_id: str, kind: str = "flow") -> dict[str, Any]:
    """What the redraw needs besides the arrays: sizes, units, the measure and the methods' vocabulary."""
    measure = analysis.settings.measure
    n_layers, n_heads = int(analysis.attn_base.shape[0]), int(analysis.attn_base.shape[1])
    return {
        "kind": kind,
        "id": view_id,
        "n": analysis.n,
        "L": n_layers,
        "H": n_heads,
        "labels": list(analysis.labels),
        "segments": [int(x) for x in analysis.segments],
        "specialPositions": [int(x) for x in analysis.special_positions],
        "measure": str(measure),
        "measureIncludesResidual": bool(measure.includes_residual),
        "perHead": bool(measure.per_head),
        "headsReason": ""
        if measure.per_head
        else f"The {measure.phrase} have no per-head part (the residual is not a head): each layer is drawn whole.",
        "unit": str(analysis.settings.unit),
        "methods": [str(m) for m in METHODS],
        "serverSolved": [str(m) for m in METHODS if m.server_solved],
        "unused": {str(m): {"threshold": m.unused("threshold"), "decay": m.unused("decay")} for m in METHODS},
    }


def _controls(analysis: Analysis, per_head: bool, differences: bool) -> dict[str, Any]:
    """The view's widgets, set to the analysis's settings."""
    s = analysis.settings
    n_layers, n_heads = int(analysis.attn_base.shape[0]), int(analysis.attn_base.shape[1])
    a, b = analysis.layer_range
    method = s.method
    return {
        "w_method": RadioButtonGroup(
            labels=[m.phrase for m in METHODS],
            active=list(METHODS).index(method),
            name="w_method",
            width=360,  # "Attention max-flow" needs a third of it
            height=CONTROL_HEIGHT - 24,
        ),
        "w_source": Select(
            title="Trace from",
            options=[(str(i), f"{lab}  (#{i})") for i, lab in enumerate(analysis.labels)],
            value=str(s.source),
            name="w_source",
            width=180,
            height=CONTROL_HEIGHT,
        ),
        "w_layers": RangeSlider(
            title="Layers",
            start=1,
            end=max(n_layers, 2),
            step=1,
            value=(a, b),
            name="w_layers",
            width=220,
            height=CONTROL_HEIGHT,
            disabled=n_layers < 2,
        ),
        "w_tau": Slider(
            title="Threshold τ",
            start=THRESHOLD_SLIDER[0],
            end=THRESHOLD_SLIDER[1],
            step=THRESHOLD_SLIDER[2],
            value=s.threshold,
            name="w_tau",
            width=180,
            height=CONTROL_HEIGHT,
            disabled=not method.uses_threshold,
        ),
        "w_alpha": Slider(
            title="Decay α per layer",
            start=DECAY_SLIDER[0],
            end=DECAY_SLIDER[1],
            step=DECAY_SLIDER[2],
            value=s.decay,
            name="w_alpha",
            width=180,
            height=CONTROL_HEIGHT,
            disabled=not method.uses_decay,
        ),
        "w_heads": MultiChoice(
            title="Heads (none = all)" if s.measure.per_head else "Heads (no per-head part)",
            options=[str(h) for h in range(n_heads)],
            value=[str(h) for h in (s.heads or ())],
            name="w_heads",
            width=250,
            height=CONTROL_HEIGHT,
            disabled=not s.measure.per_head,
        ),
        "w_toggles": CheckboxGroup(
            labels=list(TOGGLES if s.measure.per_head else TOGGLES[:1]),  # no per-head edges without heads
            active=[k for k, on in enumerate((differences, per_head)) if on],
            name="w_toggles",
            width=170,
            height=CONTROL_HEIGHT - 8,
            inline=False,
        ),
        "w_note": Div(  # two lines under a measure without heads: its reason beside τ's and α's
            text="",
            name="w_note",
            width=WIDTH,
            height=20 if s.measure.per_head else 36,
            styles={"color": NEUTRAL, "font-size": "12px"},
        ),
    }


def build_flow_view(
    analysis: Analysis,
    view_id: str,
    *,
    per_head: bool = False,
    differences: bool = True,
    maxflow: dict[str, Any] | None = None,
    with_arrays: bool = True,
) -> Any:
    """The interactive view of one analysed example: controls above the flow layout, one document.

    ``view_id`` names the example's payload (the page's link reports settings under it); ``maxflow``: a max-flow
    solution ({settings, base, tuned}, ``flow_payload.maxflow_solution``) to draw or keep; ``with_arrays``: put the
    measured attention into the document (a standalone file) — the app sends it beside the document instead."""
    per_head = per_head and analysis.settings.measure.per_head
    layout = build_flow_layout(analysis, per_head=per_head, differences=differences)
    named = {m.name: m for m in layout.references() if getattr(m, "name", None)}
    fig, sentence_fig = named["flow_graph"], named["sentence_view"]
    widgets = _controls(analysis, per_head, differences)
    payload = attention_source(analysis, with_arrays)
    mf = ColumnDataSource({"json": [json.dumps(maxflow)] if maxflow is not None else []}, name="maxflow")
    desired = ColumnDataSource({"json": []}, name="desired")
    grids = {key: named[f"head_grid_{key}"] for key in ("base", "tuned")}
    args: dict[str, Any] = {
        "payload": payload, "meta": view_meta(analysis, view_id), "vocab": engine_vocab(analysis.model_labels), "maxflow": mf,
        "desired": desired, **widgets,
        "fig": fig, "x_axis": fig.xaxis[0], "stop_title": named["trace_stopped"], "hover": named["edge_hover"],
        "legend": named["legend"], "token_labels": named["token_labels"], "ring": named["source_ring"],
        "edges": named["edges"], "head_edges": named["head_edges"], "edge_lines": named["edge_lines"],
        "head_edge_lines": named["head_edge_lines"], "nodes": named["nodes"], "caption": named["flow_caption"],
        "sentence": named["sentence"], "sentence_fig": sentence_fig, "sentence_map_sb": named["sentence_map_sb"],
        "sentence_map_st": named["sentence_map_st"], "sentence_mark": named["sentence_mark"],
    }  # fmt: skip
    for key, grid in grids.items():
        cells = named[f"head_grid_{key}_cells"]
        renderer = next(r for r in grid.renderers if r.data_source is cells)
        args |= {f"grid_{key}": grid, f"grid_{key}_cells": cells, f"grid_{key}_axis": grid.yaxis[0],
                 f"grid_{key}_map": renderer.glyph.fill_color.transform}  # fmt: skip
    redraw = CustomJS(args=args, code=view_js())
    for name, prop in (("w_method", "active"), ("w_source", "value"), ("w_layers", "value"), ("w_tau", "value"),
                       ("w_alpha", "value"), ("w_heads", "value"), ("w_toggles", "active")):  # fmt: skip
        widgets[name].js_on_change(prop, redraw)
    named["nodes"].selected.js_on_change("indices", redraw)
    mf.js_on_change("data", redraw)
    desired.js_on_change("data", redraw)
    w = widgets
    controls = column(
        row(w["w_method"], w["w_source"], w["w_layers"]),
        row(w["w_tau"], w["w_alpha"], w["w_heads"], w["w_toggles"]),
        w["w_note"],
        name="flow_controls",
    )
    return fit(column(controls, layout, name="flow_view"))
