"""Examples: pick a data source, browse and filter examples, see predictions, choose one (or type your own)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from attnflow_core.data.files import MAX_UPLOAD_MB
from attnflow_core.data.sources import list_sources
from attnflow_core.data.tasks import DEFAULT_TASK, get_task, is_correct
from attnflow_core.data.userfile import DataFileError
from attnflow_core.extract import predict_many
from attnflow_core.user_models import finetune_user_model, user_model_exists, user_model_name
from pages import common

PAGE_SIZE = 20
# A long paste is accepted; the model reads its first MAX_LENGTH tokens (the example header says so).
MAX_TYPED_CHARS = 20_000


@st.cache_data(show_spinner=False, max_entries=4)
def get_user_file(
    data: bytes, filename: str, task: str, mapping: tuple[tuple[str, str], ...], split: str
) -> pd.DataFrame:
    """The user's uploaded file, validated as a whole (nothing half-loaded); ``split`` only keys the cache."""
    from attnflow_core.data.userfile import load_user_file

    given = {k: v.strip() for k, v in mapping if v.strip() and v.strip() != k}
    return load_user_file(data, task, mapping=given or None, filename=filename).to_pandas()


@st.cache_data(show_spinner=False, max_entries=64)
def get_predictions(
    base_ref: str,
    tuned_ref: str,
    tuned_labels: tuple[str, ...] | None,
    texts: tuple[str, ...],
    text_pairs: tuple[str | None, ...],
) -> list[tuple[str, float] | None]:
    pair = common.get_pair(base_ref, tuned_ref, tuned_labels)
    preds = predict_many(pair.tuned, list(texts), list(text_pairs), max_length=common.MAX_LENGTH)
    return [None if p is None else (p.label, p.confidence) for p in preds]


@st.cache_data(show_spinner=False, max_entries=8)
def kept_upload(digest: str, filename: str, _data: bytes | None = None) -> bytes | None:
    """The bytes of an uploaded file by digest (``_data`` is not part of the key): a later run, on another page
    visit, finds the file again after the uploader widget forgot it. Bounded: the 8 newest files."""
    return _data


def remembered_upload(upload: Any) -> tuple[bytes, str] | None:
    """(bytes, file name) of the uploaded file: the uploader's, else the one this session uploaded before."""
    ss = st.session_state
    if upload is not None:
        data = upload.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        kept_upload(digest, upload.name, data)
        ss["upload_digest"], ss["upload_name"] = digest, upload.name
        return data, upload.name
    kept_digest, kept_name = str(ss.get("upload_digest") or ""), str(ss.get("upload_name") or "")
    if not kept_digest or not kept_name:
        return None
    kept = kept_upload(kept_digest, kept_name)
    return None if kept is None else (kept, kept_name)


def forget_upload_unless_new() -> None:
    """The person removed the file from the uploader: forget it (a new file replaces it in ``remembered_upload``)."""
    if st.session_state.get("upload") is None:
        st.session_state.pop("upload_digest", None)
        st.session_state.pop("upload_name", None)


