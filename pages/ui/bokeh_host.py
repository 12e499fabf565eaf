"""Rendering Bokeh layouts on a page, and the invisible bridges that turn a click in a figure into page state.

A click is state: the flow graph's node click sets the sidebar's "trace from" (``source_bridge.js``), a tap on a
Head differences heatmap cell adds the head to (or removes it from) the heads to zero or patch (``head_bridge.js``).
Each bridge installs a ``window`` function the figure's own JavaScript calls; its value comes back here before the
rerun.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from attnflow_core.impact import head_name
from pages.ui import state

_source_bridge = st.components.v2.component(
    "attnflow.source_bridge",
    js=Path(__file__).with_name("source_bridge.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)
_head_bridge = st.components.v2.component(
    "attnflow.head_bridge",
    js=Path(__file__).with_name("head_bridge.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)


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


def _on_node_click() -> None:
    """Runs before the rerun: the clicked token becomes the sidebar's source (the URL and exports follow)."""
    source = _value("flow_click", "source")
    if source is not None:
        state.SRC.set(int(source))


def source_bridge() -> None:
    """Mount the bridge (invisible) that makes a click on a flow-graph node the token to trace from."""
    _source_bridge(key="flow_click", on_source_change=_on_node_click, height=0)


def _on_head_click(n_heads: int) -> None:
    """Runs before the rerun: the tapped cell's head joins or leaves the selection and is shown below."""
    cell = _value("head_click", "head")
    if cell is None:
        return
    layer, head = int(cell) // n_heads + 1, int(cell) % n_heads
    name = head_name(layer, head)
    picked = list(state.PICKED_HEADS.get() or [])
    state.PICKED_HEADS.set([p for p in picked if p != name] if name in picked else [*picked, name])
    state.HEAD_PICK.set((layer, head))


def head_bridge(n_heads: int) -> None:
    """Mount the bridge (invisible) that lets a tap on the head heatmaps select heads for zeroing/patching."""
    _head_bridge(key="head_click", on_head_change=lambda: _on_head_click(n_heads), height=0)
