"""Attention flow: the paper's main view — flow graph, sentence view and head grid, linked in one Bokeh layout."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from attnflow_core.graph import graph_records
from attnflow_core.plots.flow_graph import build_flow_layout, flow_graph_of, standalone_html
from attnflow_core.report import edges_table, scores_table, to_dict
from attnflow_core.settings import parse_flag
from pages.ui import state
from pages.ui.bokeh_host import render_bokeh, source_bridge
from pages.ui.boundary import friendly
from pages.ui.loaders import extraction_key, get_analysis, get_result
from pages.ui.page import example_header, page_setup
from pages.ui.panels import faithfulness_panel, saliency_panel
from pages.ui.sidebar import Selection

selection = page_setup()
st.title("Attention flow")
if selection is None:
    st.stop()
chosen: Selection = selection
key = extraction_key(chosen.pair, chosen.text, chosen.text_pair)
with st.spinner("Computing the flows …"):
    found = friendly(lambda: (get_result(key), get_analysis(key, chosen.settings)))
if found is None:
    st.stop()
result, analysis = found
example_header(selection, result, analysis.note)

state.PER_HEAD.set(parse_flag(state.PER_HEAD.raw(), False))
state.DIFFERENCES.set(parse_flag(state.DIFFERENCES.raw(), True))
t1, t2 = st.columns(2)
t1.toggle(
    "Emphasise differences",
    **state.bind(state.DIFFERENCES),
    help="Fade the edges both models draw, so the edges only one model draws stand out.",
)
t2.toggle(
    "Per-head edges",
    **state.bind(state.PER_HEAD),
    help="Split each drawn edge into the heads that carry it (attention ≥ τ for the trace; above the heads' mean "
    "for rollout and max-flow).",
    disabled=not analysis.settings.measure.per_head,
)
per_head = bool(state.PER_HEAD.get()) and analysis.settings.measure.per_head
differences = bool(state.DIFFERENCES.get())
layout = friendly(lambda: build_flow_layout(analysis, per_head=per_head, differences=differences))
if layout is None:
    st.stop()
source_bridge()
render_bokeh(layout, key="flow_layout")
with st.expander("Token saliency and agreement (computed on demand)"):
    saliency_panel(selection, result, analysis)
faithfulness_panel(selection, result, analysis)

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
        build_flow_layout(analysis, per_head=per_head, differences=differences), "Attention flow"
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
