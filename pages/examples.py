"""Examples: pick a data source, browse and filter examples, see predictions, choose one (or type your own)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from attnflow_core import browse
from attnflow_core.data.files import MAX_UPLOAD_MB
from attnflow_core.data.sources import SourceInfo, list_sources
from attnflow_core.data.tasks import Task, get_task
from attnflow_core.tables import table_key
from attnflow_core.user_models import finetune_user_model, user_model_exists, user_model_name
from pages.ui import state
from pages.ui.boundary import friendly, md_escape
from pages.ui.loaders import extraction_key, get_examples, get_predictions, get_result
from pages.ui.page import chosen_row, example_header, page_number, page_setup, progress_to
from pages.ui.sidebar import Selection
from pages.ui.uploads import (
    UPLOAD_KEY,
    column_error_points_at_the_boxes,
    forget_upload_unless_new,
    get_user_file,
    remembered_upload,
)

# A long paste is accepted; the model reads its first MAX_LENGTH tokens (the example header says so).
MAX_TYPED_CHARS = 20_000


def source_table(task: Task, info: SourceInfo) -> pd.DataFrame | None:
    """The chosen source's examples (for "Your file": the uploader and its column boxes first); None if none."""
    if info.key != "file":
        with st.spinner(f"Loading {info.title} …"):
            return friendly(
                lambda: get_examples(task.name, info.key, state.SPLIT.get()),
                f"{info.title} is not available right now. Pick the demo set, a corpus that is already cached, or "
                "upload your own file.",
                "warning",
            )
    upload = st.file_uploader(
        "Your file (CSV, JSON Lines or Parquet)",
        type=["csv", "jsonl", "json", "parquet"],
        max_upload_size=MAX_UPLOAD_MB,
        key=UPLOAD_KEY,
        on_change=forget_upload_unless_new,
    )
    st.caption(
        "Which column of your file holds each field (leave as is when the names match; label is optional):"
    )
    boxes = st.columns(len(task.text_columns) + 1)
    mapping = {
        c: boxes[i].text_input(c, value=c, key=f"map_{c}")
        for i, c in enumerate([*task.text_columns, "label"])
    }
    kept = remembered_upload(upload)
    if kept is None:
        return None
    data, filename = kept
    if upload is None:
        st.caption(f"Your file **{md_escape(filename)}** (kept from before; upload another to replace it).")
    split = state.SPLIT.get()
    return friendly(
        lambda: column_error_points_at_the_boxes(
            lambda: get_user_file(data, filename, task.name, tuple(sorted(mapping.items())), split)
        )
    )


def example_table(df: pd.DataFrame, task: Task, info: SourceInfo, selection: Selection | None) -> None:
    """Search, label filter, one page of the table with the fine-tuned predictions; a chosen row becomes the
    example."""
    f1, f2 = st.columns([3, 2])
    query = f1.text_input("Search", key=state.SEARCH.key, placeholder="words that must appear in the example")
    options = browse.gold_labels(df)
    if any(x not in options for x in state.LABEL_FILTER.get()):  # another source's labels
        state.LABEL_FILTER.set([x for x in state.LABEL_FILTER.get() if x in options])
    labels = f2.multiselect("Gold label", options, key=state.LABEL_FILTER.key)
    view = browse.filter_examples(df, task, query, labels)
    if view.empty:
        st.info(
            "No example matches this search and label filter. Clear the search box or the label filter.",
            icon=":material/search_off:",
        )
        return
    p1, p2 = st.columns([1, 3])
    page = browse.page_of(view, page_number(p1, state.TABLE_PAGE, browse.page_count(len(view))))
    p2.caption(page.caption)
    predictions = None
    if selection is not None:
        with st.spinner("Predicting …"):
            predictions = get_predictions(selection.pair, *browse.page_texts(page.rows, task))
    table = browse.prediction_table(page.rows, task, predictions)
    layout = browse.prediction_layout(table, task)
    px = layout.widths
    uids = table["uid"].astype(str).tolist()
    chosen_uid = str(state.EXAMPLE.get() or "")
    row = chosen_row(
        table,
        table_key("table", uids),
        column_order=layout.columns,
        row_height=layout.row_height,
        height=layout.height,
        selection_default={"selection": {"rows": [uids.index(chosen_uid)]}} if chosen_uid in uids else None,
        column_config={
            "uid": st.column_config.TextColumn("id", width=px["uid"]),
            "prediction": st.column_config.TextColumn("prediction", width=px.get("prediction")),
            "verdict": st.column_config.TextColumn("verdict", width=px.get("verdict")),
            "gold": st.column_config.TextColumn("gold", width=px["gold"]),
            "confidence": st.column_config.ProgressColumn(
                "confidence", min_value=0.0, max_value=1.0, format="%.2f", width=px.get("confidence")
            ),
            **{col: st.column_config.TextColumn(col, width=px[col]) for col in task.text_columns},
        },
    )
    if row is not None:
        chosen = browse.row_selection(row, task, from_file=info.key == "file")
        if browse.is_new_choice(chosen, state.current(state.EXAMPLE, state.CUSTOM_TEXT, state.CUSTOM_PAIR)):
            state.update(chosen)
            st.rerun()


