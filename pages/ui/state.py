"""Typed access to the session's values, and the URL that mirrors the selection.

Every value the pages share across runs is a ``Field`` here (its session-state key written once); the ones a link
carries follow ``urlstate.URL_PARAMS``, the URL schema the presets use too. ``st.session_state`` holds widget values
only: the selection (task, pair, example, settings) and each widget's current value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, cast

import streamlit as st

from attnflow_core.flows import SPECIAL_MODES
from attnflow_core.settings import HIDE_MODES, format_layers
from attnflow_core.urlstate import (
    KNOWN_PARAMS,
    PRESET_PARAM,
    SPECIAL_PARAM,
    URL_PARAMS,
    bounded_params,
    max_chars,
)
from pages.ui.boundary import notice

T = TypeVar("T")
_URL = {p.key: p for p in URL_PARAMS}


class Field(Generic[T]):
    """One session value: its key and default, read and written typed. Values a link seeded arrive as text until
    the sidebar has checked them (``raw``)."""

    def __init__(self, key: str, default: T) -> None:
        self.key = key
        self.default = default

    def get(self) -> T:
        return cast(T, st.session_state.get(self.key, self.default))

    def raw(self) -> object:
        """The stored value as it is (text from a link, before the sidebar checks it)."""
        return st.session_state.get(self.key)

    def set(self, value: T) -> None:
        st.session_state[self.key] = value

    def pop(self) -> None:
        st.session_state.pop(self.key, None)

    def text(self) -> str:
        """The value as stripped text ("" when unset)."""
        return str(st.session_state.get(self.key, "") or "").strip()


def param_of(field: Field[Any]) -> str:
    """The query parameter that carries ``field`` (its key when no link carries it)."""
    return _URL[field.key].param if field.key in _URL else field.key


def _url(key: str) -> Field[Any]:
    return Field(key, _URL[key].default)


# the selection a link carries (urlstate.URL_PARAMS), then the special-token toggle (one parameter, ``special``)
TASK, PAIR, SOURCE, SPLIT, EXAMPLE = (_url(k) for k in ("task", "pair", "source", "split", "example"))
CUSTOM_TEXT, CUSTOM_PAIR, CUSTOM_BASE, CUSTOM_TUNED = (
    _url(k) for k in ("custom_text", "custom_pair", "custom_base", "custom_tuned")
)
CHECKPOINT = _url("checkpoint")  # the fine-tuned model's checkpoint: its step as text, "" = the final one
METHOD, MEASURE, UNIT, SRC = (_url(k) for k in ("method", "measure", "unit", "src"))
LAYERS, HEADS, TAU, ALPHA = (_url(k) for k in ("layers", "heads", "tau", "alpha"))
PER_HEAD, DIFFERENCES = _url("per_head"), _url("differences")
HIDE_SPECIAL: Field[bool] = Field("hide_special", False)
SPECIAL_MODE: Field[str] = Field("special_mode", str(HIDE_MODES[0]))
# the rest of the session
CUSTOM_GOLD: Field[str] = Field("custom_gold", "")  # the gold label of a row chosen from an uploaded file
CUSTOM_CONFIRMED: Field[list[str] | None] = Field(
    "custom_confirmed", None
)  # [base, tuned, any base an adapter names] the person confirmed
UPLOAD_DIGEST: Field[str] = Field("upload_digest", "")
UPLOAD_NAME: Field[str] = Field("upload_name", "")
SRC_UNIT: Field[str] = Field("src_unit", "")  # the units SRC counts in (a units switch maps it: controls.py)
#: the drawing settings the flow view last reported (``views.py``): what the view already shows
VIEW_REPORT: Field[dict[str, Any] | None] = Field("view_report", None)
HEAD_PICK: Field[tuple[int, int] | None] = Field("head_pick", None)  # the head shown on Head differences
PICKED_HEADS: Field[list[str]] = Field("impact_heads", [])  # the heads to zero or patch (their names)
# the Examples table's widgets: a task switch forgets them (``TABLE_WIDGETS``), so the new task's table starts at its
# first page, unfiltered and unselected, and the chosen example is the task's first (on every page alike)
SEARCH: Field[str] = Field("search", "")
LABEL_FILTER: Field[list[str]] = Field("label_filter", [])
TABLE_PAGE: Field[int] = Field("page", 1)
TABLE_WIDGETS = (SEARCH, LABEL_FILTER, TABLE_PAGE)
OVERVIEW_PAGE: Field[int] = Field("ov_page", 1)  # the page of the Dataset overview's ranked examples
FIELDS = {f.key: f for f in globals().values() if isinstance(f, Field)}


def update(values: Mapping[str, Any]) -> None:
    """Set several session values at once (a choice from ``browse``), each by its field's key."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise KeyError(f"no session field {unknown}")
    for key, value in values.items():
        FIELDS[key].set(value)


