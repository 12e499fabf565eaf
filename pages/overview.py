"""Dataset overview: how fine-tuning changed attention across many examples of the task, not just one."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from attnflow_core import browse
from attnflow_core.data.sources import frame_examples
from attnflow_core.data.tasks import Task, get_task
from attnflow_core.models import CUSTOM_PAIR, pairs_for_task
from attnflow_core.overview import (
    BEHAVIOUR_RULE,
    OVERVIEW_SPECIAL_MODES,
    Overview,
    OverviewSettings,
    layer_reading,
    load_overview,
)
from attnflow_core.overview_store import OverviewRequest, compute_and_store, overview_bytes, read_cached
from attnflow_core.plots.overview import build_overview_layout
from attnflow_core.tables import table_key
from pages.ui import state
from pages.ui.bokeh_host import render_bokeh
from pages.ui.boundary import friendly, md_escape
from pages.ui.loaders import MAX_EXAMPLES, get_examples
from pages.ui.page import chosen_row, page_number, page_setup, progress_to
from pages.ui.panels import overview_reading, overview_section
from pages.ui.sidebar import Selection, load_pair_with_status

#: The demo set's size per task is 44 at most: the default N fits it (and any source's first page of examples).
DEFAULT_N = 40
#: Examples per second of an overview on this project's 2-core machine, both models, up to 128 tokens, one thread
#: (benchmarks/RESULTS.md, bench_overview.py: 51 QNLI and 70 MNLI rows/s; 69/s on the 44 QA demo rows alone).
APP_EXAMPLES_PER_SECOND = 50


@st.cache_resource(show_spinner=False, max_entries=8)
def read_overview(path: str, mtime: float) -> Overview | None:
    """An overview file from the disk cache (``mtime`` keys the cache so a rewritten file is re-read); None when
    it is missing or unreadable. A resource (never copied per run: a large overview is hundreds of MB)."""
    return read_cached(path)


@st.cache_resource(show_spinner=False, max_entries=2)
def read_uploaded_overview(data: bytes, filename: str) -> Overview:
    return load_overview(data, filename)


def compute(selection: Selection, request: OverviewRequest) -> None:
    """Run both models over the first N examples of the sidebar's source (one overview at a time on this server)
    and store the result; the page then reruns and shows it."""
    task = get_task(selection.task)
    df = friendly(
        lambda: get_examples(task.name, selection.source, selection.split),
        "The data source is not available.",
    )
    if df is None or df.empty:
        st.info(
            "This source has no examples. Pick another source on the Examples page.",
            icon=":material/folder_off:",
        )
        return
    examples = frame_examples(df, task, request.settings.n)
    if len(examples) < request.settings.n:
        st.info(
            f"This source has {len(examples)} examples; the overview uses all of them.",
            icon=":material/info:",
        )
    pair = load_pair_with_status(selection.pair)
    if pair is None:
        return
    bar = st.progress(0.0, text="Running both models …")

    def waiting() -> None:
        bar.progress(0.0, text="Another overview is running on this server; yours starts when it ends …")

    if friendly(lambda: compute_and_store(request, pair, examples, progress_to(bar), waiting)) is not None:
        st.rerun()


def cached(request: OverviewRequest) -> Overview | None:
    """The request's overview from the disk cache; None when it is not there (or its entry cannot be used: said)."""
    path = friendly(request.path)
    if path is None or not path.is_file():
        return None
    return read_overview(str(path), path.stat().st_mtime)


