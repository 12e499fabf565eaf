"""What the main area shows while a session's first run loads the models and the example: the page's title and
what is loading (a cold start left the main area blank for seconds while the sidebar loaded everything).

``app.py`` calls ``begin`` before it runs the page; ``page.page_setup`` calls ``end`` once the sidebar is drawn (the
page's own title follows at once), and ``app.py`` calls it again after the page (pages without the sidebar).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

_RUN = threading.local()  # this script run's placeholder (each run has its own thread)
_LOCK = threading.Lock()  # sessions run on threads of their own
# Sessions remembered as drawn (the oldest forgotten first: it would see the title and what is loading once more).
MAX_SESSIONS = 10_000
LOADING_TEXT = "Loading the models and the example … (the first visit takes a few seconds)"


def begin(title: str) -> None:
    """On a session's first run, show ``title`` and what is loading until ``end``; later runs show nothing here
    (their page stays on screen while they run). The placeholder is made on every run, so that everything after it
    keeps its place: an expander that moved by one place would be drawn anew, closed."""
    slot = st.empty()
    _RUN.slot = None
    if _session() in _drawn():  # the sidebar was drawn once already: not the session's first run
        return
    with slot.container():
        st.title(title)
        st.caption(LOADING_TEXT)
    _RUN.slot = slot


def end() -> None:
    """Remove what ``begin`` showed (nothing when it showed nothing); from now on the session counts as drawn. (A
    first run that a rerun interrupts before this keeps showing what is loading in the next run.)"""
    drawn = _drawn()
    with _LOCK:
        drawn[_session()] = None
        drawn.move_to_end(_session())
        while len(drawn) > MAX_SESSIONS:
            drawn.popitem(last=False)
    slot = getattr(_RUN, "slot", None)
    if slot is not None:
        slot.empty()
        _RUN.slot = None


def _session() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


@st.cache_resource(show_spinner=False)
def _drawn() -> OrderedDict[str, None]:
    """Sessions whose sidebar has been drawn (shared by all sessions, bounded by ``MAX_SESSIONS``)."""
    return OrderedDict()
