"""Attention flow: the paper's main view — flow graph, sentence view and head grids, linked in one Bokeh document
with its own controls, redrawn in the browser (``pages/ui/views.py``)."""

from __future__ import annotations

import streamlit as st

from pages.ui.boundary import friendly
from pages.ui.controls import session_settings
from pages.ui.faithfulness import faithfulness_panel
from pages.ui.loaders import extraction_key, get_analysis, get_measured, get_result
from pages.ui.page import example_header, page_setup
from pages.ui.panels import saliency_panel
from pages.ui.sidebar import Selection
from pages.ui.views import flow_view

selection = page_setup()
st.title("Attention flow")
if selection is None:
    st.stop()
chosen: Selection = selection
key = extraction_key(chosen.pair, chosen.text, chosen.text_pair)
with st.spinner("Computing the flows …"):
    found = friendly(lambda: (get_result(key), get_measured(key, chosen.settings.example)))
if found is None:
    st.stop()
result, measured = found
example_header(selection, result, measured.note)
friendly(lambda: flow_view(chosen, key))
with st.expander("Token saliency and agreement (computed on demand)"):
    saliency_panel(selection, result, lambda: get_analysis(key, session_settings(chosen.settings)))
faithfulness_panel(selection, result)

with st.expander("How to read this view"):
    st.markdown(
        """
- **The controls above the graph** change the drawing at once, in your browser: the method (the paper's
  thresholded *trace*, attention *rollout*, or *max-flow*, which the server solves), the token to trace from, τ and α
  (the trace only; greyed out otherwise), the layer range, the heads, per-head edges and *emphasise differences*.
  The URL and the exports below follow; a reload or a shared link shows the same view.
- **Columns are layers**: the input tokens at the left, the deepest layer of the chosen range at the right. Each
  row is one token (or word).
- **Edges** are the paths of the method from the source token (red ring), heads merged: the *trace* keeps every
  head's edge with attention ≥ τ from a token it has reached; *rollout* draws the edges that carry most of the
  source's rollout (the residual connection included, so many edges run straight across); *max-flow* draws the flow
  on each edge of the maximum-flow solution. To stay readable, each reached token keeps only its strongest incoming
  edges (about 70 per model at most). Turquoise = only the pre-trained model draws the edge, purple = only the
  fine-tuned model, orange (grey with *Emphasise differences*) = both. Width = the share of the source's flow the
  edge carries. Hover the middle of an edge for both models' flow, mean attention and top heads; *Per-head edges*
  splits each edge into its heads.
- **Node markers** (turquoise left, purple right) grow with the flow that reaches a token in each model.
- **Click any token node** to trace from that token. The paper's teaser: on a QA pair, click the question word
  *what* in the deepest layer and compare which answer words each model reaches.
- **Sentence view**: each unit's upper half is shaded by its flow score in the pre-trained model, the lower half in
  the fine-tuned model, on one scale (colour bars at the right); when the flow is spread almost evenly the title says
  so (max/min), so that even shading is not read as importance.
- **Head grids**: each head's share of the drawn flow, for the layers of the range; fine-tuning often moves the flow
  to a few heads in the last layers.
"""
    )
