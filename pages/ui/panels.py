"""Page parts for "does the change matter?": head zeroing/patching (Head differences page), the lazy saliency row
with the agreement table and the faithfulness table (Attention flow page), and the importance and faithfulness
sections of the Dataset overview. What they show is computed in the core (``impact``, ``agreement``, ``saliency``,
``faithfulness``, ``importance``), cached here per example."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import streamlit as st

from attnflow_core.agreement import agreement, agreement_sentence, settings_flows
from attnflow_core.analysis import Analysis
from attnflow_core.extract import ExampleResult
from attnflow_core.faithfulness import (
    faithfulness_caption,
    faithfulness_frame,
    faithfulness_sentence,
    skipped_note,
)
from attnflow_core.impact import (
    START_HEADS,
    agreement_frame,
    head_names,
    intervention_summary,
    parse_head_name,
    strongest_heads,
)
from attnflow_core.interventions import INTERVENTIONS, Reprediction, intervene
from attnflow_core.measures import MEASURES
from attnflow_core.overview import Overview
from attnflow_core.pipeline import ExtractionKey
from attnflow_core.saliency import SALIENCY_METHODS, Saliency, result_saliency, saliency_title
from pages.ui import state
from pages.ui.bokeh_host import head_bridge, render_bokeh
from pages.ui.boundary import friendly
from pages.ui.loaders import (
    extraction_key,
    get_example_importance,
    get_head_stats,
    get_pair,
    get_result,
)
from pages.ui.sidebar import Selection


@st.cache_resource(show_spinner="Re-predicting…", max_entries=8)
def get_intervention(key: ExtractionKey, mode: str, heads: tuple[tuple[int, int], ...]) -> Reprediction:
    pair, result = get_pair(key.base, key.tuned, key.labels), get_result(key)
    enc = result.encoding
    labels = pair.tuned.label_names or ()
    return intervene(pair.tuned.model, enc.input_ids, enc.segment_ids, labels, mode, heads, result.attn_base)


@st.cache_data(show_spinner=False, max_entries=64)
def get_saliency(key: ExtractionKey, unit: str, method: str) -> Saliency:
    """One saliency method on the example (cached per method, so the progress can say which one is running)."""
    pair = get_pair(key.base, key.tuned, key.labels)
    return result_saliency(pair.tuned, get_result(key), (method,), unit)[method]


#: What the button's caption promises, measured on this project's 2-core server under load (benchmark of issue 19:
#: 36 tokens 10 s, 128 tokens 27 s for the three methods of the time; Integrated Gradients and occlusion take most,
#: the plain gradient added since is one backward pass).
SALIENCY_TIME = "10–30 s for up to 128 tokens on a 2-core server, longer while other people use it"


def saliencies_with_progress(key: ExtractionKey, unit: str) -> dict[str, Saliency]:
    """Every saliency method, one after the other, with a bar that says which is running and what each took."""
    methods = list(SALIENCY_METHODS.keys())
    bar = st.progress(0.0)
    out: dict[str, Saliency] = {}
    took: list[str] = []
    t_start = time.perf_counter()
    for i, m in enumerate(methods):
        done = f" · done: {', '.join(took)}" if took else ""
        bar.progress(i / len(methods), text=f"{saliency_title(m)} ({i + 1} of {len(methods)}) …{done}")
        t0 = time.perf_counter()
        out[m] = get_saliency(key, unit, m)
        took.append(f"{saliency_title(m)} {time.perf_counter() - t0:.1f} s")
    bar.empty()
    st.caption(
        f"Computed in {time.perf_counter() - t_start:.1f} s ({', '.join(took)}; a second visit is instant)."
    )
    return out


def _start_from(names: list[str]) -> None:
    """A starting point's callback: these heads become the heads to zero or patch (before the multiselect draws)."""
    state.PICKED_HEADS.set(list(names))


