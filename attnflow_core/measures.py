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

Pure functions over arrays; the norms are captured in the models' forward pass (``extract``).
"""

from __future__ import annotations

import numpy as np

from attnflow_core.settings import DEFAULT_MEASURE, MEASURES, Measure, SettingsError

__all__ = [
    "DEFAULT_MEASURE",
    "MEASURES",
    "MEASURE_LABELS",
    "MEASURE_SHORT",
    "MEASURE_TITLES",
    "Measure",
    "apply_measure",
    "norm_weighted",
]

MEASURE_LABELS = {
    "norm": "Norm-weighted ‖α·f(x)‖ (Kobayashi et al. 2020)",
    "attention": "Raw attention weights (the paper)",
}
#: The measure as figure titles name it ("Attention rollout of norm-weighted attention from ...").
MEASURE_TITLES = {"attention": "attention weights", "norm": "norm-weighted attention"}
MEASURE_SHORT = {"norm": "norm-weighted ‖α·f(x)‖", "attention": "raw attention weights"}


class MeasureError(SettingsError):
    """An unknown measure, or the norm measure without value norms (a ValueError too, for older handlers)."""


def check_measure(measure: str) -> str:
    """``measure`` if it is one of ``MEASURES``; otherwise an AttnflowError naming the choices."""
    if measure not in MEASURES:
        raise MeasureError(f"measure must be one of {MEASURES}; got {measure!r}")
    return measure


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


def apply_measure(attn: np.ndarray, vnorm: np.ndarray | None, measure: str) -> np.ndarray:
    """attn (..., n, n) under ``measure``: unchanged for ``attention``, ``norm_weighted`` for ``norm``."""
    check_measure(measure)
    if measure == "attention":
        return attn
    if vnorm is None:
        raise MeasureError(
            "the norm measure needs the value-vector norms, and this result has none: re-extract the example "
            "(extract() captures them) or choose measure 'attention'"
        )
    return norm_weighted(attn, vnorm)
