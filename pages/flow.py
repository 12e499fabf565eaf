"""Attention flow: the paper's main view — flow graph, sentence view and head grid, linked in one Bokeh layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import attnflow_core.plots
from attnflow_core.graph import graph_records
from attnflow_core.plots.flow_graph import build_flow_layout, flow_graph_of, standalone_html
from attnflow_core.report import edges_table, scores_table, to_dict
from attnflow_core.settings import parse_flag
from pages import common, impact

#: The bridge that turns a node click into the sidebar's "trace from" (its JS: attnflow_core/plots/source_bridge.js).
_bridge = st.components.v2.component(
    "attnflow.source_bridge",
    js=(Path(attnflow_core.plots.__file__).parent / "source_bridge.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)


def _on_node_click() -> None:
    """Runs before the rerun: the clicked token becomes the sidebar's source (the URL and exports follow)."""
    value: Any = st.session_state.get("flow_click")
    source = value.get("source") if hasattr(value, "get") else getattr(value, "source", None)
    if source is not None:
        st.session_state["src"] = int(source)


selection = common.page_setup()
st.title("Attention flow")
if selection is None:
    st.stop()
found = common.current_analysis(selection)
if found is None:
    st.stop()
result, analysis = found
common.example_header(selection, result)

ss = st.session_state
ss["per_head"] = parse_flag(ss.get("per_head"), False)
ss["differences"] = parse_flag(ss.get("differences"), True)
t1, t2 = st.columns(2)
t1.toggle(
    "Emphasise differences",
    **common.bind("differences"),
    help="Fade the edges both models draw, so the edges only one model draws stand out.",
)
t2.toggle(
    "Per-head edges",
    **common.bind("per_head"),
    help="Split each drawn edge into the heads that carry it (attention ≥ τ for the trace; above the heads' mean "
    "for rollout and max-flow).",
)
per_head, differences = bool(ss["per_head"]), bool(ss["differences"])
layout = common.friendly(
    lambda: build_flow_layout(analysis, result, per_head=per_head, differences=differences)
)
if layout is None:
    st.stop()
_bridge(key="flow_click", on_source_change=_on_node_click, height=0)
common.render_bokeh(layout, key="flow_layout")
with st.expander("Token saliency and agreement (computed on demand)"):
    impact.saliency_panel(selection, result, analysis)

with st.expander("How to read this view"):
    st.markdown(
        """
- **Columns are layers**: the input tokens at the left, the deepest layer of the chosen range at the right. Each
  row is one token (or word).
- **Edges** are the paths of the sidebar's method from the source token (red ring), heads merged: the *trace* keeps
  every head's edge with attention ≥ τ from a token it has reached; *rollout* draws the edges that carry most of the
  source's rollout (the residual connection included, so many edges run straight across); *max-flow* draws the flow
  on each edge of the maximum-flow solution. To stay readable, each reached token keeps only its strongest incoming
  edges (about 70 per model at most). Turquoise = only the pre-trained model draws the edge, purple = only the
  fine-tuned model, orange (grey with *Emphasise differences*) = both. Width = the share of the source's flow the
  edge carries. Hover the middle of an edge for both models' flow, mean attention and top heads; *Per-head edges*
  splits each edge into its heads.
- **Node markers** (turquoise left, purple right) grow with the flow that reaches a token in each model.
- **Click any token node** to trace from that token: it becomes the sidebar's *Trace from*, the URL and the exports
  follow, so a reload or a shared link shows the same view. The paper's teaser: on a QA pair, click the question
  word *what* in the deepest layer and compare which answer words each model reaches.
- **Sentence view**: each unit's upper half is shaded by its flow score in the pre-trained model, the lower half in
  the fine-tuned model, on one scale (colour bars at the right).
- **Head grids**: each head's share of the drawn flow; fine-tuning often moves the flow to a few heads in the last
  layers.
"""
    )

st.subheader("Export")
# Callables: each file is made only when its button is clicked, so a settings change does not pay for exports.
c1, c2, c3, c4, c5 = st.columns(5)
c1.download_button(
    "Linked view (HTML)",
    lambda: standalone_html(
        build_flow_layout(analysis, result, per_head=per_head, differences=differences), "Attention flow"
    ),
    file_name="attention-flow.html",
    mime="text/html",
    help="A standalone page with the same linked figures (works offline). PNG: use the save tool.",
)
c2.download_button(
    "Flow scores (CSV)",
    lambda: scores_table(analysis).to_csv(index=False),
    file_name="flow-scores.csv",
    mime="text/csv",
)
c3.download_button(
    "Traced edges (CSV)",
    lambda: edges_table(analysis).to_csv(index=False),
    file_name="flow-edges.csv",
    mime="text/csv",
)
c5.download_button(
    "Drawn graph (CSV)",
    lambda: pd.DataFrame(graph_records(flow_graph_of(analysis), analysis.labels)).to_csv(index=False),
    file_name="flow-graph.csv",
    mime="text/csv",
    help="The edges the flow graph draws (the method's own, heads merged, within the edge budget) with the share "
    "of the source's flow each carries in each model.",
)
c4.download_button(
    "Everything (JSON)",
    lambda: json.dumps(to_dict(result, analysis), indent=1),
    file_name="attention-flow.json",
    mime="application/json",
)
