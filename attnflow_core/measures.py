"""Attention measures: what a flow method treats as "how much token j takes from token i" in one head.

- ``attention``: the raw attention weights α^h_ji (the paper's measure).
- ``norm``: the norm-weighted attention of Kobayashi et al. (2020, "Attention is Not Only a Weight"). Head h's
  output at query j is Σ_i α^h_ji f^h(x_i) with f^h(x) = (x W_V^h + b_V^h) W_O^h, where W_V^h, b_V^h are the
  head's slice of the value projection and W_O^h the head's slice of the attention output projection
  (``attention.output.dense``; its bias is shared by all heads and left out). Token i's contribution to that sum
  has the norm ‖α^h_ji f^h(x_i)‖ = α^h_ji ‖f^h(x_i)‖, and the row-normalised contributions

      N[l, h, j, i] = α[l, h, j, i] · ‖f^h_l(x_i)‖ / Σ_i' α[l, h, j, i'] · ‖f^h_l(x_i')‖

  form a row-stochastic matrix every flow method can use. Where every ‖f^h(x_i)‖ of a head is equal, N = α.
  Attention to [CLS]/[SEP] typically carries vectors of small norm, so the sinks of the raw weights shrink.

The vocabulary is ``MEASURES``: each entry says what it needs from the forward pass (``needs``: the weights, the
value-vector norms, layer internals), whether it has a per-head part (``per_head``; without one it yields
(L, 1, n, n) and the pages say so), whether it already includes the residual stream (``includes_residual``: rollout
and max-flow then add no ½·I) and its ``compute`` function. The one policy for a capture that lacks what a measure
needs: ``apply_measure`` (asked for that measure explicitly) raises ``MeasureError``; the analysis pipeline first
asks ``measure_for``, which falls back to the raw weights and says so in its result.

Adding a measure: one entry in ``MEASURES`` and its ``compute`` function (in a module of its own), plus its test.
Pure functions over arrays; what they read is captured in the models' forward pass (``extract``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.errors import SettingsError
from attnflow_core.vocab import Choice, Registry

__all__ = [
    "DEFAULT_MEASURE",
    "RAW_WEIGHTS",
    "LAYER_INTERNALS",
    "MEASURES",
    "VALUE_NORMS",
    "WEIGHTS",
    "Captured",
    "Measure",
    "MeasureError",
    "apply_measure",
    "measure_attention",
    "measure_for",
    "norm_weighted",
]

#: What a measure can need from the forward pass (``Measure.needs``, ``Captured.provides``).
WEIGHTS, VALUE_NORMS, LAYER_INTERNALS = "weights", "value_norms", "layer_internals"
_NEED_WORDS = {
    WEIGHTS: "the attention weights",
    VALUE_NORMS: "the value-vector norms",
    LAYER_INTERNALS: "the layer internals (hidden states and LayerNorm statistics)",
}


class MeasureError(SettingsError):
    """An unknown measure, or a measure without what it needs (a ValueError too, for older handlers)."""


@dataclass(frozen=True, eq=False)
class Captured:
    """What one model's forward pass captured on one example (or a batch: leading axes): every measure's input.

    ``attn`` (..., L, H, n, n) the attention weights; ``vnorm`` (..., L, H, n) the value-vector norms ‖f^h(x_i)‖
    (None when not captured); ``internals``: whatever the layer-internals hooks record (layer inputs, value vectors,
    LayerNorm statistics: the object the contribution measures read; None when not captured).
    """

    attn: np.ndarray
    vnorm: np.ndarray | None = None
    internals: Any = None

    @property
    def provides(self) -> frozenset[str]:
        have = {WEIGHTS}
        if self.vnorm is not None:
            have.add(VALUE_NORMS)
        if self.internals is not None:
            have.add(LAYER_INTERNALS)
        return frozenset(have)


class Measure(Choice):
    """An attention measure: its words, what it needs, its shape and its ``compute`` (Captured -> (..., L, H, n, n)
    rows summing to 1, or (..., L, 1, n, n) without a per-head part)."""

    compute: Callable[[Captured], np.ndarray]
    needs: frozenset[str] = frozenset({WEIGHTS})
    per_head: bool = True
    includes_residual: bool = False

    def missing(self, captured: Captured) -> frozenset[str]:
        """What this measure needs that ``captured`` lacks (empty when it can be computed)."""
        return self.needs - captured.provides


def norm_weighted(attn: np.ndarray, vnorm: np.ndarray) -> np.ndarray:
    """Norm-weighted attention: attn (L, H, n, n), vnorm (L, H, n) -> (L, H, n, n) float32, rows summing to 1.

    ``N[l, h, j, i] = attn[l, h, j, i] * vnorm[l, h, i] / sum_i' attn[l, h, j, i'] * vnorm[l, h, i']``, where
    ``vnorm[l, h, i] = ‖f^h_l(x_i)‖`` (see the module docstring). A row whose weighted sum is 0 (all attention on
    zero-norm vectors) keeps its raw weights, so every row stays a distribution. Leading batch axes are allowed:
    attn (..., n, n) with vnorm (..., n).
    """
    a = np.asarray(attn, dtype=np.float64)
    v = np.asarray(vnorm, dtype=np.float64)
    if v.shape != a.shape[:-1]:
        raise ValueError(f"vnorm must have shape {a.shape[:-1]} (attn without its last axis); got {v.shape}")
    if (v < 0).any():
        raise ValueError("vnorm holds norms, which cannot be negative")
    w = a * v[..., None, :]
    total = w.sum(-1, keepdims=True)
    safe = np.where(total > 0, total, 1.0)
    out = np.where(total > 0, w / safe, a)
    return out.astype(np.float32)


def _weights(captured: Captured) -> np.ndarray:
    return captured.attn


def _norm(captured: Captured) -> np.ndarray:
    assert captured.vnorm is not None  # checked against ``needs`` by ``measure_attention``
    return norm_weighted(captured.attn, captured.vnorm)


#: The measures in the order tables list them; the norm-weighted measure is the default.
MEASURES: Registry[Measure] = Registry(
    "measure",
    (
        Measure(
            "attention",
            label="Raw attention weights (the paper)",
            phrase="attention weights",
            short="raw attention weights",
            help="Raw weights: the paper's α.",
            compute=_weights,
        ),
        Measure(
            "norm",
            label="Norm-weighted ‖α·f(x)‖ (Kobayashi et al. 2020)",
            phrase="norm-weighted attention",
            short="norm-weighted ‖α·f(x)‖",
            help="Norm-weighted: how much each token's vector actually contributes to a head's output, ‖α·f(x)‖; "
            "attention to [CLS]/[SEP] carries small vectors, so those sinks shrink.",
            compute=_norm,
            needs=frozenset({WEIGHTS, VALUE_NORMS}),
        ),
    ),
    default="norm",
)
DEFAULT_MEASURE: Measure = MEASURES.default
#: The raw attention weights: every capture allows them, so the analysis falls back to them when a capture lacks
#: what the chosen measure needs (``measure_for``).
RAW_WEIGHTS: Measure = MEASURES.get("attention")


def measure_for(measure: str, captured: Captured) -> Measure:
    """The measure the analysis applies: ``measure`` when ``captured`` provides what it needs, else the raw weights
    (``RAW_WEIGHTS``; the result records which measure it was computed under)."""
    m = MEASURES.get(measure)
    return RAW_WEIGHTS if m.missing(captured) else m


def measure_attention(captured: Captured, measure: str) -> np.ndarray:
    """One model's attention (..., L, H, n, n) under ``measure``; a MeasureError naming the fix when ``measure`` is
    unknown or ``captured`` lacks what it needs."""
    m = MEASURES.find(measure)
    if m is None:
        raise MeasureError(f"measure must be one of {MEASURES.keys()}; got {measure!r}")
    missing = m.missing(captured)
    if missing:
        words = " and ".join(_NEED_WORDS[n] for n in sorted(missing))
        raise MeasureError(
            f"the {m} measure needs {words}, and this result has none: re-extract the example (extract() captures "
            f"them) or choose measure '{RAW_WEIGHTS}'"
        )
    return m.compute(captured)


def apply_measure(attn: np.ndarray, vnorm: np.ndarray | None, measure: str) -> np.ndarray:
    """attn (..., n, n) under ``measure``: unchanged for ``attention``, ``norm_weighted`` for ``norm``."""
    return measure_attention(Captured(attn, vnorm), measure)
