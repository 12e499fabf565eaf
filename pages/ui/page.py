"""How every page starts (navigation, the URL, the sidebar) and the chosen example's header."""

from __future__ import annotations

import runpy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from attnflow_core.data.tasks import get_task, is_correct, verdict
from attnflow_core.extract import ExampleResult
from attnflow_core.tables import table_layout
from pages.ui import loading, state
from pages.ui.boundary import md_escape
from pages.ui.loaders import MAX_LENGTH
from pages.ui.sidebar import Selection, sidebar

APP_PATH = Path(__file__).resolve().parents[2] / "app.py"
HISTORY_JS = Path(__file__).with_name("history.js")
BOKEH_GC_JS = Path(__file__).with_name("bokeh_gc.js")
LONG_TEXT_CHARS = 600  # longer example texts are collapsed (an expander) above the figures


def ensure_navigation() -> None:
    """Make sure the page runs inside ``app.py``'s ``st.navigation``, even on a fresh server's first request.

    Streamlit (1.67) decides per server process whether the app uses the old ``pages/`` folder discovery: until some
    run has called ``st.navigation``, a request for a sub-page URL (a shared link such as ``/flow?task=qa`` opened
    right after ``streamlit run``) runs ``pages/<page>.py`` on its own, under an automatic menu that lists every file
    in ``pages/`` and without ``app.py``'s page config. When that happens, run ``app.py`` here instead: its
    ``st.navigation`` switches the discovery off and runs this same page inside the app, and the stand-alone run
    stops. (No rerun: a rerun would drop the button press that started this run.)
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the flag has no such fallback either
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        runpy.run_path(str(APP_PATH), run_name="__main__")
        st.stop()


def replace_history_for_settings() -> None:
    """Make setting changes replace the browser's history entry instead of pushing one (``history.js``), so that
    Back goes to the previous page rather than to the same view with a previous slider value; and drop Bokeh
    documents whose figures have left the page (``bokeh_gc.js``). Both scripts are the project's own files."""
    scripts = "\n".join(path.read_text(encoding="utf-8") for path in (HISTORY_JS, BOKEH_GC_JS))
    st.html(f"<script>{scripts}</script>", unsafe_allow_javascript=True)


def page_setup() -> Selection | None:
    """Every page starts here: state from the URL (once), the shared sidebar, then the URL mirrors the selection."""
    ensure_navigation()
    replace_history_for_settings()
    state.seed_from_url()
    with st.spinner("Updating …"):
        selection = sidebar()
    loading.end()  # the page's own title follows
    state.sync_url(selection.url_defaults if selection is not None else None)
    return selection


def chosen_row(table: pd.DataFrame, key: str, **kwargs: Any) -> pd.Series | None:
    """Show ``table`` (full width, one selectable row; ``kwargs`` for ``st.dataframe``): the selected row, or None."""
    event = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=key,
        **kwargs,
    )
    rows = event.selection.rows if event is not None else []
    return table.iloc[rows[0]] if rows else None


def page_number(container: Any, field: state.Field[int], count: int) -> int:
    """A table's page number input (1..``count``) in ``container``; a stored page beyond ``count`` (the filter or
    the data changed) is clamped first, so the widget never holds a value outside its range."""
    if int(field.get() or 1) > count:
        field.set(count)
    return int(container.number_input("Page", min_value=1, max_value=count, value=1, step=1, key=field.key))


def fitted_table(rows: Any, texts: Sequence[str], short_px: Mapping[str, int] | None = None) -> None:
    """A read-only table (``rows``: records or a frame) whose columns fit the window (``tables.table_layout``):
    the ``texts`` columns share what the short ones (``short_px``) leave and wrap."""
    df = pd.DataFrame(rows)
    layout = table_layout(list(df.columns), {c: df[c].astype(str).tolist() for c in texts}, short_px)
    st.dataframe(
        df,
        hide_index=True,
        width="stretch",
        row_height=layout.row_height,
        height=layout.height,
        column_config={c: st.column_config.TextColumn(c, width=w) for c, w in layout.widths.items()},
    )


def progress_to(bar: Any) -> Callable[[float, str], None]:
    """A ``progress(fraction, message)`` callback for the core that moves an ``st.progress`` bar."""

    def update(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    return update


def example_header(selection: Selection, result: ExampleResult, note: str = "") -> None:
    """The example's text, the fine-tuned prediction beside the gold label, and notes (truncation; a measure that
    could not be applied: ``note``)."""
    task = get_task(selection.task)
    cols = task.text_columns
    parts = [(cols[0], selection.text)]
    if selection.text_pair is not None and task.is_pair:
        parts.append((cols[1], selection.text_pair))
    lines = "  \n".join(f"**{name.capitalize()}:** {md_escape(text)}" for name, text in parts)
    if sum(len(text) for _, text in parts) > LONG_TEXT_CHARS:
        words = sum(len(t.split()) for _, t in parts)
        with st.expander(f"{cols[0].capitalize()} ({words:,} words): show the text"):
            st.markdown(lines)
    else:
        st.markdown(lines)
    pred = result.prediction_tuned
    c1, c2, c3 = st.columns(3)
    if pred is not None:
        # the confidence is a level, not a change: no arrow (an "↑" read as an increase)
        c1.metric(
            "Fine-tuned prediction",
            md_escape(pred.label),
            f"confidence {pred.confidence:.0%}",
            delta_color="off",
            delta_arrow="off",
        )
    else:
        c1.metric(
            "Fine-tuned prediction",
            "—",
            "the tuned model has no classification head",
            delta_color="off",
            delta_arrow="off",
        )
    c2.metric("Gold label", md_escape(selection.gold) if selection.gold else "—")
    ok = is_correct(pred.label if pred is not None else None, selection.gold)
    if ok is not None:
        c3.metric("Verdict", verdict(ok))
    st.caption(
        f"Pre-trained: {md_escape(result.base_ref)} ({result.base_weights or 'weights format unknown'}) · "
        f"fine-tuned: {md_escape(result.tuned_ref)} ({result.tuned_weights or 'weights format unknown'}) · "
        f"attention measure: {selection.settings.measure.label}"
    )
    from attnflow_core.presets import TEASER_ATTRIBUTION, TEASER_UID

    if selection.example_uid == TEASER_UID:
        st.caption(f"Source: {TEASER_ATTRIBUTION}")
    if result.encoding.truncated:
        st.warning(
            f"This example has {result.encoding.n_untruncated} tokens; the app analyses the first {result.encoding.n} "
            f"(limit {MAX_LENGTH}). The CLI takes --max-length up to the model's 512.",
            icon=":material/content_cut:",
        )
    if note:
        st.info(note, icon=":material/info:")
