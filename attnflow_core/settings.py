"""The analysis settings, built once and valid by construction, and the one layer-range / head-list syntax of the
URL and the CLI.

``FlowSettings`` is the user's whole selection (what the sidebar, a link, the CLI or a test asks for). Building one
checks everything that needs no model: every name through its vocabulary's registry (each becomes the registry's
entry, which *is* the key string), τ and α in range; ``validated`` adds the checks against a model and an example
(layers, heads, source). The pipeline (``attnflow_core.pipeline``) keys its stages by the two parts of the settings:
``ExampleSettings`` (measure, units, special tokens: the measured attention) and ``methods.FlowKey`` (method, source,
layers, heads, and τ/α only where the method reads them: the flows).

The vocabularies live beside their functions, one registry each: ``methods.METHODS``, ``measures.MEASURES``,
``flows.SPECIAL_MODES``, ``encoding.UNITS`` and ``saliency.SALIENCY_METHODS`` (machinery: ``vocab``).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from attnflow_core.encoding import UNITS, Unit
from attnflow_core.errors import SettingsError
from attnflow_core.flows import (
    DEFAULT_DECAY,
    DEFAULT_THRESHOLD,
    SPECIAL_MODES,
    SpecialMode,
    check_decay,
    check_layers,
    check_source,
    check_threshold,
    select_heads,
)
from attnflow_core.measures import DEFAULT_MEASURE, MEASURES, Measure
from attnflow_core.methods import METHODS, TRACE, FlowKey, Method

__all__ = [
    "ALLOW_CUSTOM_ENV",
    "DEFAULTS",
    "HIDE_MODES",
    "ExampleSettings",
    "FlowSettings",
    "SettingsError",
    "allow_custom_models",
    "format_layers",
    "parse_flag",
    "parse_heads",
    "parse_layers",
]

#: The special-token modes that hide [CLS]/[SEP] (the sidebar's toggle), its default (renormalising) first.
HIDE_MODES: tuple[SpecialMode, ...] = tuple(
    sorted((m for m in SPECIAL_MODES if m.hides), key=lambda m: not m.renormalises)
)

#: The threshold τ's and the decay α's sliders (app and export): (lowest, highest, step). α must stay above 0.
THRESHOLD_SLIDER: tuple[float, float, float] = (0.0, 1.0, 0.01)
DECAY_SLIDER: tuple[float, float, float] = (0.05, 1.0, 0.05)

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_flag(value: object, default: bool) -> bool:
    """An on/off value from a URL, a widget or an environment variable: a bool, or 1/true/yes/on vs 0/false/no/off
    (any case); anything else (a missing or garbled value) gives ``default``."""
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    return True if text in _TRUE else False if text in _FALSE else default


#: Server setting, a security switch: visitors may name their own models (Hub ids, folders) only while it is unset
#: or set to an explicit on value (``allow_custom_models``).
ALLOW_CUSTOM_ENV = "ATTNFLOW_ALLOW_CUSTOM_MODELS"
_LOG = logging.getLogger(__name__)


def allow_custom_models(value: str | None) -> bool:
    """``ALLOW_CUSTOM_ENV``'s value -> whether custom model references are allowed. It fails closed: unset (None)
    or an explicit on value (1/true/yes/on, any case) allows them; an off value (0/false/no/off) turns them off,
    and so does anything else (``disabled``, ``n``, an empty value), which is logged once per value."""
    if value is None:
        return True
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text not in _FALSE:
        _log_unrecognised(ALLOW_CUSTOM_ENV, value)
    return False


@functools.lru_cache(maxsize=16)
def _log_unrecognised(name: str, value: str) -> None:
    _LOG.warning(
        "%s=%r is not an on/off value (1/true/yes/on or 0/false/no/off): custom models are turned OFF",
        name,
        value,
    )


@dataclass(frozen=True)
class ExampleSettings:
    """The settings the measured attention of an example depends on (its cache key beside the extraction's):
    the attention measure, the units and the special-token treatment. Names become registry entries."""

    measure: Measure = DEFAULT_MEASURE
    unit: Unit = UNITS.default
    special: SpecialMode = SPECIAL_MODES.default

    def __post_init__(self) -> None:
        object.__setattr__(self, "measure", MEASURES.get(self.measure))
        object.__setattr__(self, "unit", UNITS.get(self.unit))
        object.__setattr__(self, "special", SPECIAL_MODES.get(self.special))


@dataclass(frozen=True)
class FlowSettings:
    """The user's analysis settings. ``layers`` are 1-based transformer layers (a, b), inclusive; None = all.

    ``source`` indexes the unit chosen by ``unit`` (a token, or a word group); 0 is always [CLS]. The defaults
    here are the app's, the CLI's and the URL's defaults. Names may be given as keys: they become the registries'
    entries (an unknown one is a SettingsError naming the choices), ``heads`` a sorted tuple of unique heads.
    """

    method: Method = METHODS.default
    source: int = 0
    threshold: float = DEFAULT_THRESHOLD
    layers: tuple[int, int] | None = None
    heads: tuple[int, ...] | None = None
    decay: float = DEFAULT_DECAY
    special: SpecialMode = SPECIAL_MODES.default
    unit: Unit = UNITS.default
    measure: Measure = DEFAULT_MEASURE

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "method", METHODS.get(self.method))
        put(self, "special", SPECIAL_MODES.get(self.special))
        put(self, "unit", UNITS.get(self.unit))
        put(self, "measure", MEASURES.get(self.measure))
        put(self, "threshold", check_threshold(self.threshold))
        put(self, "decay", check_decay(self.decay))
        put(self, "source", int(self.source))
        if self.layers is not None:
            put(self, "layers", (int(self.layers[0]), int(self.layers[1])))
        if self.heads is not None:
            put(self, "heads", tuple(sorted({int(h) for h in self.heads})))

    def validated(self, num_layers: int, num_heads: int, n: int) -> FlowSettings:
        """Return self if the layers, heads and source fit a model with these sizes and an example of ``n`` units;
        otherwise a SettingsError naming the fix (the checks ``flows`` applies too, written once there)."""
        check_source(self.source, n, self.unit.phrase)
        check_layers(self.layers, num_layers)
        if self.heads is not None:
            select_heads(num_heads, self.heads)
        return self

    @property
    def example(self) -> ExampleSettings:
        """The part the measured attention depends on."""
        return ExampleSettings(self.measure, self.unit, self.special)

    def flow_key(self, num_layers: int) -> FlowKey:
        """The part the flows depend on (``methods.FlowKey``: τ and α only where the method reads them)."""
        return FlowKey.of(
            self.method, self.source, self.layers or (1, num_layers), self.heads, self.threshold, self.decay
        )

    def trace_key(self, num_layers: int) -> FlowKey:
        """The key of the thresholded trace with these settings (the traced edges, whatever method is drawn)."""
        return FlowKey.of(
            TRACE, self.source, self.layers or (1, num_layers), self.heads, self.threshold, self.decay
        )


DEFAULTS = FlowSettings()
_INT = re.compile(r"[0-9]{1,6}")


def format_layers(layers: tuple[int, int]) -> str:
    """(a, b) -> 'a:b', the one written form of a layer range (URL and CLI)."""
    return f"{int(layers[0])}:{int(layers[1])}"


def parse_layers(value: str | None) -> tuple[int, int] | None:
    """'a:b' (1-based, inclusive) -> (a, b); the old URL form 'a-b' is read too; None or '' -> None (all layers).

    Raises SettingsError for anything else; the range is checked against the model by ``FlowSettings.validated``.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    sep = ":" if ":" in text else "-"
    parts = text.split(sep)
    if len(parts) != 2 or not all(_INT.fullmatch(p.strip()) for p in parts):
        raise SettingsError(f"a layer range looks like A:B, e.g. 1:6; got {value!r}")
    return int(parts[0]), int(parts[1])


def parse_heads(values: Iterable[str] | str | None) -> tuple[int, ...] | None:
    """['0', '3,5'] or '0,3,5' -> (0, 3, 5), sorted and unique; None or nothing -> None (all heads)."""
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    parts = [h.strip() for v in items for h in str(v).split(",") if h.strip()]
    if not parts:
        return None
    if not all(_INT.fullmatch(p) for p in parts):
        raise SettingsError(f"heads are head numbers such as 0 3 5 or 0,3,5; got {items}")
    return tuple(sorted({int(p) for p in parts}))
