"""Attention flow: the paper's main view — flow graph, sentence view and head grid, linked in one Bokeh layout."""

from __future__ import annotations

import json

import streamlit as st

from attnflow_core.plots.flow_graph import build_flow_layout, standalone_html
from attnflow_core.report import edges_table, scores_table, to_dict
from pages import common, impact

selection = common.page_setup()
st.title("Attention flow")
if selection is None:
    st.stop()
found = common.current_analysis(selection)
if found is None:
    st.stop()
result, analysis = found
common.example_header(selection, result)

layout = common.friendly(lambda: build_flow_layout(analysis, result))
if layout is None:
    st.stop()
common.render_bokeh(layout, key="flow_layout")
with st.expander("Token saliency and agreement (computed on demand)"):
    impact.saliency_panel(selection, result, analysis)

with st.expander("How to read this view"):
    st.markdown(
        """
- **Columns are layers**: the input tokens at the left, the deepest layer of the chosen range at the right. Each
  row is one token (or word).
- **Edges** are traced back from the source token (red ring): in each layer, every head's attention edge with weight
  ≥ τ from a token the trace has reached is kept. Turquoise = only the pre-trained model keeps it, purple = only the
  fine-tuned model, orange = both. Width = the edge's weight (summed over the heads that keep it, divided by the
  number of heads). Hover the middle of an edge (it lights up) for its heads and weights; hover a node for its
  influence in each model.
- **Node markers** (turquoise left, purple right) grow with a token's influence in each model: the attention mass
  from the source that reaches it along kept edges, × α per layer travelled, relative to the source's own (so the
  markers shrink as the trace spreads, and faster with a smaller α).
- **Click any token node** to trace from that token instead; it updates all three views in your browser. The
  paper's teaser: on a QA pair, click the question word *what* in the deepest layer and compare which answer words
  each model reaches.
- **Sentence view**: each unit's upper half is shaded by its flow score in the pre-trained model, the lower half in
  the fine-tuned model (method from the sidebar: trace, rollout or max-flow).
- **Head grid**: each head's share of the traced flow; fine-tuning often moves the trace to a few heads in the last
  layers.
"""
    )

st.subheader("Export")
# Callables: each file is made only when its button is clicked, so a settings change does not pay for exports.
c1, c2, c3, c4 = st.columns(4)
c1.download_button(
    "Linked view (HTML)",
    lambda: standalone_html(build_flow_layout(analysis, result), "Attention flow"),
    file_name="attention-flow.html",
    mime="text/html",
    help="A standalone page with the same linked, clickable figures (works offline). PNG: use the save tool.",
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
c4.download_button(
    "Everything (JSON)",
    lambda: json.dumps(to_dict(result, analysis), indent=1),
    file_name="attention-flow.json",
    mime="application/json",
)