def compute_controls(selection: Selection, request: OverviewRequest, without_importance: bool) -> None:
    """Compute and Cancel, and what pressing Compute will do (``without_importance``: the overview shown below is
    the one computed without head importance, which Compute adds)."""
    n = request.settings.n
    run_col, cancel_col = st.columns([1, 4])
    if cancel_col.button("Cancel", key="ov_cancel", help="Stops a running computation."):
        st.info("Cancelled; nothing was cached. Press Compute to start again.", icon=":material/stop_circle:")
    if run_col.button("Compute", type="primary", key="ov_run"):
        compute(selection, request)
    elif without_importance:
        st.info(
            "Below: this overview **without head importance**. Press **Compute** to add the importance map (one "
            f"backward pass per batch: about {max(1, round(2 * n / APP_EXAMPLES_PER_SECOND))} s at most on a "
            "2-core CPU; longer while other people use this server).",
            icon=":material/monitoring:",
        )
    else:
        st.info(
            f"Press **Compute** to run both models over up to {n} examples "
            f"(about {APP_EXAMPLES_PER_SECOND} examples per second on a 2-core CPU, so about "
            f"{max(1, round(n / APP_EXAMPLES_PER_SECOND))} s; longer while other people use this server). "
            "The result is cached on disk, so the next visit is instant.",
            icon=":material/monitoring:",
        )


def ranked_table(ov: Overview, task: Task) -> None:
    """The examples ranked by attention shift, one page at a time (a file of a million examples sends one page);
    the texts wrap to fit the window. A chosen row opens on the Attention flow page."""
    st.subheader("Examples ranked")
    p1, p2 = st.columns([1, 3])
    is_pair = task.is_pair
    number = page_number(p1, state.OVERVIEW_PAGE, browse.page_count(ov.n_examples))
    page = browse.ranked_page(ov.examples, is_pair, number)
    p2.caption(f"{page.caption} · ranked by attention shift, largest first")
    layout = browse.ranked_layout(page.rows, is_pair)
    px = layout.widths
    top = float(pd.to_numeric(ov.examples["shift"]).max()) or 1.0
    row = chosen_row(
        page.rows,
        table_key("ov_table", page.rows["uid"].tolist()),
        column_order=layout.columns,
        row_height=layout.row_height,
        height=layout.height,
        column_config={
            "shift": st.column_config.ProgressColumn(
                "attention shift", min_value=0.0, max_value=top, format="%.3f", width=px["shift"]
            ),
            "confidence": st.column_config.NumberColumn("confidence", format="%.2f", width=px["confidence"]),
            "uid": st.column_config.TextColumn("id", width=px["uid"]),
            "verdict": st.column_config.TextColumn("verdict", width=px["verdict"]),
            "prediction": st.column_config.TextColumn("prediction", width=px["prediction"]),
            "gold": st.column_config.TextColumn("gold", width=px["gold"]),
            "text": st.column_config.TextColumn(task.text_columns[0], width=px["text"]),
            "text_pair": st.column_config.TextColumn(task.text_columns[-1], width=px.get("text_pair")),
        },
    )
    st.caption("Select a row to open it on the Attention flow page (sorting a column sorts this page).")
    if row is not None:
        match = [s.key for s in pairs_for_task(ov.task) if (s.base, s.tuned) == (ov.base_ref, ov.tuned_ref)]
        current = state.current(state.TASK, state.SOURCE, state.SPLIT)
        state.update(browse.overview_row_selection(ov, row, current, next(iter(match), None), CUSTOM_PAIR))
        st.switch_page("pages/flow.py")


def show(ov: Overview, task_name: str) -> None:
    """The overview's figures, readings and ranked examples (a row opens on the Attention flow page)."""
    accuracy = ov.accuracy()
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Examples", f"{ov.n_examples}")
    m2.metric("Fine-tuned accuracy", "—" if accuracy is None else f"{accuracy:.1%}")
    m3.metric("Mean attention shift (JS)", f"{ov.layer_change().mean():.3f}")
    m4.metric("Computed in", f"{ov.seconds:.1f} s")
    # the readings are the project's own sentences about numbers (no user text), written in Markdown
    st.markdown(f"**Reading:** {layer_reading(ov)}{overview_reading(ov)}")
    st.caption(f"Attention measure of this overview: {ov.settings.measure.label}")
    ov_task = get_task(ov.task)
    if ov_task.name != task_name:
        st.info(
            f"This overview was computed for **{ov_task.title}**, not the sidebar's task; opening one of its "
            "examples switches the app to that task.",
            icon=":material/info:",
        )
    names = (ov_task.text_columns[0], ov_task.text_columns[1]) if ov_task.is_pair else None
    render_bokeh(build_overview_layout(ov, names), key="overview_layout")
    st.caption(f"**Behaviour labels.** {BEHAVIOUR_RULE}")
    overview_section(ov)
    ranked_table(ov, ov_task)
    d1, d2 = st.columns(2)
    for col, suffix, mime in (
        (d1, ".json", "application/json"),
        (d2, ".parquet", "application/octet-stream"),
    ):
        col.download_button(
            f"Download ({suffix[1:]})",
            partial(overview_bytes, ov, suffix),
            file_name=f"overview{suffix}",
            mime=mime,
        )