@st.fragment
def intervention_panel(
    selection: Selection, result: ExampleResult, analysis_of: Callable[[], Analysis]
) -> None:
    """Pick heads (a starting point, the multiselect, or taps on the heatmaps above), zero or patch them in the
    fine-tuned model, show the prediction and flow scores before/after. A fragment: a tap, a pick or a button press
    reruns this panel only (one forward pass of the fine-tuned model for Zero or Patch)."""
    st.subheader("Does this change matter? Zero or patch heads")
    if result.prediction_tuned is None:
        st.info("The fine-tuned model has no classification head, so there is no prediction to change.")
        return
    key = extraction_key(selection.pair, selection.text, selection.text_pair)
    example = selection.settings.example
    per_head = example.measure.per_head
    if per_head:  # under a measure without heads a heatmap cell is a whole layer, not a head to pick
        head_bridge(result.num_heads)  # a tap on a heatmap cell adds or removes that head (reruns this panel)
    names = head_names(result.num_layers, result.num_heads)
    picked_before = state.PICKED_HEADS.get() or []
    if any(p not in names for p in picked_before):  # another model's heads
        state.PICKED_HEADS.set([p for p in picked_before if p in names])
    st.markdown(" ".join(m.help for m in INTERVENTIONS) + " Then the model predicts again.")
    weights = ""
    if not per_head:  # the heads to zero are real heads: rank them where they exist
        weights = f" (under the attention weights: the {example.measure.phrase} have no per-head part)"
        example = replace(example, measure=MEASURES.get("attention"))
    changed = strongest_heads(get_head_stats(key, example).js)
    c1, c2 = st.columns(2)
    c1.button(
        f"Start from the {START_HEADS} most changed heads",
        key="impact_start_changed",
        on_click=_start_from,
        args=(changed,),
        help="The heads whose attention differs most between the two models on this example (JS divergence"
        f"{weights}): {', '.join(changed)}. Changed is not the same as needed: compare with the other starting point.",
    )
    if c2.button(
        f"Start from the {START_HEADS} heads most important for this prediction",
        key="impact_start_important",
        help="Michel et al. 2019: |∂L/∂ξ| for a gate ξ on each head's output, loss on the fine-tuned model's "
        "prediction — the heads whose removal would change the prediction most, to first order.",
    ):
        important = friendly(lambda: strongest_heads(get_example_importance(key)))
        if important is not None:
            _start_from(important)
            st.rerun(scope="fragment")
    picked = st.multiselect(
        "Heads to zero or patch (layer 1-based, head 0-based"
        + ("; tap cells of the heatmaps above to add or remove them)" if per_head else ")"),
        names,
        key=state.PICKED_HEADS.key,
    )
    # A result shows on the run its button started (st.session_state holds widget values only); it is cached, so
    # pressing again after another change is instant.
    pressed = [
        mode
        for mode, col in zip(INTERVENTIONS, st.columns(len(INTERVENTIONS)), strict=True)
        if col.button(mode.label, key=f"impact_{mode}", disabled=not picked)
    ]
    if not pressed or not picked:
        st.caption("Pick at least one head, then press Zero or Patch.")
        return
    mode, chosen = pressed[0], tuple(picked)
    heads = tuple(parse_head_name(n) for n in chosen)
    summary = friendly(
        lambda: intervention_summary(
            analysis_of(), result.encoding, get_intervention(key, mode, heads), mode, chosen
        )
    )
    if summary is None:
        return
    for col, m in zip(st.columns(len(summary.metrics)), summary.metrics, strict=True):
        col.metric(m.label, m.value, m.delta, delta_color=m.delta_color, help=m.help)  # type: ignore[arg-type]
    st.caption(summary.caption)
    st.dataframe(summary.table, hide_index=True, height=min(35 * (len(summary.table) + 1), 300))


