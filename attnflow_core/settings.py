"""The analysis settings vocabulary, defined once: flow methods, special-token modes, units, the ``FlowSettings``
dataclass (its defaults and its validation) and the one layer-range / head-list syntax of the URL and the CLI.

Imports nothing from the rest of the package, so the computation modules, the pages and the CLI all read from here.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from attnflow_core.errors import AttnflowError

Method = Literal["trace", "rollout", "maxflow"]
SpecialMode = Literal["keep", "exclude", "renormalise"]
Unit = Literal["token", "word"]
#: What a flow method reads as "how much token j takes from token i" (see ``attnflow_core.measures``).
Measure = Literal["attention", "norm"]

METHODS: tuple[Method, ...] = get_args(Method)
SPECIAL_MODES: tuple[SpecialMode, ...] = get_args(SpecialMode)
UNITS: tuple[Unit, ...] = get_args(Unit)
#: The special-token modes that hide [CLS]/[SEP] (the sidebar's toggle), its default first.
HIDE_MODES: tuple[SpecialMode, ...] = ("renormalise", "exclude")
MEASURES: tuple[Measure, ...] = get_args(Measure)
DEFAULT_MEASURE: Measure = "norm"
#: The trace threshold τ's default (the app's, the CLI's, the URL's and ``flows``'s).
DEFAULT_THRESHOLD = 0.1


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


class SettingsError(AttnflowError, ValueError):
    """A setting is out of range or unknown; the message names the valid values."""


def check_threshold_decay(threshold: float, decay: float) -> None:
    """The one check of the trace threshold τ ∈ [0, 1] and decay α ∈ (0, 1]; SettingsError otherwise."""
    if not 0.0 <= threshold <= 1.0:
        raise SettingsError(f"threshold must be in [0, 1]; got {threshold}")
    if not 0.0 < decay <= 1.0:
        raise SettingsError(f"decay must be in (0, 1]; got {decay}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """SettingsError naming ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        raise SettingsError(f"{name} must be one of {choices}; got {value!r}")


def as_method(value: str) -> Method:
    """``value`` as a Method (a widget's or a URL's string); SettingsError naming the methods otherwise."""
    check_choice("method", value, METHODS)
    return cast(Method, value)


def as_special(value: str) -> SpecialMode:
    """``value`` as a SpecialMode; SettingsError naming the modes otherwise."""
    check_choice("special", value, SPECIAL_MODES)
    return cast(SpecialMode, value)


def as_measure(value: str) -> Measure:
    """``value`` as a Measure; SettingsError naming the measures otherwise."""
    check_choice("measure", value, MEASURES)
    return cast(Measure, value)


def as_unit(value: str) -> Unit:
    """``value`` as a Unit; SettingsError naming the units otherwise."""
    check_choice("unit", value, UNITS)
    return cast(Unit, value)


@dataclass(frozen=True)
class FlowSettings:
    """The user's analysis settings. ``layers`` are 1-based transformer layers (a, b), inclusive; None = all.

    ``source`` indexes the unit chosen by ``unit`` (a token, or a word group); 0 is always [CLS]. The defaults
    here are the app's, the CLI's and the URL's defaults.
    """

    method: Method = "trace"
    source: int = 0
    threshold: float = DEFAULT_THRESHOLD
    layers: tuple[int, int] | None = None
    heads: tuple[int, ...] | None = None
    decay: float = 1.0
    special: SpecialMode = "keep"
    unit: Unit = "token"
    measure: Measure = DEFAULT_MEASURE

    def flow_kwargs(self) -> dict[str, Any]:
        """The keyword arguments every flow function takes (``flows.flow_scores``, ``trace_pair``,
        ``graph.pair_graph``): source, threshold, layers, heads and decay."""
        return {
            "source": self.source,
            "threshold": self.threshold,
            "layers": self.layers,
            "heads": self.heads,
            "decay": self.decay,
        }

    def validated(self, num_layers: int, num_heads: int, n: int) -> FlowSettings:
        """Return self if every field fits a model with these sizes; otherwise a SettingsError naming the fix."""
        check_choice("method", self.method, METHODS)
        check_choice("special", self.special, SPECIAL_MODES)
        check_choice("unit", self.unit, UNITS)
        check_choice("measure", self.measure, MEASURES)
        check_threshold_decay(self.threshold, self.decay)
        if not 0 <= self.source < n:
            raise SettingsError(
                f"source must index one of the {n} {self.unit}s (0..{n - 1}); got {self.source}"
            )
        if self.layers is not None:
            a, b = self.layers
            if not 1 <= a <= b <= num_layers:
                raise SettingsError(f"layers must satisfy 1 <= a <= b <= {num_layers}; got {self.layers}")
        if self.heads is not None:
            if not self.heads:
                raise SettingsError("heads must name at least one head; use None for all heads")
            bad = [h for h in self.heads if not 0 <= h < num_heads]
            if bad:
                raise SettingsError(f"heads must be in 0..{num_heads - 1}; got {bad}")
        return self


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
