"""Rendering Bokeh layouts on a page: static ones (``render_bokeh``), and the interactive views that redraw in the
browser (``view_host``, with its ``view_link`` in a fragment), plus the bridge that turns a tap on a Head differences
heatmap cell into page state.

The interactive views (``attnflow_core/plots/flow_view.py``) are hosted by one components.v2 module per view
(``view_host.js``): its data is the view's binary payload (document + measured attention), sent on a full run of the
page; the same payload again changes nothing in the browser. The link (``view_link.js``), mounted inside an
``st.fragment``, carries the server's wishes to the view (the session's drawing settings, max-flow solutions) and the
view's reports back, rerunning only its fragment. Both modules share ``view_common.js``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from attnflow_core.impact import head_name
from pages.ui import state

_HERE = Path(__file__).parent


def _js(*names: str) -> str:
    return "\n".join((_HERE / name).read_text(encoding="utf-8") for name in names)


_view_host = st.components.v2.component(
    "attnflow.view_host",
    js=_js("view_common.js", "view_host.js"),
    html="<div class='attnflow-view'></div>",
    isolate_styles=False,
)
_view_link = st.components.v2.component(
    "attnflow.view_link", js=_js("view_common.js", "view_link.js"), isolate_styles=False
)
_head_bridge = st.components.v2.component(
    "attnflow.head_bridge",
    js=_js("head_bridge.js"),
    isolate_styles=False,
)


def view_host(payload: bytes, key: str) -> None:
    """Mount an interactive view from its packed payload (``flow_payload.pack_view``)."""
    _view_host(key=key, data=payload, height="content")


def view_link(key: str, wanted: dict[str, Any], on_report: Callable[[], None]) -> Any:
    """Mount (invisible) the link of a view: ``wanted`` = {kind, id, settings, maxflow, fresh} goes to the view;
    ``on_report`` runs before the fragment reruns when the view reports settings (``reported(key)`` reads them)."""
    return _view_link(key=key, data=wanted, on_settings_change=on_report, height=0)


def reported(key: str) -> dict[str, Any] | None:
    """The settings the view reported through the link ``key`` (None when it has not)."""
    value = _value(key, "settings")
    return dict(value) if hasattr(value, "keys") else None


def render_bokeh(layout: Any, key: str) -> None:
    """Render one (linked) Bokeh layout. Linked figures must share one call: one Bokeh document.

    The builders size their layouts (``plots.theme.fit``); stretching to the container would rescale the height
    from the width and let the figures overlap what follows.
    """
    from streamlit_bokeh import streamlit_bokeh

    streamlit_bokeh(layout, use_container_width=False, key=key)


def _value(key: str, name: str) -> Any:
    value: Any = st.session_state.get(key)
    return value.get(name) if hasattr(value, "get") else getattr(value, name, None)


def _on_head_click(n_heads: int) -> None:
    """Runs before the rerun: the tapped cell's head joins or leaves the selection and is shown below."""
    cell = _value("head_click", "head")
    if cell is None:
        return
    layer, head = int(cell) // n_heads + 1, int(cell) % n_heads
    name = head_name(layer, head)
    picked = list(state.PICKED_HEADS.get() or [])
    state.PICKED_HEADS.set([p for p in picked if p != name] if name in picked else [*picked, name])


def head_bridge(n_heads: int) -> None:
    """Mount the bridge (invisible) that lets a tap on the head heatmaps select heads for zeroing/patching."""
    _head_bridge(key="head_click", on_head_change=lambda: _on_head_click(n_heads), height=0)
