"""Head differences: which heads changed most between the models, and one head's attention in both."""

from __future__ import annotations

import numpy as np
import streamlit as st

from attnflow_core.plots.heads import build_head_diff_layout
from attnflow_core.report import heads_table
from pages import common, impact

selection = common.page_setup()
st.title("Head differences")
if selection is None:
    st.stop()
found = common.current_analysis(selection)
if found is None:
    st.stop()
result, analysis = found
common.example_header(selection, result)

js = analysis.head_diff.js
n_layers, n_heads = js.shape
options = [(layer, head) for layer in range(1, n_layers + 1) for head in range(n_heads)]
most = np.unravel_index(int(np.argmax(js)), js.shape)
default = (int(most[0]) + 1, int(most[1]))
if st.session_state.get("head_pick") not in options:
    st.session_state["head_pick"] = default
st.selectbox(
    "Head to show (the most changed head is preselected)",
    options,
    key="head_pick",
    format_func=lambda lh: f"layer {lh[0]}, head {lh[1]} — JS {js[lh[0] - 1, lh[1]]:.3f}",
)
layout = common.friendly(lambda: build_head_diff_layout(analysis, st.session_state["head_pick"]))
if layout is None:
    st.stop()
impact.head_click_bridge(n_heads)  # a tap on a heatmap cell also selects that head for zeroing/patching
common.render_bokeh(layout, key="head_layout")
by_layer = js.mean(axis=1)
st.caption(
    "Mean JS divergence per layer: "
    + ", ".join(f"L{i + 1} {v:.3f}" for i, v in enumerate(by_layer))
    + f". The most changed layer here is layer {int(np.argmax(by_layer)) + 1}."
)
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
impact.intervention_panel(selection, result, analysis)
st.download_button(
    "Head differences (CSV)", lambda: heads_table(analysis).to_csv(index=False), file_name="head-differences.csv",
    mime="text/csv",
)  # fmt: skip