def saliency_panel(selection: Selection, result: ExampleResult, analysis_of: Callable[[], Analysis]) -> None:
    """The lazy saliency row and the agreement table (computed only after the button is pressed; ``analysis_of``
    gives the view's current analysis, then)."""
    from attnflow_core.plots.importance import build_saliency_row

    st.subheader("Token saliency and agreement")
    if result.prediction_tuned is None:
        st.info("The fine-tuned model has no classification head, so there is no prediction to attribute.")
        return
    # Computed on the run the button started only (cached per example), so settings changes stay fast.
    titles = ", ".join(m.short for m in SALIENCY_METHODS)
    if not st.button(f"Compute saliency ({titles})", key="saliency_go"):
        st.caption(
            f"Computed on demand, one method after the other (a bar says which is running): {SALIENCY_TIME}. "
            "Changing the settings does not wait for it."
        )
        return
    analysis = analysis_of()
    key = extraction_key(selection.pair, selection.text, selection.text_pair)
    sal = friendly(lambda: saliencies_with_progress(key, analysis.settings.unit))
    if sal is None:
        return
    scores = {k: v.scores for k, v in sal.items()}
    render_bokeh(build_saliency_row(analysis.labels, scores), "saliency_row")
    # every flow method under every measure the extraction of the sidebar's measure allows (the sidebar's is one
    # of them), with the page's other settings
    measured = friendly(lambda: get_result(key.for_measure(analysis.settings.measure)))
    if measured is None:
        return
    rows = agreement(settings_flows(measured, analysis.settings), scores, analysis.special_positions)
    st.dataframe(agreement_frame(rows))
    st.markdown(agreement_sentence(rows))
    st.caption(
        "Spearman ρ between the fine-tuned model's flow scores from the source token and the magnitude of each "
        "saliency, over the non-special tokens (Abnar & Zuidema 2020). Each flow method runs under every measure ("
        + "; ".join(f"{m}: {MEASURES.get(m).short}" for m in dict.fromkeys(r.measure for r in rows))
        + ") with the sidebar's other settings."
    )


def overview_reading(ov: Overview) -> str:
    """The sentences the overview's Reading adds: what the head maps show under a measure without a per-head part,
    and the importance reading when the file has an importance map ("" when neither applies)."""
    from attnflow_core.importance import importance_reading

    out = ""
    if not ov.settings.measure.per_head:
        out += (
            f" The {ov.settings.measure.phrase} have no per-head part (the residual is not a head): every "
            '"head" map below shows one column per layer, the whole layer.'
        )
    if ov.importance is not None and ov.importance.shape == ov.js_mean.shape:
        out += " " + importance_reading(ov.js_mean, ov.importance)
    return out


def overview_section(ov: Overview) -> None:
    """Importance map beside the change map, their scatter with ρ, and the mean agreement table when present."""
    from attnflow_core.plots.importance import build_importance_layout

    if ov.importance is not None and ov.importance.shape != ov.js_mean.shape:
        st.info(
            f"Head importance is measured per head, and the {ov.settings.measure.phrase} have no per-head part, so "
            "the two cannot be set side by side: compute the overview under a per-head measure (raw or "
            "norm-weighted attention) to compare them.",
            icon=":material/info:",
        )
    elif ov.importance is not None:
        st.subheader("Does the change matter? Head change vs head importance")
        render_bokeh(build_importance_layout(ov.js_mean, ov.importance), key="importance_layout")
        st.caption(
            "Importance (Michel et al. 2019): |∂L/∂ξ| for a gate ξ = 1 on each head's output of the fine-tuned "
            "model, loss on the gold label (the prediction where there is none), averaged over the examples — the "
            "first-order estimate of how much removing the head would change the loss."
        )
    if ov.agreement:
        st.subheader("Agreement of flows with saliency (mean Spearman ρ over the examples)")
        st.dataframe(agreement_frame(ov.agreement))
        st.markdown(agreement_sentence(ov.agreement, averaged=True))
    if ov.faithfulness is not None:
        rows = ov.faithfulness.rows()
        st.subheader("Which ranking is faithful, in each model? (means over the examples)")
        st.dataframe(faithfulness_frame(rows))
        st.markdown(f"{faithfulness_sentence(rows)} {skipped_note(ov.faithfulness)}")
        st.caption(faithfulness_caption(ov.faithfulness.n))
