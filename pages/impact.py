"""Page parts for "does the change matter?": head zeroing/patching (Head differences page) and the lazy saliency
row with the agreement table (Attention flow page). Cached per example at this page boundary, bounded."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from attnflow_core.agreement import agreement, agreement_sentence, settings_flows
from attnflow_core.analysis import Analysis, analyse
from attnflow_core.extract import ExampleResult
from attnflow_core.interventions import Reprediction, intervene
from attnflow_core.overview import Overview
from attnflow_core.saliency import SALIENCY_METHODS, SALIENCY_TITLES, Saliency, result_saliency
from pages import common

MODES = {"zero": "Zero in the fine-tuned model", "patch": "Patch with pre-trained pattern"}


@st.cache_data(show_spinner="Re-predicting…", max_entries=16)
def get_intervention(
    base_ref: str,
    tuned_ref: str,
    tuned_labels: tuple[str, ...] | None,
    text: str,
    text_pair: str | None,
    mode: str,
    heads: tuple[tuple[int, int], ...],
) -> Reprediction:
    pair = common.get_pair(base_ref, tuned_ref, tuned_labels)
    result = common.get_result(base_ref, tuned_ref, tuned_labels, text, text_pair)
    enc = result.encoding
    return intervene(
        pair.tuned.model,
        enc.input_ids,
        enc.segment_ids,
        pair.tuned.label_names or (),
        mode,
        heads,
        result.attn_base,
    )


@st.cache_data(show_spinner="Computing saliency…", max_entries=16)
def get_saliency(
    base_ref: str,
    tuned_ref: str,
    tuned_labels: tuple[str, ...] | None,
    text: str,
    text_pair: str | None,
    unit: str,
) -> dict[str, Saliency]:
    pair = common.get_pair(base_ref, tuned_ref, tuned_labels)
    result = common.get_result(base_ref, tuned_ref, tuned_labels, text, text_pair)
    return result_saliency(pair.tuned, result, SALIENCY_METHODS, unit)


def intervention_panel(selection: common.Selection, result: ExampleResult, analysis: Analysis) -> None:
    """Pick heads, zero or patch them in the fine-tuned model, show the prediction and flow scores before/after."""
    st.subheader("Does this change matter? Zero or patch heads")
    if result.prediction_tuned is None:
        st.info("The fine-tuned model has no classification head, so there is no prediction to change.")
        return
    n_layers, n_heads = result.num_layers, result.num_heads
    names = [f"L{layer} H{h}" for layer in range(1, n_layers + 1) for h in range(n_heads)]
    picked = st.multiselect(
        "Heads (layer 1-based, head 0-based; the most changed head is a good start)",
        names,
        key="impact_heads",
    )
    c1, c2 = st.columns(2)
    # A result shows on the run its button started (st.session_state holds widget values only); it is cached, so
    # pressing again after another change is instant.
    pressed = [
        mode
        for mode, col in zip(MODES, (c1, c2), strict=True)
        if col.button(MODES[mode], key=f"impact_{mode}", disabled=not picked)
    ]
    if not pressed or not picked:
        st.caption(
            "Zero removes the heads' outputs; patch gives the fine-tuned model the pre-trained model's attention "
            "pattern for those heads on this input (its own values). Then the model predicts again."
        )
        return
    mode, chosen = pressed[0], tuple(picked)
    heads = tuple((int(n.split()[0][1:]) - 1, int(n.split()[1][1:])) for n in chosen)
    spec = selection.pair
    rep = common.friendly(
        lambda: get_intervention(
            spec.base, spec.tuned, spec.label_names, selection.text, selection.text_pair, mode, heads
        )
    )
    if rep is None:
        return
    before, after = rep.confidence("before"), rep.confidence("after")
    m1, m2, m3 = st.columns(3)
    m1.metric("Before", rep.label_before, f"confidence {before:.1%}", delta_color="off")
    m2.metric(
        f"After ({'zeroed' if mode == 'zero' else 'patched'})",
        rep.label_after,
        f"{(after - before) * 100:+.1f} points on {rep.label_before}",
    )
    m3.metric(f"P({rep.label_before}) after", f"{after:.1%}")
    changed = replace(result, attn_tuned=rep.attn_after)
    after_analysis = analyse(changed, analysis.settings)
    table = pd.DataFrame(
        {
            "unit": analysis.labels,
            "flow before": np.round(analysis.scores_tuned, 4),
            "flow after": np.round(after_analysis.scores_tuned, 4),
        }
    )
    table["change"] = (table["flow after"] - table["flow before"]).round(4)
    st.caption(
        f"Fine-tuned flow scores ({analysis.settings.method}) before and after; the {analysis.trace.n_edges} traced "
        f"edges become {after_analysis.trace.n_edges}."
    )
    st.dataframe(table, hide_index=True, height=min(35 * (len(table) + 1), 300))


def saliency_panel(selection: common.Selection, result: ExampleResult, analysis: Analysis) -> None:
    """The lazy saliency row and the agreement table (computed only after the button is pressed)."""
    from attnflow_core.plots.importance import build_saliency_row

    st.subheader("Token saliency and agreement")
    if result.prediction_tuned is None:
        st.info("The fine-tuned model has no classification head, so there is no prediction to attribute.")
        return
    spec = selection.pair
    # Computed on the run the button started only (cached per example), so settings changes stay fast.
    if not st.button("Compute saliency (IG, gradient × input, occlusion)", key="saliency_go"):
        st.caption("Computed on demand (a few seconds), so that changing the settings stays fast.")
        return
    sal = common.friendly(
        lambda: get_saliency(
            spec.base,
            spec.tuned,
            spec.label_names,
            selection.text,
            selection.text_pair,
            analysis.settings.unit,
        )
    )
    if sal is None:
        return
    common.render_bokeh(
        build_saliency_row(analysis.labels, {k: v.scores for k, v in sal.items()}), "saliency_row"
    )
    # every flow method under both measures (the sidebar's measure is one of them), with the page's other settings
    flows = settings_flows(result, analysis.settings)
    rows = agreement(flows, {k: v.scores for k, v in sal.items()}, analysis.special_positions)
    table = pd.DataFrame(
        [
            {
                "flow method": r.method,
                "measure": r.measure,
                "saliency": SALIENCY_TITLES[r.saliency],
                "ρ": r.rho,
            }
            for r in rows
        ]
    )
    wide = table.pivot(index=["flow method", "measure"], columns="saliency", values="ρ").round(2)
    st.dataframe(wide)
    st.markdown(agreement_sentence(rows))
    st.caption(
        "Spearman ρ between the fine-tuned model's flow scores from the source token and the magnitude of each "
        "saliency, over the non-special tokens (Abnar & Zuidema 2020). Each flow method runs under both measures "
        "(attention: the raw weights; norm: the norm-weighted ‖α·f(x)‖) with the sidebar's other settings."
    )


def overview_reading(ov: Overview) -> str:
    """The sentence the overview's Reading adds when the file has an importance map ("" otherwise)."""
    from attnflow_core.importance import importance_reading

    return "" if ov.importance is None else " " + importance_reading(ov.js_mean, ov.importance)


def overview_section(ov: Overview) -> None:
    """Importance map beside the change map, their scatter with ρ, and the mean agreement table when present."""
    from attnflow_core.plots.importance import build_importance_layout

    imp = ov.importance
    if imp is not None:
        st.subheader("Does the change matter? Head change vs head importance")
        common.render_bokeh(build_importance_layout(ov.js_mean, imp), key="importance_layout")
        st.caption(
            "Importance (Michel et al. 2019): |∂L/∂ξ| for a gate ξ = 1 on each head's output of the fine-tuned "
            "model, loss on the gold label (the prediction where there is none), averaged over the examples — the "
            "first-order estimate of how much removing the head would change the loss."
        )
    rows = ov.agreement
    if rows:
        st.subheader("Agreement of flows with saliency (mean Spearman ρ over the examples)")
        table = pd.DataFrame(
            [
                {"flow method": r.method, "measure": r.measure, "saliency": r.saliency, "ρ": r.rho}
                for r in rows
            ]
        )
        st.dataframe(table.pivot(index=["flow method", "measure"], columns="saliency", values="ρ").round(2))
        st.markdown(agreement_sentence(rows, averaged=True))