def current(*fields: Field[Any]) -> dict[str, Any]:
    """{key: value} of ``fields`` (what ``browse`` compares a choice with)."""
    return {f.key: f.get() for f in fields}


def seed_from_url() -> None:
    """Once per session, seed the selection from the URL query string (so shared links reopen the same view).

    A URL with ``preset=<key>`` (the preset links, ``attnflow_core.presets``) replaces the selection in a running
    session too; ``sync_url`` then drops the ``preset`` parameter.
    """
    # seeded already: the session's own values win over the URL (a preset link replaces them)
    if TASK.key in st.session_state and PRESET_PARAM not in st.query_params:
        return
    params, dropped = bounded_params({k: st.query_params.get(k, "") for k in st.query_params}, KNOWN_PARAMS)
    for item in dropped:
        notice(item)
    # setdefault: a key is seeded from the URL only when the session does not have it yet (its first run).
    ss = st.session_state
    put = ss.__setitem__ if PRESET_PARAM in params else ss.setdefault
    for p in URL_PARAMS:
        put(p.key, params.get(p.param, p.default))
    special = params.get(SPECIAL_PARAM, str(SPECIAL_MODES.default))
    put(HIDE_SPECIAL.key, special in HIDE_MODES)
    put(SPECIAL_MODE.key, special if special in HIDE_MODES else str(HIDE_MODES[0]))


def sync_url(implicit: Mapping[str, str] | None = None) -> None:
    """Mirror the selection into the URL so the view can be shared; only non-default values are written (nor the
    ``implicit`` ones: {key: value} that count as defaults here, e.g. the task's first pair, the full layer range)."""
    implicit = implicit or {}
    wanted = {}
    for p in URL_PARAMS:
        value = st.session_state.get(p.key, p.default)
        if p.key == LAYERS.key and isinstance(value, (list, tuple)):
            value = format_layers((value[0], value[1]))
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        value = str(value)
        if len(value) > max_chars(p.param):
            continue  # a long pasted text stays in the session; a link cannot carry it
        if value not in (p.default, "", implicit.get(p.key)):
            wanted[p.param] = value
    if HIDE_SPECIAL.get():
        wanted[SPECIAL_PARAM] = str(SPECIAL_MODE.get())
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


def _page_id() -> str:
    """The page being run (its script hash), or "" outside a running app."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return str(getattr(ctx, "page_script_hash", "") or "") if ctx is not None else ""


def bind(field: Field[Any], then: Callable[[], None] | None = None) -> dict[str, Any]:
    """Widget kwargs that keep ``field``'s value across pages.

    A widget's identity includes its page, so the same key drawn on another page would start from its default.
    The value therefore lives under the field's key and the widget under ``_w_<key>``, seeded from it on every run
    and copied back when the user changes it. The callback (``then``) must stay light: heavy work belongs to the run.
    """
    key = field.key
    wkey, pkey = f"_w_{key}", f"_p_{key}"
    # Seed the widget only on a new page or when the app changed the value: assigning a widget's state on every
    # run makes Streamlit push that value back to the browser, which overwrote quick arrow-key steps on a slider
    # made while a rerun was under way. (``_p_<key>`` records the page the widget was last drawn on.)
    page = _page_id()
    ss = st.session_state
    if ss.get(pkey) != page or wkey not in ss or ss[wkey] != ss.get(key):
        ss[wkey] = ss.get(key)
    ss[pkey] = page

    def store() -> None:
        st.session_state[key] = st.session_state[wkey]
        if then is not None:
            then()

    return {"key": wkey, "on_change": store}