def custom_example_form(task: Task) -> None:
    """ "Type your own example": the typed text becomes the example."""
    custom_open = not state.EXAMPLE.get() and bool(state.CUSTOM_TEXT.get())
    with st.expander("Type your own example", expanded=custom_open), st.form("custom"):
        text = st.text_area(
            task.text_columns[0].capitalize(), value=state.CUSTOM_TEXT.get(), max_chars=MAX_TYPED_CHARS
        )
        pair_text = None
        if task.is_pair:
            pair_text = st.text_area(
                task.text_columns[1].capitalize(), value=state.CUSTOM_PAIR.get(), max_chars=MAX_TYPED_CHARS
            )
        if st.form_submit_button("Analyse this example"):
            if not text.strip() or (pair_text is not None and not pair_text.strip()):
                st.error("Type both parts of the example: an empty sentence has no attention to show.")
            else:
                state.update({"custom_text": text, "custom_pair": pair_text or "", "example": "", "src": 0})
                state.CUSTOM_GOLD.set("")
                st.rerun()


def finetune_panel(df: pd.DataFrame | None, task: Task, info: SourceInfo) -> None:
    """Fine-tune the user's own counterpart on the labelled rows of the current source and split."""
    st.markdown(
        "Fine-tune a LoRA counterpart of the embedded base model on the labelled rows of the current source and "
        "split (at most 1,000 rows, a few minutes on a laptop CPU; 10 % are held out to measure accuracy). "
        "The result is saved on this machine and appears in the model-pair menu. The same data and seed always "
        "give the same model."
    )
    if df is None or not browse.has_labels(df):
        st.info(
            "This source has no labelled rows to learn from. Pick a labelled source or upload a file.",
            icon=":material/label_off:",
        )
        return
    from attnflow_core.finetune import FinetuneConfig

    name = user_model_name(task.name, info.key, state.SPLIT.get(), df)
    existing = user_model_exists(name)
    if not st.button(
        "Use my counterpart" if existing else "Fine-tune (≈ 2–5 minutes)",
        key="finetune_button",
        type="primary",
    ):
        return
    if not existing:
        progress = progress_to(st.progress(0.0, text="Preparing …"))
        trained = friendly(lambda: finetune_user_model(task.name, df, name, FinetuneConfig.quick(), progress))
        if trained is None:
            st.stop()
        st.success(f"Trained: held-out accuracy {trained:.1%}." if trained == trained else "Trained.")
    state.PAIR.set(f"user:{name}")
    st.rerun()


selection = page_setup()
task = get_task(state.TASK.get())
st.title("Examples")
st.caption(
    f"{task.title}: {task.description} Choose an example to analyse on the Attention flow and Head differences pages."
)
sources = {s.key: s for s in list_sources(task, include_file=True)}
if state.SOURCE.get() not in sources:
    state.SOURCE.set(next(iter(sources)))
c1, c2 = st.columns([2, 1])
c1.selectbox(
    "Data source",
    list(sources),
    format_func=lambda k: sources[k].title + ("" if not sources[k].needs_network else " · needs network"),
    **state.bind(state.SOURCE, lambda: state.update({"split": "", "example": ""})),
)
info = sources[state.SOURCE.get()]
if state.SPLIT.get() not in info.splits:
    state.SPLIT.set(info.splits[0] if info.splits else "")
c2.selectbox("Split", list(info.splits), **state.bind(state.SPLIT, lambda: state.EXAMPLE.set("")))
st.caption(f"{info.description} License: {info.license}")

df = source_table(task, info)
if df is not None and df.empty:
    st.info("This source has no examples. Pick another source or split.", icon=":material/folder_off:")
    df = None
if df is not None:
    example_table(df, task, info, selection)
custom_example_form(task)

st.subheader("Chosen example")
if selection is None:
    st.stop()
chosen: Selection = selection
result = friendly(lambda: get_result(extraction_key(chosen.pair, chosen.text, chosen.text_pair)))
if result is not None:
    example_header(chosen, result)
    st.page_link("pages/flow.py", label="Open it in the Attention flow view", icon=":material/account_tree:")
with st.expander("Make your own fine-tuned counterpart from this data"):
    finetune_panel(df, task, info)
