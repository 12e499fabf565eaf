"""What the main area shows while a session's first run loads the models and the example: the page's title and
what is loading (a cold start left the main area blank for seconds while the sidebar loaded everything).

``app.py`` calls ``begin`` before it runs the page; ``page.page_setup`` calls ``end`` once the sidebar is drawn (the
page's own title follows at once), and ``app.py`` calls it again after the page (pages without the sidebar).
"""

from __future__ import annotations

import threading

import streamlit as st

from pages.ui import state

_RUN = threading.local()  # this script run's placeholder (each run has its own thread)
LOADING_TEXT = "Loading the models and the example … (the first visit takes a few seconds)"


def begin(title: str) -> None:
    """On a session's first run, show ``title`` and what is loading until ``end``; later runs show nothing here
    (their page stays on screen while they run). The placeholder is made on every run, so that everything after it
    keeps its place: an expander that moved by one place would be drawn anew, closed."""
    slot = st.empty()
    _RUN.slot = None
    if state.TASK.key in st.session_state:  # seeded already: not the session's first run
        return
    with slot.container():
        st.title(title)
        st.caption(LOADING_TEXT)
    _RUN.slot = slot


def end() -> None:
    """Remove what ``begin`` showed (nothing when it showed nothing)."""
    slot = getattr(_RUN, "slot", None)
    if slot is not None:
        slot.empty()
        _RUN.slot = None
