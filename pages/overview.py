"""Dataset overview: how fine-tuning changed attention across many examples of the task, not just one."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import streamlit as st

from attnflow_core.data.sources import to_examples
from attnflow_core.data.tasks import get_task
from attnflow_core.errors import AttnflowError
from attnflow_core.measures import MEASURE_LABELS
from attnflow_core.overview import (
    BEHAVIOUR_RULE,
    Overview,
    OverviewSettings,
    cache_key,
    cached_path,
    compute_overview,
    layer_reading,
    save_overview,
)
from attnflow_core.plots.overview import build_overview_layout
from pages import common, impact

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
n = int(c1.number_input("Examples (N)", min_value=1, max_value=20_000, value=200, step=50, key="ov_n"))
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
    f"Data: **{selection.source}** / {selection.split or 'default split'} (change it on the Examples page) · "
    f"models: {spec.title} · attention measure: {MEASURE_LABELS[settings.measure]}"
)

uploaded = st.file_uploader(
    "…or open an overview computed elsewhere (python -m attnflow_core overview --out FILE)",
    type=["json", "parquet"],
)
ov = None
if uploaded is not None:
    data, filename = uploaded.getvalue(), uploaded.name
    ov = common.friendly(lambda: common.read_uploaded_overview(data, filename))
else:
    key = cache_key(
        spec.base, spec.tuned, task.name, selection.source, selection.split, settings, spec.label_names
    )
    path = cached_path(key)
    ov = common.read_overview(str(path), path.stat().st_mtime) if path.exists() else None
    if ov is None:  # not computed yet, or an unreadable entry (removed by read_overview): compute it
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
            try:
                result = compute_overview(
                    pair,
                    examples,
                    task.name,
                    settings,
                    selection.source,
                    selection.split,
                    progress=common.progress_to(bar),
                )
            except AttnflowError as err:
                st.error(str(err))
                st.stop()
            save_overview(result, path)
            st.rerun()
        else:
            st.info(
                f"Press **Compute** to run both models over up to {n} examples "
                "(about 5–10 examples per second on a laptop CPU). The result is cached on disk, so the next visit "
                "is instant.",
                icon=":material/monitoring:",
            )

if ov is not None:
    acc = ov.examples["correct"].dropna()
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Examples", f"{ov.n_examples}")
    m2.metric("Fine-tuned accuracy", f"{acc.astype(float).mean():.1%}" if len(acc) else "—")
    m3.metric("Mean attention shift (JS)", f"{ov.js_mean.mean():.3f}")
    m4.metric("Computed in", f"{ov.seconds:.1f} s")
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
    cols = [
        "uid",
        "text",
        *(["text_pair"] if names else []),
        "gold",
        "prediction",
        "confidence",
        "verdict",
        "shift",
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
            "confidence": st.column_config.NumberColumn("confidence", format="%.2f"),
        },
    )
    st.caption("Sort by any column; select a row to open it on the Attention flow page.")
    rows = event.selection.rows if event is not None else []
    if rows:
        common.open_overview_example(ov, table.iloc[rows[0]])
        st.switch_page("pages/flow.py")

    def file_bytes(result: Overview, suffix: str) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            return save_overview(result, Path(tmp) / f"overview{suffix}").read_bytes()

    d1, d2 = st.columns(2)
    for col, suffix, mime in (
        (d1, ".json", "application/json"),
        (d2, ".parquet", "application/octet-stream"),
    ):
        col.download_button(
            f"Download ({suffix[1:]})",
            partial(file_bytes, ov, suffix),
            file_name=f"overview{suffix}",
            mime=mime,
        )