selection = page_setup()
st.title("Dataset overview")
st.caption(
    "How fine-tuning changed attention across many examples: which heads changed, how much attention crosses "
    "between the two sentences, which heads are sinks on [CLS]/[SEP], and how head behaviour changed."
)
if selection is None:
    st.stop()
spec = selection.pair
c1, c2, _ = st.columns([1, 1, 2])
n = int(
    c1.number_input("Examples (N)", min_value=1, max_value=MAX_EXAMPLES, value=DEFAULT_N, step=10, key="ov_n")
)
max_length = int(c2.selectbox("Max tokens", (64, 128, 256), index=1, key="ov_len"))
renorm = st.toggle(
    "Hide [CLS]/[SEP] attention everywhere but the sink map (renormalise rows)",
    key="ov_special",
    help="Attention to special tokens is often a no-op sink; hiding it shows where the rest goes.",
)
importance = st.toggle(
    "Also head importance (one backward pass per batch: about 1.1–2× the time)",
    key="ov_importance",
    help="Michel et al. 2019: how much the fine-tuned prediction's loss depends on each head.",
)
faithfulness = st.toggle(
    "Also the faithfulness table (slow: seconds per example — saliencies, value zeroing, deletion curves)",
    key="ov_faithfulness",
    help="Every flow method × measure of both models against four saliencies (Spearman ρ) and by cutting their "
    "top tokens out of the input (AOPC), averaged over the examples.",
)
settings = OverviewSettings(
    n=n,
    max_length=max_length,
    special=next(m for m in OVERVIEW_SPECIAL_MODES if m.hides == renorm),
    measure=selection.settings.measure,  # the sidebar's attention measure
    importance=importance,
    faithfulness=faithfulness,
)
st.caption(
    f"Data: **{md_escape(selection.source)}** / {md_escape(selection.split or 'default split')} "
    f"(change it on the Examples page) · models: {md_escape(spec.title)} · "
    f"attention measure: {settings.measure.label}"
)
uploaded = st.file_uploader(
    "…or open an overview computed elsewhere (python -m attnflow_core overview --out FILE)",
    type=["json", "parquet"],
)
ov = None
if uploaded is not None:
    data, filename = uploaded.getvalue(), uploaded.name
    ov = friendly(lambda: read_uploaded_overview(data, filename))
else:
    request = OverviewRequest(
        spec.base, spec.tuned, spec.label_names, selection.task, selection.source, selection.split, settings
    )
    ov = cached(request)
    if ov is None:
        # the same overview with importance toggled stands in (with importance it holds everything asked for)
        stand_in = next((o for o in map(cached, request.stand_ins()) if o is not None), None)
        if stand_in is None or stand_in.importance is None:
            compute_controls(selection, request, stand_in is not None)
        ov = stand_in
if ov is not None and ov.n_examples == 0:
    st.error(
        "This overview file cannot be shown: it holds no examples. Open an overview written by "
        "`python -m attnflow_core overview --out FILE`, or compute one here.",
        icon=":material/warning:",
    )
    ov = None
if ov is not None:
    show(ov, selection.task)
