"""The flow page's faithfulness table (issue 17): every flow method × measure of both models against four
saliencies and by deletion, computed when its button is pressed, with its progress."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from attnflow_core.extract import ExampleResult
from attnflow_core.faithfulness import (
    FaithfulnessSums,
    faithfulness_caption,
    faithfulness_frame,
    faithfulness_sentence,
    pair_faithfulness,
    skipped_note,
)
from attnflow_core.measures import Capture
from attnflow_core.pipeline import ExtractionKey
from pages.ui.boundary import friendly
from pages.ui.loaders import (
    extraction_key,
    get_pair,
    get_result,
)
from pages.ui.sidebar import Selection


@st.cache_data(show_spinner=False, max_entries=8)
def get_faithfulness(key: ExtractionKey) -> FaithfulnessSums:
    """The faithfulness sums of one example (``key`` captures the layer internals), with a progress bar drawn
    inside the cached function (replayed, already emptied, on a cache hit)."""
    bar = st.progress(0.0, text="Faithfulness: both models' flows under every measure …")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    try:
        return pair_faithfulness(
            get_pair(key.base, key.tuned, key.labels), get_result(key), progress=progress
        )
    finally:
        bar.empty()


def faithfulness_panel(selection: Selection, result: ExampleResult) -> None:
    """The faithfulness table of this example for both models (every flow method × measure against each saliency,
    ρ and AOPC, with the random floor and its sentence), computed when its button is pressed."""
    with st.expander("Which ranking is faithful, in each model? (computed on demand)"):
        if result.prediction_tuned is None:
            st.info(
                "The fine-tuned model has no classification head, so there is no decision to be faithful to."
            )
            return
        if not st.button(
            "Compute the faithfulness table (both models, every method × measure)", key="faith_go"
        ):
            st.caption(
                "Ranks the tokens by every flow method under every measure in both models, and judges each ranking "
                "by its agreement with four saliencies and by cutting its top tokens out of the input. Slow (tens "
                "of seconds at 128 tokens: value zeroing, four saliencies, ~500 shortened inputs); computed on "
                "demand and cached per example."
            )
            return
        key = extraction_key(selection.pair, selection.text, selection.text_pair)
        sums = friendly(lambda: get_faithfulness(replace(key, capture=Capture(internals=True))))
        if sums is None:
            return
        rows = sums.rows()
        st.dataframe(faithfulness_frame(rows))
        st.markdown(f"{faithfulness_sentence(rows)} {skipped_note(sums)}")
        st.caption(
            faithfulness_caption(sums.n)
            + " Token units, traced from [CLS] over all layers and heads with τ = "
            "0.1, whatever the sidebar says."
        )
