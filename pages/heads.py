"""Head differences: which heads changed most between the models, and one head's attention in both (chosen in the
browser: a tap or the view's selector), then "does the change matter?" (a fragment: zero or patch heads)."""

from __future__ import annotations

import streamlit as st

from attnflow_core.report import heads_table
from pages.ui.bokeh_host import view_host
from pages.ui.boundary import friendly
from pages.ui.controls import session_settings
from pages.ui.loaders import (
    extraction_key,
    get_analysis,
    get_head_stats,
    get_heads_view,
    get_measured,
    get_result,
)
from pages.ui.page import example_header, page_setup
from pages.ui.panels import intervention_panel
from pages.ui.sidebar import Selection

selection = page_setup()
st.title("Head differences")
if selection is None:
    st.stop()
chosen: Selection = selection
key = extraction_key(chosen.pair, chosen.text, chosen.text_pair)
example = chosen.settings.example
with st.spinner("Comparing the heads …"):
    found = friendly(lambda: (get_result(key), get_measured(key, example), get_head_stats(key, example)))
if found is None:
    st.stop()
result, measured, diff = found
example_header(selection, result, measured.note)
if not measured.settings.measure.per_head:
    st.info(
        f"The {measured.settings.measure.phrase} have no per-head part: each layer shows as one head here.",
        icon=":material/info:",
    )
view = friendly(lambda: get_heads_view(key, example))
if view is None:
    st.stop()
view_host(view.data, key="heads_view")
st.caption(diff.layer_sentence())
with st.expander("How to read this view"):
    st.markdown(
        """
- **Jensen–Shannon divergence** compares, for each query token, the two models' attention distributions (in bits:
  0 = identical, 1 = no overlap), averaged over the tokens. **Mean |Δ|** averages the absolute difference of all
  weights. Both use the sidebar's special-token setting: hiding `[CLS]`/`[SEP]` removes their (often dominant)
  sink attention before comparing. (For JS divergence, "hide" and "hide and renormalise" give the same values:
  JS compares the rows as distributions, which renormalises them anyway; mean |Δ| differs.)
- **Tap a cell** (or use *Head to show*) to see that head: first the difference, fine-tuned minus pre-trained (red =
  more attention after fine-tuning, blue = less), then the two models' matrices; rows are query tokens, columns the
  tokens they attend to. The tap also adds the head to the heads to zero or patch below (tap again to remove it).
"""
    )
intervention_panel(selection, result, lambda: get_analysis(key, session_settings(chosen.settings)))
st.download_button(
    "Head differences (CSV)",
    lambda: heads_table(get_analysis(key, session_settings(chosen.settings))).to_csv(index=False),
    file_name="head-differences.csv",
    mime="text/csv",
)
