"""Head differences: which heads changed most between the models, and one head's attention in both."""

from __future__ import annotations

import streamlit as st

from attnflow_core.plots.heads import build_head_diff_layout
from attnflow_core.report import heads_table
from pages.ui import state
from pages.ui.bokeh_host import head_bridge, render_bokeh
from pages.ui.boundary import friendly
from pages.ui.loaders import extraction_key, get_analysis, get_result
from pages.ui.page import example_header, page_setup
from pages.ui.panels import intervention_panel
from pages.ui.sidebar import Selection

selection = page_setup()
st.title("Head differences")
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

diff = analysis.head_diff
n_layers, n_heads = diff.js.shape
if not analysis.settings.measure.per_head:
    st.info(
        f"The {analysis.settings.measure.phrase} have no per-head part: each layer shows as one head here.",
        icon=":material/info:",
    )
options = [(layer, head) for layer in range(1, n_layers + 1) for head in range(n_heads)]
if state.HEAD_PICK.get() not in options:
    state.HEAD_PICK.set(diff.most_changed())
st.selectbox(
    "Head to show (the most changed head is preselected)",
    options,
    key=state.HEAD_PICK.key,
    format_func=lambda lh: f"layer {lh[0]}, head {lh[1]} — JS {diff.js[lh[0] - 1, lh[1]]:.3f}",
)
layout = friendly(lambda: build_head_diff_layout(analysis, state.HEAD_PICK.get() or diff.most_changed()))
if layout is None:
    st.stop()
head_bridge(n_heads)  # a tap on a heatmap cell also selects that head for zeroing/patching
render_bokeh(layout, key="head_layout")
st.caption(diff.layer_sentence())
with st.expander("How to read this view"):
    st.markdown(
        """
- **Jensen–Shannon divergence** compares, for each query token, the two models' attention distributions (in bits:
  0 = identical, 1 = no overlap), averaged over the tokens. **Mean |Δ|** averages the absolute difference of all
  weights. Both use the sidebar's special-token setting: hiding `[CLS]`/`[SEP]` removes their (often dominant)
  sink attention before comparing. (For JS divergence, "hide" and "hide and renormalise" give the same values:
  JS compares the rows as distributions, which renormalises them anyway; mean |Δ| differs.)
- The three matrices show the chosen head: rows are query tokens, columns the tokens they attend to; the difference
  is fine-tuned minus pre-trained (red = more attention after fine-tuning).
"""
    )
intervention_panel(selection, result, analysis)
st.download_button(
    "Head differences (CSV)", lambda: heads_table(analysis).to_csv(index=False), file_name="head-differences.csv",
    mime="text/csv",
)  # fmt: skip