def column_error_points_at_the_boxes(load: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A missing-column error names the column boxes under the uploader instead of an API argument."""
    try:
        return load()
    except DataFileError as err:
        message = re.sub(r"\s*Rename it or pass mapping=.*$", "", str(err))
        if message != str(err):
            message += ". Type your file's column name in the matching box under the uploader."
        raise DataFileError(message) from None


selection = common.page_setup()
ss = st.session_state
task = get_task(ss.get("task", DEFAULT_TASK))

st.title("Examples")
st.caption(
    f"{task.title}: {task.description} Choose an example to analyse on the Attention flow and Head differences pages."
)

sources = {s.key: s for s in list_sources(task.name, include_file=True)}
if ss.get("source") not in sources:
    ss["source"] = next(iter(sources))
c1, c2 = st.columns([2, 1])
c1.selectbox(
    "Data source",
    list(sources),
    format_func=lambda k: sources[k].title + ("" if not sources[k].needs_network else " · needs network"),
    **common.bind("source", lambda: ss.update(split="", example="")),
)
info = sources[ss["source"]]
if ss.get("split") not in info.splits:
    ss["split"] = info.splits[0] if info.splits else ""
c2.selectbox("Split", list(info.splits), **common.bind("split", lambda: ss.update(example="")))
st.caption(f"{info.description} License: {info.license}")

df: pd.DataFrame | None = None
if info.key == "file":
    upload = st.file_uploader(
        "Your file (CSV, JSON Lines or Parquet)",
        type=["csv", "jsonl", "json", "parquet"],
        max_upload_size=MAX_UPLOAD_MB,
        key="upload",
        on_change=forget_upload_unless_new,
    )
    st.caption(
        "Which column of your file holds each field (leave as is when the names match; label is optional):"
    )
    map_cols = st.columns(len(task.text_columns) + 1)
    mapping = {
        col: map_cols[i].text_input(col, value=col, key=f"map_{col}")
        for i, col in enumerate([*task.text_columns, "label"])
    }
    kept = remembered_upload(upload)
    if kept is not None:
        data, filename = kept
        if upload is None:
            st.caption(
                f"Your file **{common.md_escape(filename)}** (kept from before; upload another to replace it)."
            )
        df = common.friendly(
            lambda: column_error_points_at_the_boxes(
                lambda: get_user_file(data, filename, task.name, tuple(sorted(mapping.items())), ss["split"])
            )
        )
else:
    try:
        with st.spinner(f"Loading {info.title} …"):
            df = common.get_examples(task.name, info.key, ss["split"])
    except Exception as err:  # noqa: BLE001 - any source failure becomes a message that names the way out
        st.warning(
            f"**{info.title}** is not available right now: {err}\n\n"
            "Pick the demo set, a corpus that is already cached, or upload your own file.",
            icon=":material/cloud_off:",
        )
if df is not None and df.empty:
    st.info("This source has no examples. Pick another source or split.", icon=":material/folder_off:")
    df = None

if df is not None:
    f1, f2 = st.columns([3, 2])
    query = f1.text_input("Search", key="search", placeholder="words that must appear in the example")
    labels_present = sorted({str(x) for x in df["label"] if str(x)})
    chosen_labels = f2.multiselect("Gold label", labels_present, key="label_filter")
    view = df
    if query.strip():
        mask = pd.Series(False, index=df.index)
        for col in task.text_columns:
            mask |= df[col].astype(str).str.contains(query.strip(), case=False, regex=False)
        view = view[mask]
    if chosen_labels:
        view = view[view["label"].astype(str).isin(chosen_labels)]
    if view.empty:
        st.info(
            "No example matches this search and label filter. Clear the search box or the label filter.",
            icon=":material/search_off:",
        )
    else:
        n_pages = max(1, -(-len(view) // PAGE_SIZE))
        p1, p2 = st.columns([1, 3])
        page = int(p1.number_input("Page", min_value=1, max_value=n_pages, value=1, step=1, key="page"))
        p2.caption(f"{len(view):,} examples · page {page} of {n_pages}")
        page_df = view.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].reset_index(drop=True)
        table = page_df[["uid", *task.text_columns, "label"]].rename(columns={"label": "gold"})
        if selection is not None:
            spec = selection.pair
            second = page_df[task.text_columns[1]] if len(task.text_columns) > 1 else [None] * len(page_df)
            with st.spinner("Predicting …"):
                preds = get_predictions(
                    spec.base,
                    spec.tuned,
                    spec.label_names,
                    tuple(str(t) for t in page_df[task.text_columns[0]]),
                    tuple(None if s is None else str(s) for s in second),
                )
            table["prediction"] = [p[0] if p else "" for p in preds]
            table["confidence"] = [p[1] if p else None for p in preds]
            verdicts = [is_correct(p[0] if p else None, g) for p, g in zip(preds, table["gold"], strict=True)]
            table["verdict"] = ["" if v is None else ("✓ correct" if v else "✗ wrong") for v in verdicts]
        event = st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            on_select="rerun",
            selection_mode="single-row",
            key="table",
            # The model's columns first and the texts last and bounded: at 1,500 px the prediction, confidence and
            # verdict stay in view however long the texts are (a cell shows its whole text on hover).
            column_order=[c for c in ("uid", "prediction", "confidence", "verdict", "gold", *task.text_columns)
                          if c in table.columns],
            column_config={
                "uid": st.column_config.TextColumn("id", width="small"),
                "prediction": st.column_config.TextColumn("prediction", width="small"),
                "verdict": st.column_config.TextColumn("verdict", width="small"),
                "gold": st.column_config.TextColumn("gold", width="small"),
                "confidence": st.column_config.ProgressColumn(
                    "confidence", min_value=0.0, max_value=1.0, format="%.2f", width="small"
                ),
                **{
                    col: st.column_config.TextColumn(col, width="medium" if task.is_pair else "large")
                    for col in task.text_columns
                },
            },
        )  # fmt: skip
        rows = event.selection.rows if event is not None else []
        if rows:
            row = table.iloc[rows[0]]
            if info.key == "file":
                # An uploaded file lives only in this browser session, so its rows travel as custom text.
                first = str(row[task.text_columns[0]])
                second = str(row[task.text_columns[1]]) if len(task.text_columns) > 1 else ""
                if (first, second) != (ss.get("custom_text"), ss.get("custom_pair")) or ss.get("example"):
                    gold = str(row["gold"]) if "gold" in row and pd.notna(row["gold"]) else ""
                    ss.update(custom_text=first, custom_pair=second, custom_gold=gold, example="", src=0)
                    st.rerun()
            elif str(row["uid"]) != ss.get("example"):
                ss.update(example=str(row["uid"]), src=0)
                st.rerun()

custom_open = not ss.get("example") and bool(ss.get("custom_text"))
with st.expander("Type your own example", expanded=custom_open), st.form("custom"):
    text = st.text_area(
        task.text_columns[0].capitalize(), value=ss.get("custom_text", ""), max_chars=MAX_TYPED_CHARS
    )
    pair_text = None
    if len(task.text_columns) > 1:
        pair_text = st.text_area(
            task.text_columns[1].capitalize(), value=ss.get("custom_pair", ""), max_chars=MAX_TYPED_CHARS
        )
    if st.form_submit_button("Analyse this example"):
        if not text.strip() or (pair_text is not None and not pair_text.strip()):
            st.error("Type both parts of the example: an empty sentence has no attention to show.")
        else:
            ss["custom_text"], ss["custom_pair"], ss["example"], ss["src"] = text, pair_text or "", "", 0
            ss["custom_gold"] = ""
            st.rerun()

st.subheader("Chosen example")
if selection is None:
    st.stop()
chosen: common.Selection = selection
result = common.friendly(
    lambda: common.get_result(
        chosen.pair.base, chosen.pair.tuned, chosen.pair.label_names, chosen.text, chosen.text_pair
    )
)
if result is not None:
    common.example_header(chosen, result)
    st.page_link("pages/flow.py", label="Open it in the Attention flow view", icon=":material/account_tree:")

with st.expander("Make your own fine-tuned counterpart from this data"):
    st.markdown(
        "Fine-tune a LoRA counterpart of the embedded base model on the labelled rows of the current source and "
        "split (at most 1,000 rows, a few minutes on a laptop CPU; 10 % are held out to measure accuracy). "
        "The result is saved on this machine and appears in the model-pair menu. The same data and seed always "
        "give the same model."
    )
    if df is None or df.empty or not (df["label"].astype(str) != "").any():
        st.info(
            "This source has no labelled rows to learn from. Pick a labelled source or upload a file.",
            icon=":material/label_off:",
        )
    else:
        from attnflow_core.finetune import FinetuneConfig

        name = user_model_name(task.name, info.key, ss["split"], df)
        existing = user_model_exists(name)
        label = "Use my counterpart" if existing else "Fine-tune (≈ 2–5 minutes)"
        if st.button(label, key="finetune_button", type="primary"):
            if not existing:
                bar = st.progress(0.0, text="Preparing …")
                trained = common.friendly(
                    lambda: finetune_user_model(
                        task.name,
                        df,
                        name,
                        FinetuneConfig.quick(),
                        common.progress_to(bar),
                    )
                )
                if trained is None:
                    st.stop()
                st.success(f"Trained: held-out accuracy {trained:.1%}." if trained == trained else "Trained.")
            ss["pair"] = f"user:{name}"
            st.rerun()
