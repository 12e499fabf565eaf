"""Page parts for "does the change matter?": head zeroing/patching (Head differences page) and the lazy saliency
row with the agreement table (Attention flow page). Cached per example at this page boundary, bounded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import attnflow_core.plots
from attnflow_core.agreement import agreement, agreement_sentence, settings_flows
from attnflow_core.analysis import Analysis, analyse
from attnflow_core.extract import ExampleResult
from attnflow_core.interventions import Reprediction, intervene
from attnflow_core.overview import Overview
from attnflow_core.saliency import SALIENCY_METHODS, SALIENCY_TITLES, Saliency, result_saliency
from pages import common

MODES = {"zero": "Zero in the fine-tuned model", "patch": "Patch with pre-trained pattern"}
#: One sentence each: what the two interventions do.
MODE_HELP = {
    "zero": "**Zero** removes the chosen heads' outputs from the fine-tuned model (as if the heads were pruned).",
    "patch": "**Patch** gives the chosen heads of the fine-tuned model the pre-trained model's attention pattern on "
    "this input, keeping the fine-tuned value vectors, so only *where* those heads look is reverted.",
}
HEADS_KEY = "impact_heads"

#: The bridge that turns a tap on a heatmap cell into a head added to / removed from the selection (its JS:
#: attnflow_core/plots/head_bridge.js; the tap itself is plots/heads.py's callback).
_head_bridge = st.components.v2.component(
    "attnflow.head_bridge",
    js=(Path(attnflow_core.plots.__file__).parent / "head_bridge.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)


def head_name(layer: int, head: int) -> str:
    """The multiselect's name of a head: layer 1-based, head 0-based (``L3 H9``)."""
    return f"L{layer} H{head}"


def _parse_head(name: str) -> tuple[int, int]:
    """``"L3 H9"`` -> (2, 9): 0-based layer and head, as the interventions take them."""
    layer, head = name.split()
    return int(layer[1:]) - 1, int(head[1:])


def _on_head_click(n_heads: int) -> None:
    """Runs before the rerun: the tapped cell's head joins or leaves the selection and is shown below."""
    value: Any = st.session_state.get("head_click")
    cell = value.get("head") if hasattr(value, "get") else getattr(value, "head", None)
    if cell is None:
        return
    layer, head = int(cell) // n_heads + 1, int(cell) % n_heads
    name = head_name(layer, head)
    picked = list(st.session_state.get(HEADS_KEY) or [])
    st.session_state[HEADS_KEY] = [p for p in picked if p != name] if name in picked else [*picked, name]
    st.session_state["head_pick"] = (layer, head)


def head_click_bridge(n_heads: int) -> None:
    """Mount the bridge (invisible) that lets a tap on the head heatmaps select heads for zeroing/patching."""
    _head_bridge(key="head_click", on_head_change=lambda: _on_head_click(n_heads), height=0)


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
    names = [head_name(layer, h) for layer in range(1, n_layers + 1) for h in range(n_heads)]
    if any(p not in names for p in st.session_state.get(HEADS_KEY) or []):  # another model's heads
        st.session_state[HEADS_KEY] = [p for p in st.session_state[HEADS_KEY] if p in names]
    st.markdown(MODE_HELP["zero"] + " " + MODE_HELP["patch"] + " Then the model predicts again.")
    picked = st.multiselect(
        "Heads (layer 1-based, head 0-based; tap cells of the heatmaps above to add or remove them; the most "
        "changed head is a good start)",
        names,
        key=HEADS_KEY,
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
        st.caption("Pick at least one head, then press a button.")
        return
    mode, chosen = pressed[0], tuple(picked)
    heads = tuple(_parse_head(n) for n in chosen)
    spec = selection.pair
    rep = common.friendly(
        lambda: get_intervention(
            spec.base, spec.tuned, spec.label_names, selection.text, selection.text_pair, mode, heads
        )
    )
    if rep is None:
        return
    before, after = rep.confidence("before"), rep.confidence("after")
    done = "zeroed" if mode == "zero" else "patched"
    which = ", ".join(chosen)
    m1, m2, m3 = st.columns(3)
    m1.metric(f"Before: P({rep.label_before})", f"{before:.1%}", help="The fine-tuned model's prediction.")
    m2.metric(
        f"After ({done} {which}): P({rep.label_before})",
        f"{after:.1%}",
        f"{(after - before) * 100:+.1f} points",
        help="The same label's probability once the heads are " + done + ".",
    )
    flipped = rep.label_after != rep.label_before
    m3.metric(
        "Label after",
        rep.label_after,
        f"changed from {rep.label_before}" if flipped else "unchanged",
        delta_color="inverse" if flipped else "off",
        help=f"confidence {max(rep.after):.1%}",
    )
    changed = replace(result, attn_tuned=rep.attn_after, vnorm_tuned=rep.vnorm_after)
    after_analysis = analyse(changed, analysis.settings)
    table = pd.DataFrame(
        {
            "unit": analysis.labels,
            "flow before": np.round(analysis.scores_tuned, 4),
            "flow after": np.round(after_analysis.scores_tuned, 4),
        }
    )
    table["change"] = (table["flow after"] - table["flow before"]).round(4)
    top = int(np.argmax(np.abs(table["change"].to_numpy())))
    st.caption(
        f"How the flow changes: the fine-tuned model's flow scores ({analysis.settings.method}, "
        f"{after_analysis.settings.measure} measure, from the sidebar's source) before and after; the "
        f"{analysis.trace.n_edges} traced edges become {after_analysis.trace.n_edges}, and the largest change is at "
        f"{analysis.labels[top]!r} ({table['change'].iloc[top]:+.4f})."
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
