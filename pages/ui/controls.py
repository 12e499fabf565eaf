"""The sidebar's example-level settings (attention measure, units, special tokens) and the drawing settings as the
session holds them.

The drawing settings (method, the token to trace from, τ, α, the layer range, heads, per-head edges, emphasise
differences) are not sidebar widgets: they are the Attention flow view's own controls, redrawn in the browser
(``attnflow_core/plots/flow_view.py``); the view reports them back (``pages/ui/views.py``). Here they are read from
the session — seeded from a link, or from the view's last report — each value checked first and dropped with a notice
if it does not fit this model and example. Every option, label and help text comes from the registries.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from attnflow_core.encoding import UNITS
from attnflow_core.extract import ExampleResult
from attnflow_core.flows import SPECIAL_MODES
from attnflow_core.measures import MEASURES
from attnflow_core.methods import METHODS
from attnflow_core.settings import (
    DECAY_SLIDER,
    DEFAULTS,
    HIDE_MODES,
    THRESHOLD_SLIDER,
    FlowSettings,
    parse_flag,
)
from attnflow_core.urlstate import Dropped, parse_float, parse_heads, parse_int, parse_layers
from attnflow_core.vocab import Registry
from pages.ui import state
from pages.ui.boundary import notice


def flow_controls(result: ExampleResult) -> FlowSettings:
    """The example-level widgets (measure, units, special tokens), then the drawing settings from the session, each
    checked against this model and example; returns the settings (valid by construction)."""
    st.divider()
    st.caption("Attention settings (the flow view has its own drawing controls)")
    _registry_radio(
        "Attention measure",
        state.MEASURE,
        MEASURES,
        help=" ".join(m.help for m in sorted(MEASURES, key=lambda m: m != MEASURES.default))
        + " Every method, the graph, the head differences and the exports use the chosen measure (About page).",
    )
    _registry_radio("Units", state.UNIT, UNITS, horizontal=True)
    special = _special_controls()
    return drawing_settings(result, special)


def drawing_settings(result: ExampleResult, special: str) -> FlowSettings:
    """The session's settings for this example: its measure, units and ``special`` mode, and the drawing settings,
    each checked (a value a link brought that does not fit is dropped, with a notice, for its default)."""
    n_layers, n_heads = result.num_layers, result.num_heads
    method = _checked_choice(state.METHOD, METHODS)
    layers = parse_layers(state.LAYERS.raw() or "", n_layers)
    if layers is None and state.LAYERS.raw():
        notice(Dropped("layers", f"write a range such as 1:{n_layers} within 1..{n_layers}"))
    state.LAYERS.set(layers or (1, n_layers))
    heads = parse_heads(state.HEADS.raw() or "", n_heads)
    if heads is None:
        notice(Dropped("heads", f"write head numbers such as 0,3,5 within 0..{n_heads - 1}"))
    state.HEADS.set(list(heads or ()))
    tau = _checked_number(state.TAU, THRESHOLD_SLIDER, DEFAULTS.threshold)
    alpha = _checked_number(state.ALPHA, DECAY_SLIDER, DEFAULTS.decay)
    src = _checked_source(result)
    state.PER_HEAD.set(parse_flag(state.PER_HEAD.raw(), False))
    state.DIFFERENCES.set(parse_flag(state.DIFFERENCES.raw(), True))
    return FlowSettings(
        method=method,
        source=src,
        threshold=tau,
        layers=state.LAYERS.get(),
        heads=tuple(state.HEADS.get()) or None,
        decay=alpha,
        special=SPECIAL_MODES.get(special),
        unit=UNITS.get(state.UNIT.get()),
        measure=MEASURES.get(state.MEASURE.get()),
    )


def session_settings(settings: FlowSettings) -> FlowSettings:
    """``settings``' example-level part with the session's current drawing settings: the flow view may have reported
    new ones since the page's last full run (its fragment reruns alone)."""
    return replace(
        settings,
        method=METHODS.get(state.METHOD.get()),
        source=int(state.SRC.get()),
        threshold=float(state.TAU.get()),
        decay=float(state.ALPHA.get()),
        layers=tuple(state.LAYERS.get()),
        heads=tuple(state.HEADS.get()) or None,
    )


def _checked_choice(field: state.Field[Any], registry: Registry[Any]) -> Any:
    """The session's value of ``field`` as an entry of ``registry``; a link's unknown name is dropped (notice)."""
    if registry.find(field.raw()) is None:
        if field.raw():
            notice(Dropped(state.param_of(field), f"choose one of {', '.join(registry.keys())}"))
        field.set(str(registry.default))
    return registry.get(field.get())


def _registry_radio(label: str, field: state.Field[Any], registry: Registry[Any], **kwargs: Any) -> None:
    """A radio over a vocabulary's entries (the default first, each by its label), the session's value checked
    first: a value from a link that names no entry is dropped with a notice."""
    field.set(_checked_choice(field, registry))
    options = sorted(registry, key=lambda e: e != registry.default)
    st.radio(label, options, **state.bind(field), format_func=lambda e: registry.get(e).label, **kwargs)


def _checked_number(field: state.Field[Any], bounds: tuple[float, float, float], default: float) -> float:
    """The session's value of ``field`` within [lo, hi]; a link's value out of range is dropped (notice)."""
    lo, hi, _ = bounds
    value = parse_float(field.raw(), lo, hi)
    if value is None:
        notice(Dropped(state.param_of(field), f"a number from {lo:g} to {hi:g}"))
    field.set(default if value is None else value)
    return float(field.get())


def _checked_source(result: ExampleResult) -> int:
    """The token (or word) to trace from, in the current units: a source counted in the other units (the units were
    switched) is mapped to the unit that contains it; one out of range is dropped (notice)."""
    unit = str(state.UNIT.get())
    labels = result.encoding.units(unit)[0]
    src = parse_int(state.SRC.raw())
    counted_in = state.SRC_UNIT.get() or unit
    if src is not None and counted_in != unit and 0 <= src < len(result.encoding.units(counted_in)[0]):
        src = result.encoding.convert_unit(src, counted_in, unit)
    if src is None or not 0 <= src < len(labels):
        notice(Dropped("src", f"a token position from 0 to {len(labels) - 1}"))
        src = 0
    state.SRC.set(src)
    state.SRC_UNIT.set(unit)
    return src


def _special_controls() -> str:
    """The special-token toggle (and how to hide them); returns the special-token mode."""
    st.toggle(
        "Hide [CLS]/[SEP] attention",
        **state.bind(state.HIDE_SPECIAL),
        help="Attention to special tokens often acts as a no-op sink (Clark et al. 2019).",
    )
    if not state.HIDE_SPECIAL.get():
        return str(SPECIAL_MODES.default)
    if state.SPECIAL_MODE.get() not in HIDE_MODES:
        state.SPECIAL_MODE.set(str(HIDE_MODES[0]))
    st.radio(
        "How to hide",
        [str(m) for m in HIDE_MODES],
        **state.bind(state.SPECIAL_MODE),
        format_func=lambda m: SPECIAL_MODES.get(m).label,
    )
    return str(state.SPECIAL_MODE.get())
