"""Dataset overview: how fine-tuning changed attention across many examples of the task, not just one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from attnflow_core.data.sources import to_examples
from attnflow_core.data.tasks import TASKS, get_task
from attnflow_core.errors import AttnflowError
from attnflow_core.measures import MEASURE_LABELS
from attnflow_core.models import pairs_for_task
from attnflow_core.overview import (
    BEHAVIOUR_RULE,
    Overview,
    OverviewSettings,
    cache_key,
    cached_path,
    compute_overview,
    layer_reading,
    load_overview,
    save_overview,
)
from attnflow_core.overview_store import overview_bytes, read_cached
from attnflow_core.plots.overview import build_overview_layout
from pages import common, impact

#: The demo set's size per task is 44 at most: the default N fits it (and any source's first page of examples).
DEFAULT_N = 40
#: Examples per second of an overview on this project's 2-core machine, both models, up to 128 tokens, one thread
#: (benchmarks/RESULTS.md, bench_overview.py: 51 QNLI and 70 MNLI rows/s; 69/s on the 44 QA demo rows alone).
APP_EXAMPLES_PER_SECOND = 50


@st.cache_resource(show_spinner=False)
def overview_slot() -> threading.Semaphore:
    """One overview computation at a time on this server (shared by all sessions): the others wait their turn."""
    return threading.Semaphore(1)


@contextmanager
def overview_turn(wait: Callable[[], Any]) -> Iterator[None]:
    """Hold the server's overview slot, computing on one CPU thread so that interactive sessions stay responsive.

    ``wait`` is called (to show a message) when another session holds the slot. ``torch.set_num_threads`` applies to
    this script thread (and to threads started after it), so the previous value is restored afterwards.
    """
    import torch

    slot = overview_slot()
    if not slot.acquire(blocking=False):
        wait()
        slot.acquire()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        yield
    finally:
        torch.set_num_threads(threads)
        slot.release()


def open_overview_example(ov: Any, row: pd.Series) -> None:
    """Select an overview's example for the Attention flow page: its task, its model pair and the example itself
    (by id when the overview's source and split are the current ones, else as custom text). Model references that
    are not registered need the person's confirmation on the next page (``common.custom_pair_confirmed``)."""
    ss = st.session_state
    same_data = (ov.task, ov.source, ov.split) == (ss.get("task"), ss.get("source"), ss.get("split", ""))
    if ov.task != ss.get("task"):
        ss.update(task=ov.task, source="demo", split="")
    match = [s for s in pairs_for_task(ov.task) if (s.base, s.tuned) == (ov.base_ref, ov.tuned_ref)]
    if match:
        ss["pair"] = match[0].key
    else:
        ss.update(pair=common.CUSTOM, custom_base=ov.base_ref, custom_tuned=ov.tuned_ref)
    ss["src"] = 0
    if same_data:
        ss.update(example=str(row["uid"]), custom_text="", custom_pair="")
    else:
        text_pair = row.get("text_pair")
        ss.update(
            example="",
            custom_gold="" if pd.isna(row.get("gold")) else str(row.get("gold") or ""),
            custom_text=str(row["text"]),
            custom_pair="" if text_pair is None or pd.isna(text_pair) else str(text_pair),
        )


@st.cache_data(show_spinner=False, max_entries=8)
def read_overview(path: str, mtime: float) -> Overview | None:
    """An overview file from the disk cache (``mtime`` keys the cache so a rewritten file is re-read); None when
    it is missing or unreadable."""
    return read_cached(path)


@st.cache_data(show_spinner=False, max_entries=4)
def read_uploaded_overview(data: bytes, filename: str) -> Overview:
    return load_overview(data, filename)


selection = common.page_setup()
ss = st.session_state
st.title("Dataset overview")
st.caption(
    "How fine-tuning changed attention across many examples: which heads changed, how much attention crosses "
    "between the two sentences, which heads are sinks on [CLS]/[SEP], and how head behaviour changed."
)
if selection is None:
    st.stop()
task = get_task(selection.task)
spec = selection.pair

c1, c2, c3 = st.columns([1, 1, 2])
n = int(c1.number_input("Examples (N)", min_value=1, max_value=20_000, value=DEFAULT_N, step=10, key="ov_n"))
max_length = int(c2.selectbox("Max tokens", (64, 128, 256), index=1, key="ov_len"))
renorm = c3.toggle(
    "Hide [CLS]/[SEP] attention everywhere but the sink map (renormalise rows)",
    key="ov_special",
    help="Attention to special tokens is often a no-op sink; hiding it shows where the rest goes.",
)
importance = st.toggle(
    "Also head importance (one backward pass per batch: about 1.1–2× the time)",
    key="ov_importance",
    help="Michel et al. 2019: how much the fine-tuned prediction's loss depends on each head.",
)
settings = OverviewSettings(
    n=n,
    max_length=max_length,
    special="renormalise" if renorm else "keep",
    measure=selection.settings.measure,  # the sidebar's attention measure
    importance=importance,
)
st.caption(
    f"Data: **{common.md_escape(selection.source)}** / {common.md_escape(selection.split or 'default split')} "
    f"(change it on the Examples page) · models: {common.md_escape(spec.title)} · "
    f"attention measure: {MEASURE_LABELS[settings.measure]}"
)

uploaded = st.file_uploader(
    "…or open an overview computed elsewhere (python -m attnflow_core overview --out FILE)",
    type=["json", "parquet"],
)
ov = None
if uploaded is not None:
    data, filename = uploaded.getvalue(), uploaded.name
    ov = common.friendly(lambda: read_uploaded_overview(data, filename))
else:
    key = cache_key(
        spec.base, spec.tuned, task.name, selection.source, selection.split, settings, spec.label_names
    )
    path = cached_path(key)
    if path.exists():
        ov = read_overview(str(path), path.stat().st_mtime)
    if ov is None:
        run_col, cancel_col = st.columns([1, 4])
        cancelled = cancel_col.button("Cancel", key="ov_cancel", help="Stops a running computation.")
        if cancelled:
            st.info(
                "Cancelled; nothing was cached. Press Compute to start again.", icon=":material/stop_circle:"
            )
        if run_col.button("Compute", type="primary", key="ov_run"):
            try:
                df = common.get_examples(task.name, selection.source, selection.split)
            except Exception as err:  # noqa: BLE001 - an unavailable source becomes a message
                st.error(f"The data source is not available: {err}. Pick another one on the Examples page.")
                st.stop()
            if df.empty:
                st.info(
                    "This source has no examples. Pick another source on the Examples page.",
                    icon=":material/folder_off:",
                )
                st.stop()
            import datasets

            examples = to_examples(datasets.Dataset.from_pandas(df.head(n), preserve_index=False), task.name)
            if len(examples) < n:
                st.info(
                    f"This source has {len(examples)} examples; the overview uses all of them.",
                    icon=":material/info:",
                )
            pair = common.load_pair_with_status(spec)
            if pair is None:
                st.stop()
            bar = st.progress(0.0, text="Running both models …")

            def waiting() -> None:
                bar.progress(
                    0.0, text="Another overview is running on this server; yours starts when it ends …"
                )

            try:
                with overview_turn(waiting):
                    result = compute_overview(
                        pair,
                        examples,
                        task.name,
                        settings,
                        selection.source,
                        selection.split,
                        progress=common.progress_to(bar),
                    )
            except (AttnflowError, ValueError) as err:
                st.error(common.md_escape(str(err)))
                st.stop()
            save_overview(result, path)
            st.rerun()
        else:
            st.info(
                f"Press **Compute** to run both models over up to {n} examples "
                f"(about {APP_EXAMPLES_PER_SECOND} examples per second on a 2-core CPU, so about "
                f"{max(1, round(n / APP_EXAMPLES_PER_SECOND))} s; longer while other people use this server). "
                "The result is cached on disk, so the next visit "
                "is instant.",
                icon=":material/monitoring:",
            )

if ov is not None and (ov.task not in TASKS or ov.n_examples == 0 or ov.examples.empty):
    st.error(
        "This overview file cannot be shown: it names no known task or holds no examples. Open an overview written "
        "by `python -m attnflow_core overview --out FILE`, or compute one here.",
        icon=":material/warning:",
    )
    ov = None
if ov is not None:
    acc = ov.examples["correct"].dropna()
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Examples", f"{ov.n_examples}")
    m2.metric("Fine-tuned accuracy", f"{acc.astype(float).mean():.1%}" if len(acc) else "—")
    m3.metric("Mean attention shift (JS)", f"{ov.js_mean.mean():.3f}")
    m4.metric("Computed in", f"{ov.seconds:.1f} s")
    # the readings are the project's own sentences about numbers (no user text), written in Markdown
    st.markdown(f"**Reading:** {layer_reading(ov)}{impact.overview_reading(ov)}")
    st.caption(f"Attention measure of this overview: {MEASURE_LABELS[ov.settings.measure]}")
    ov_task = get_task(ov.task)
    if ov_task.name != task.name:
        st.info(
            f"This overview was computed for **{ov_task.title}**, not the sidebar's task; opening one of its "
            "examples switches the app to that task.",
            icon=":material/info:",
        )
    names = (ov_task.text_columns[0], ov_task.text_columns[1]) if ov_task.is_pair else None
    common.render_bokeh(build_overview_layout(ov, names), key="overview_layout")
    st.caption(f"**Behaviour labels.** {BEHAVIOUR_RULE}")
    impact.overview_section(ov)

    st.subheader("Examples ranked")
    table = ov.examples.copy()
    table["verdict"] = table["correct"].map({True: "✓ correct", False: "✗ wrong"}).fillna("")
    # The sort column first, so that it stays in view at any width; long texts get a medium column.
    cols = [
        "uid",
        "shift",
        "verdict",
        "prediction",
        "confidence",
        "gold",
        "text",
        *(["text_pair"] if names else []),
    ]
    table = table[cols].sort_values("shift", ascending=False).reset_index(drop=True)
    event = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="ov_table",
        column_config={
            "shift": st.column_config.ProgressColumn(
                "attention shift", min_value=0.0, max_value=float(table["shift"].max() or 1), format="%.3f"
            ),
            "confidence": st.column_config.NumberColumn("confidence", format="%.2f", width="small"),
            "uid": st.column_config.TextColumn("id", width="small"),
            "verdict": st.column_config.TextColumn("verdict", width="small"),
            "text": st.column_config.TextColumn(ov_task.text_columns[0], width="large"),
            "text_pair": st.column_config.TextColumn(
                ov_task.text_columns[1] if names else "text_pair", width="large"
            ),
        },
    )
    st.caption("Sort by any column; select a row to open it on the Attention flow page.")
    rows = event.selection.rows if event is not None else []
    if rows:
        open_overview_example(ov, table.iloc[rows[0]])
        st.switch_page("pages/flow.py")

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
