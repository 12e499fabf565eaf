"""The app's URL schema, defined once, and defensive parsing of its query values: pure functions, no Streamlit.

``URL_PARAMS`` says which selection value travels in which query parameter and with which default (a link leaves
defaults out); the pages' state (``pages/ui/state.py``) and the presets (``presets``) both read it. A shared link is
untrusted input: every value is bounded in length and parsed here; a value that does not parse is dropped (the
caller falls back to the default and shows a one-line notice naming the parameter), never raised.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from attnflow_core import settings
from attnflow_core.data.tasks import DEFAULT_TASK


@dataclass(frozen=True)
class UrlParam:
    """One selection value in the URL: its state ``key`` (the pages' session-state name), its query ``param`` and
    the ``default`` a link leaves out."""

    key: str
    param: str
    default: str


_D = settings.DEFAULTS
#: The selection values a link carries, in the order the pages seed them.
URL_PARAMS: tuple[UrlParam, ...] = (
    UrlParam("task", "task", DEFAULT_TASK),
    UrlParam("pair", "pair", ""),
    UrlParam("source", "source", "demo"),
    UrlParam("split", "split", ""),
    UrlParam("example", "ex", ""),
    UrlParam("custom_text", "text", ""),
    UrlParam("custom_pair", "text_pair", ""),
    UrlParam("custom_base", "base", ""),
    UrlParam("custom_tuned", "tuned", ""),
    UrlParam("checkpoint", "step", ""),  # the fine-tuned model's checkpoint (its step; "" = the final one)
    UrlParam("method", "method", str(_D.method)),
    UrlParam("layers", "layers", ""),
    UrlParam("heads", "heads", ""),
    UrlParam("tau", "tau", str(_D.threshold)),
    UrlParam("alpha", "alpha", str(_D.decay)),
    UrlParam("src", "src", str(_D.source)),
    UrlParam("unit", "unit", str(_D.unit)),
    UrlParam("per_head", "per_head", "False"),
    UrlParam("differences", "diff", "True"),
    UrlParam("measure", "measure", str(_D.measure)),
)
#: The hidden special-token mode travels as one parameter (absent = keep them).
SPECIAL_PARAM = "special"
#: ``preset=<key>`` makes a link's query replace a running session's selection (``presets``).
PRESET_PARAM = "preset"
#: Every query parameter the app reads.
KNOWN_PARAMS = frozenset({p.param for p in URL_PARAMS} | {SPECIAL_PARAM, PRESET_PARAM})
_BY_KEY = {p.key: p for p in URL_PARAMS}


def url_query(**values: object) -> tuple[tuple[str, str], ...]:
    """(parameter, value) pairs for selection values named by their state keys, e.g.
    ``url_query(task="qa", example="qnli-val-31", src=1)`` -> (("task", "qa"), ("ex", "qnli-val-31"), ("src", "1")).
    """
    unknown = sorted(set(values) - set(_BY_KEY))
    if unknown:
        raise settings.SettingsError(f"no URL parameter carries {unknown}; known: {sorted(_BY_KEY)}")
    return tuple((_BY_KEY[k].param, str(v)) for k, v in values.items())


#: Query parameters that carry free text (an example typed by the user): longer values are allowed.
TEXT_PARAMS = frozenset({"text", "text_pair"})
#: Query parameters that name a model (a Hub id or a folder).
REF_PARAMS = frozenset({"base", "tuned"})
MAX_TEXT_CHARS = 2_000
MAX_REF_CHARS = 200
MAX_VALUE_CHARS = 100


@dataclass(frozen=True)
class Dropped:
    """A query value that was not used, and why (for the one-line notice)."""

    param: str
    reason: str

    def notice(self) -> str:
        return f"Ignored the link's `{self.param}` value: {self.reason}."


def max_chars(param: str) -> int:
    """The longest value accepted for ``param``."""
    if param in TEXT_PARAMS:
        return MAX_TEXT_CHARS
    if param in REF_PARAMS:
        return MAX_REF_CHARS
    return MAX_VALUE_CHARS


def bounded_params(
    params: Mapping[str, str], known: set[str] | frozenset[str]
) -> tuple[dict[str, str], list[Dropped]]:
    """The known query values within their length bounds, and the values dropped (too long or unprintable).

    Unknown parameters are ignored silently (other tools add their own, e.g. tracking ids).
    """
    kept: dict[str, str] = {}
    dropped: list[Dropped] = []
    for param, value in params.items():
        if param not in known:
            continue
        value = str(value)
        limit = max_chars(param)
        if len(value) > limit:
            dropped.append(Dropped(param, f"longer than {limit:,} characters"))
        elif param not in TEXT_PARAMS and any(unicodedata.category(c).startswith("C") for c in value):
            dropped.append(Dropped(param, "it holds control characters"))
        else:
            kept[param] = value
    return kept, dropped


def parse_int(value: object) -> int | None:
    """An integer written in plain ASCII digits (optional leading minus), else None (``²``, ``nan``, ``--1``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits or len(digits) > 9 or not (digits.isascii() and digits.isdigit()):
        return None
    return int(text)


#: A decimal number in plain ASCII (``0.1``, ``.5``, ``1e-3``): not ``١`` (Python's float() reads any script's
#: digits), not ``1_0``, ``nan`` or ``inf``.
_ASCII_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_float(value: object, lo: float, hi: float) -> float | None:
    """A finite number within [lo, hi] written in ASCII digits, else None (``nan``, ``inf``, ``1e999``, ``١``,
    ``1_0``, text, out of range)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        x = float(value)
    else:
        text = str(value).strip()
        if not _ASCII_NUMBER.fullmatch(text):
            return None
        x = float(text)
    if not math.isfinite(x) or not lo <= x <= hi:
        return None
    return x


def parse_layers(value: object, num_layers: int) -> tuple[int, int] | None:
    """A layer range ``a:b`` (or the old ``a-b``, or a 2-sequence) within 1..num_layers with a ≤ b, else None.

    The syntax is ``settings.parse_layers``'s (the one definition); this adds the model's range and never raises."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            return None
        a, b = parse_int(value[0]), parse_int(value[1])
        parsed = None if a is None or b is None else (a, b)
    else:
        try:
            parsed = settings.parse_layers(str(value))
        except settings.SettingsError:
            return None
    if parsed is None or not 1 <= parsed[0] <= parsed[1] <= num_layers:
        return None
    return parsed


def parse_heads(value: object, num_heads: int) -> tuple[int, ...] | None:
    """A head subset ``0,3,5`` (or a sequence) of indices in 0..num_heads-1, sorted and unique; ``""`` = all
    heads (the empty tuple). None when any item is not a valid head. The syntax is ``settings.parse_heads``'s."""
    if isinstance(value, (list, tuple)):
        items = [parse_int(v) for v in value]
        if any(h is None for h in items):
            return None
        heads: tuple[int, ...] = tuple(sorted({h for h in items if h is not None}))
    else:
        try:
            heads = settings.parse_heads(str(value)) or ()
        except settings.SettingsError:
            return None
    if any(not 0 <= h < num_heads for h in heads):
        return None
    return heads


def parse_choice(value: object, choices: tuple[str, ...] | list[str]) -> str | None:
    """``value`` when it is one of ``choices``, else None."""
    text = str(value)
    return text if text in choices else None


def parse_step(value: object, steps: tuple[int, ...] | list[int]) -> int | None:
    """A checkpoint's step (``step=113``) among ``steps`` (the fine-tuned model's, ``models.list_checkpoints``),
    else None (not a number, or no checkpoint of this model)."""
    step = parse_int(value)
    return step if step is not None and step in steps else None
