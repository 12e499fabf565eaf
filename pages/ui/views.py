"""The Attention flow page's interactive view: its host (a full run sends the example's payload once) and, in a
fragment, its link (drawing settings to and from the browser, max-flow solutions) and the exports that follow it.

A drawing change never reruns the page: the browser redraws (``attnflow_core/plots/flow_view.js``), then reports the
settings (debounced); only the fragment reruns — it checks them into the session, mirrors them into the URL, solves
max-flow when that is the method, and rebinds the export buttons. A change the server makes (a link, a preset, a
units switch) goes the other way: the fragment's data asks the view to show it.
"""

from __future__ import annotations

import json
import logging

import pandas as pd
import streamlit as st

from attnflow_core.analysis import Analysis, drawn_graph
from attnflow_core.checkpoints import with_note
from attnflow_core.errors import SettingsError
from attnflow_core.graph import graph_records
from attnflow_core.pipeline import ExtractionKey, fitted_key
from attnflow_core.plots.flow_graph import standalone_html
from attnflow_core.plots.flow_payload import (
    drawing_settings,
    maxflow_solution,
    settings_from_report,
)
from attnflow_core.plots.flow_view import build_flow_view
from attnflow_core.report import edges_table, scores_table, to_dict
from attnflow_core.settings import FlowSettings
from pages.ui import state
from pages.ui.bokeh_host import reported, view_host, view_link
from pages.ui.controls import session_settings
from pages.ui.loaders import ViewPayload, get_analysis, get_flow_view, get_flows, get_measured, get_result
from pages.ui.sidebar import Selection

LOG = logging.getLogger("attnflow.app")
LINK_KEY = "flow_link"


def flow_view(selection: Selection, key: ExtractionKey) -> None:
    """The view (its host: on full runs only) and its fragment (link and exports)."""
    view = get_flow_view(key, selection.settings.example)
    view_host(view.data, key="flow_view")
    _flow_fragment(selection, key, view)


def _on_report(selection: Selection, view: ViewPayload) -> None:
    """Runs before the fragment reruns: the view's settings, checked, become the session's (a report about another
    view — an earlier example — or one that does not fit is ignored and logged)."""
    report = reported(LINK_KEY)
    if report is None or report.get("id") != view.id:
        return
    try:
        settings, per_head, differences = settings_from_report(
            report, selection.settings, view.num_layers, view.num_heads, view.n
        )
    except SettingsError:
        LOG.warning("ignored a flow view report that does not fit the example: %r", report, exc_info=True)
        return
    state.METHOD.set(str(settings.method))
    state.SRC.set(settings.source)
    state.SRC_UNIT.set(str(settings.unit))
    state.TAU.set(settings.threshold)
    state.ALPHA.set(settings.decay)
    state.LAYERS.set(settings.layers or (1, view.num_layers))
    state.HEADS.set(list(settings.heads or ()))
    state.PER_HEAD.set(per_head)
    state.DIFFERENCES.set(differences)
    state.VIEW_REPORT.set(drawing_settings(settings, view.num_layers, per_head, differences))


@st.fragment
def _flow_fragment(selection: Selection, key: ExtractionKey, view: ViewPayload) -> None:
    settings = session_settings(selection.settings)
    per_head, differences = bool(state.PER_HEAD.get()), bool(state.DIFFERENCES.get())
    shown = drawing_settings(settings, view.num_layers, per_head, differences)
    maxflow = None
    if settings.method.server_solved:
        measured = get_measured(key, settings.example)
        flow_key = fitted_key(settings.flow_key(measured.num_layers), measured)
        with st.spinner("Solving max-flow …"):
            maxflow = maxflow_solution(
                get_flows(key, settings.example, flow_key).graph, settings, view.num_layers
            )
    wanted = {"kind": "flow", "id": view.id, "settings": shown, "maxflow": maxflow,
              "fresh": shown != state.VIEW_REPORT.get()}  # fmt: skip
    view_link(LINK_KEY, wanted, lambda: _on_report(selection, view))
    state.sync_url(selection.url_defaults)
    _exports(selection, key, settings, per_head, differences, view.id)


def _exports(
    selection: Selection,
    key: ExtractionKey,
    settings: FlowSettings,
    per_head: bool,
    differences: bool,
    vid: str,
) -> None:
    """The export buttons of the view as it is now (each file made only when its button is clicked)."""
    st.subheader("Export")
    st.caption(f"As drawn now: {settings.method.phrase.lower()} from unit #{settings.source}.")

    def analysis() -> Analysis:
        return get_analysis(key, settings)

    def html() -> str:
        an = analysis()
        mf = (
            maxflow_solution(drawn_graph(an), settings, int(an.attn_base.shape[0]))
            if settings.method.server_solved
            else None
        )
        view = build_flow_view(an, vid, per_head=per_head, differences=differences, maxflow=mf)
        return standalone_html(view, with_note("Attention flow", an.tuned_checkpoint))

    row = st.container(horizontal=True)  # buttons as wide as their labels, wrapping within the main column
    row.download_button(
        "Interactive view (HTML)", html, file_name="attention-flow.html", mime="text/html",
        help="A standalone page with the same view and its controls: trace and rollout redraw offline in any "
        "browser (max-flow keeps the solution of these settings).",
    )  # fmt: skip
    row.download_button("Flow scores (CSV)", lambda: scores_table(analysis()).to_csv(index=False),
                       file_name="flow-scores.csv", mime="text/csv")  # fmt: skip
    row.download_button("Traced edges (CSV)", lambda: edges_table(analysis()).to_csv(index=False),
                       file_name="flow-edges.csv", mime="text/csv")  # fmt: skip
    row.download_button(
        "Drawn graph (CSV)",
        lambda: pd.DataFrame(graph_records(drawn_graph(analysis()), analysis().labels)).to_csv(index=False),
        file_name="flow-graph.csv", mime="text/csv",
        help="The edges the flow graph draws (the method's own, heads merged, within the edge budget) with the "
        "share of the source's flow each carries in each model.",
    )  # fmt: skip
    row.download_button(
        "Everything (JSON)", lambda: json.dumps(to_dict(get_result(key), analysis()), indent=1),
        file_name="attention-flow.json", mime="application/json",
    )  # fmt: skip
