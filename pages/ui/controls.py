"""The sidebar's flow settings: method, measure, layer range, heads, τ, α, units, the token to trace from and the
special tokens. Every option, label and help text comes from the vocabularies' registries; a control the chosen
method or measure ignores is disabled, with the entry's reason beneath it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from attnflow_core.encoding import UNITS
from attnflow_core.extract import ExampleResult
from attnflow_core.flows import SPECIAL_MODES
from attnflow_core.measures import MEASURES
from attnflow_core.methods import METHODS
from attnflow_core.settings import DEFAULTS, HIDE_MODES, FlowSettings
from attnflow_core.urlstate import Dropped, parse_float, parse_heads, parse_int, parse_layers
from attnflow_core.vocab import Registry
from pages.ui import state
from pages.ui.boundary import notice


def _reason(text: str) -> None:
    """Why the control above does nothing under the current choice (one line)."""
    if text:
        st.caption(f":material/block: {text}")


def flow_controls(result: ExampleResult) -> FlowSettings:
    """The flow settings' widgets, each value checked first and dropped with a notice if it does not fit this model
    and example; returns the settings (valid by construction)."""
    st.divider()
    st.caption("Flow settings")
    _method_controls()
    _range_controls(result.num_layers, result.num_heads)
    src, special = _trace_controls(result)
    return FlowSettings(
        method=METHODS.get(state.METHOD.get()),
        source=src,
        threshold=float(state.TAU.get()),
        layers=(int(state.LAYERS.get()[0]), int(state.LAYERS.get()[1])),
        heads=tuple(int(h) for h in state.HEADS.get()) or None,
        decay=float(state.ALPHA.get()),
        special=SPECIAL_MODES.get(special),
        unit=UNITS.get(state.UNIT.get()),
        measure=MEASURES.get(state.MEASURE.get()),
    )


def _registry_radio(label: str, field: state.Field[Any], registry: Registry[Any], **kwargs: Any) -> None:
    """A radio over a vocabulary's entries (the default first, each by its label), the session's value checked
    first: a value from a link that names no entry is dropped with a notice."""
    if registry.find(field.raw()) is None:
        if field.raw():
            notice(Dropped(state.param_of(field), f"choose one of {', '.join(registry.keys())}"))
        field.set(registry.default)
    field.set(registry.get(field.get()))
    options = sorted(registry, key=lambda e: e != registry.default)
    st.radio(label, options, **state.bind(field), format_func=lambda e: registry.get(e).label, **kwargs)


def _method_controls() -> None:
    """The method and attention-measure radios."""
    _registry_radio("Method", state.METHOD, METHODS)
    _registry_radio(
        "Attention measure",
        state.MEASURE,
        MEASURES,
        help=" ".join(m.help for m in sorted(MEASURES, key=lambda m: m != MEASURES.default))
        + " Every method, the graph, the head differences and the exports use the chosen measure (About page).",
    )


def _range_controls(n_layers: int, n_heads: int) -> None:
    """The layer range and head subset, then the threshold τ and decay α sliders."""
    method, measure = METHODS.get(state.METHOD.get()), MEASURES.get(state.MEASURE.get())
    layers = parse_layers(state.LAYERS.raw() or "", n_layers)
    if layers is None and state.LAYERS.raw():
        notice(Dropped("layers", f"write a range such as 1:{n_layers} within 1..{n_layers}"))
    state.LAYERS.set(layers or (1, n_layers))
    st.slider(
        "Layer range",
        1,
        n_layers,
        **state.bind(state.LAYERS),
        help="Trace only through these transformer layers.",
    )
    heads = parse_heads(state.HEADS.raw() or "", n_heads)
    if heads is None:
        notice(Dropped("heads", f"write head numbers such as 0,3,5 within 0..{n_heads - 1}"))
    state.HEADS.set(list(heads or ()))
    st.multiselect(
        "Heads (none selected = all)",
        list(range(n_heads)),
        **state.bind(state.HEADS),
        help="Restrict the flow to a subset of attention heads.",
        disabled=not measure.per_head,
    )
    _reason("" if measure.per_head else f"The {measure.phrase} have no per-head part: every head is used.")
    _number_slider(
        "Threshold τ", state.TAU, (0.0, 1.0, 0.01), DEFAULTS.threshold, method.unused("threshold"),
        help="Trace keeps edges with weight ≥ τ.",
    )  # fmt: skip
    _number_slider(
        "Decay α per layer", state.ALPHA, (0.05, 1.0, 0.05), DEFAULTS.decay, method.unused("decay"),
        help="Trace influence is multiplied by α for every layer it travels: node markers further from the "
        "source shrink, and heads near the source weigh more in the head grid. The sentence view's scores are "
        "normalised, so α does not change them.",
    )  # fmt: skip


def _number_slider(
    label: str,
    field: state.Field[Any],
    bounds: tuple[float, float, float],
    default: float,
    unused: str,
    help: str,
) -> None:
    """A slider over [lo, hi] in steps (``bounds``), the session's value checked first (a link's value out of range
    is dropped with a notice); disabled, with the reason under it, when the method ignores it (``unused``)."""
    lo, hi, step = bounds
    value = parse_float(field.raw(), lo, hi)
    if value is None:
        notice(Dropped(state.param_of(field), f"a number from {lo:g} to {hi:g}"))
    field.set(default if value is None else value)
    st.slider(label, lo, hi, step=step, **state.bind(field), help=help, disabled=bool(unused))
    _reason(unused)


def _trace_controls(result: ExampleResult) -> tuple[int, str]:
    """The units radio, the source token and the special-token toggle; returns (source index, special mode)."""
    _registry_radio("Units", state.UNIT, UNITS, horizontal=True)
    labels = result.encoding.units(state.UNIT.get())[0]
    src = parse_int(state.SRC.raw())
    if src is None or not 0 <= src < len(labels):
        notice(Dropped("src", f"a token position from 0 to {len(labels) - 1}"))
        src = 0
    state.SRC.set(src)
    st.selectbox(
        "Trace from",
        list(range(len(labels))),
        **state.bind(state.SRC),
        format_func=lambda i: f"{labels[i]}  (#{i})",
        help="The token at the deepest layer where the trace starts ([CLS] by default). "
        "Clicking a token node in the flow graph sets it here (and in the URL).",
    )
    st.toggle(
        "Hide [CLS]/[SEP] attention",
        **state.bind(state.HIDE_SPECIAL),
        help="Attention to special tokens often acts as a no-op sink (Clark et al. 2019).",
    )
    if not state.HIDE_SPECIAL.get():
        return src, str(SPECIAL_MODES.default)
    if state.SPECIAL_MODE.get() not in HIDE_MODES:
        state.SPECIAL_MODE.set(str(HIDE_MODES[0]))
    st.radio(
        "How to hide",
        [str(m) for m in HIDE_MODES],
        **state.bind(state.SPECIAL_MODE),
        format_func=lambda m: SPECIAL_MODES.get(m).label,
    )
    return src, str(state.SPECIAL_MODE.get())
