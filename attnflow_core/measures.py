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

- ``alti``, ``globenc``: contributions with the residual stream and the LayerNorms inside (Ferrando et al. 2022;
  Modarressi et al. 2022; ``contributions``), from the layer internals recorded in the same forward pass.
- ``value-zeroing``: Mohebbi et al. (2023; ``value_zeroing``): each layer rerun once per token with that token's
  value vectors zeroed; computed right after the forward pass (``Measure.rerun``, which needs the model), bounded.

The vocabulary is ``MEASURES``: each entry says what it needs from the forward pass (``needs``: the weights, the
value-vector norms, layer internals, its own layer reruns), whether it has a per-head part (``per_head``; without one
it yields (L, 1, n, n) and the pages say so), whether it already includes the residual stream
(``includes_residual``: rollout and max-flow then add no ½·I), its ``compute`` function and, for a measure that
must rerun parts of the model, its ``rerun`` (``Captured.reran`` holds the result). ``Capture.of(measure)`` says
what an extraction must record for a measure. The one policy for a capture that lacks what a measure needs:
``apply_measure``/``measure_attention`` (asked for that measure explicitly) raise ``MeasureError``; the analysis
pipeline first asks ``measure_for``, which falls back to the raw weights and says so in its result.

Adding a measure: one entry in ``MEASURES`` and its ``compute`` function (in a module of its own), plus its test.
Pure functions over arrays; what they read is captured in the models' forward pass (``extract``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from attnflow_core.errors import SettingsError
from attnflow_core.vocab import Choice, Registry

__all__ = [
    "DEFAULT_MEASURE",
    "LAYER_RERUNS",
    "Capture",
    "WEIGHTS_AND_NORMS",
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
    "with_reruns",
]

#: What a measure can need from the forward pass (``Measure.needs``, ``Captured.provides``); ``LAYER_RERUNS``: the
#: measure's own reruns of the model's layers (``Measure.rerun``), held in ``Captured.reran`` under its key.
WEIGHTS, VALUE_NORMS, LAYER_INTERNALS = "weights", "value_norms", "layer_internals"
LAYER_RERUNS = "layer_reruns"
_NEED_WORDS = {
    WEIGHTS: "the attention weights",
    VALUE_NORMS: "the value-vector norms",
    LAYER_INTERNALS: "the layer internals (hidden states and LayerNorm statistics)",
    LAYER_RERUNS: "its reruns of the model's layers",
}
#: A progress callback: (fraction done in [0, 1], message).
Progress = Callable[[float, str], None]


class MeasureError(SettingsError):
    """An unknown measure, or a measure without what it needs (a ValueError too, for older handlers)."""


@dataclass(frozen=True, eq=False)
class Captured:
    """What one model's forward pass captured on one example (or a batch: leading axes): every measure's input.

    ``attn`` (..., L, H, n, n) the attention weights; ``vnorm`` (..., L, H, n) the value-vector norms ‖f^h(x_i)‖
    (None when not captured); ``internals``: whatever the layer-internals hooks record (``internals.Internals``:
    layer inputs, value vectors, LayerNorm statistics, the object the contribution measures read; None when not
    captured); ``reran``: {measure key: its matrices (L, 1, n, n)} for the measures whose layer reruns
    (``Measure.rerun``) were computed after the pass (one example only).
    """

    attn: np.ndarray
    vnorm: np.ndarray | None = None
    internals: Any = None
    reran: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def provides(self) -> frozenset[str]:
        have = {WEIGHTS}
        if self.vnorm is not None:
            have.add(VALUE_NORMS)
        if self.internals is not None:
            have.add(LAYER_INTERNALS)
        return frozenset(have)

    def example(self, k: int, length: int) -> Captured:
        """Example ``k`` of a padded batch capture, its first ``length`` tokens (no batch axis, no padding)."""
        m = int(length)
        return Captured(
            attn=self.attn[k, ..., :m, :m],
            vnorm=None if self.vnorm is None else self.vnorm[k, ..., :m],
            internals=None if self.internals is None else self.internals.example(k, m),
        )


class Measure(Choice):
    """An attention measure: its words, what it needs, its shape and its ``compute`` (Captured -> (..., L, H, n, n)
    rows summing to 1, or (..., L, 1, n, n) without a per-head part)."""

    compute: Callable[[Captured], np.ndarray]
    needs: frozenset[str] = frozenset({WEIGHTS})
    per_head: bool = True
    includes_residual: bool = False
    #: For a measure that reruns parts of the model (``LAYER_RERUNS`` in ``needs``): (the torch model, one
    #: example's capture with its internals, progress or None) -> its matrices (L, 1, n, n), computed once right
    #: after the forward pass (``with_reruns``); an ``AttnflowError`` naming the bound when the example is too large.
    rerun: Callable[[Any, Captured, Progress | None], np.ndarray] | None = None

    def missing(self, captured: Captured, will_rerun: bool = False) -> frozenset[str]:
        """What this measure needs that ``captured`` lacks (empty when it can be computed). ``will_rerun``: the
        caller runs the measure's layer reruns itself (``with_reruns``) when the rest is there."""
        lacking = set(self.needs - captured.provides - {LAYER_RERUNS})
        if LAYER_RERUNS in self.needs and str(self) not in captured.reran and not will_rerun:
            lacking.add(LAYER_RERUNS)
        return frozenset(lacking)


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


def _alti(captured: Captured) -> np.ndarray:
    from attnflow_core.contributions import alti

    return alti(captured.internals, captured.attn)[:, None]


def _globenc(captured: Captured) -> np.ndarray:
    from attnflow_core.contributions import globenc

    return globenc(captured.internals, captured.attn)[:, None]


def _value_zeroing_rerun(model: Any, captured: Captured, progress: Progress | None) -> np.ndarray:
    from attnflow_core import value_zeroing as vz
    from attnflow_core.internals import encoder_layers

    return vz.value_zeroing(encoder_layers(model), captured.internals.hidden, progress, vz.MAX_RERUNS)[
        :, None
    ]


def _reran(key: str) -> Callable[[Captured], np.ndarray]:
    """The ``compute`` of a measure with a ``rerun``: read what the rerun left in ``Captured.reran``."""

    def compute(captured: Captured) -> np.ndarray:
        return np.asarray(captured.reran[key])

    return compute


_NO_HEADS = " It has no per-head part (the residual is not a head): the heads control is disabled under it."


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
        Measure(
            "alti",
            label="ALTI contributions (Ferrando et al. 2022)",
            phrase="ALTI contributions",
            short="ALTI",
            help="ALTI: how much of each token's representation after the attention block (residual and LayerNorm "
            "included) comes from each input token, by the L1 distance of each term to the output. Flows over it "
            "add no residual of their own." + _NO_HEADS,
            compute=_alti,
            needs=frozenset({WEIGHTS, LAYER_INTERNALS}),
            per_head=False,
            includes_residual=True,
        ),
        Measure(
            "globenc",
            label="GlobEnc contributions (Modarressi et al. 2022)",
            phrase="GlobEnc contributions",
            short="GlobEnc",
            help="GlobEnc: the same decomposition carried through the second LayerNorm (the FFN left out), each "
            "term scored by its norm." + _NO_HEADS,
            compute=_globenc,
            needs=frozenset({WEIGHTS, LAYER_INTERNALS}),
            per_head=False,
            includes_residual=True,
        ),
        Measure(
            "value-zeroing",
            label="Value zeroing (Mohebbi et al. 2023)",
            phrase="value-zeroing scores",
            short="value zeroing",
            help="Value zeroing: each layer is rerun once per token with that token's value vectors zeroed; a "
            "token's score is how far the others' outputs move (cosine distance). Slow: one layer rerun per token "
            "and layer, bounded to 1536 reruns (128 tokens through 12 layers)." + _NO_HEADS,
            compute=_reran("value-zeroing"),
            needs=frozenset({WEIGHTS, LAYER_INTERNALS, LAYER_RERUNS}),
            per_head=False,
            includes_residual=True,
            rerun=_value_zeroing_rerun,
        ),
    ),
    default="norm",
)
DEFAULT_MEASURE: Measure = MEASURES.default
#: The raw attention weights: every capture allows them, so the analysis falls back to them when a capture lacks
#: what the chosen measure needs (``measure_for``).
RAW_WEIGHTS: Measure = MEASURES.get("attention")


@dataclass(frozen=True)
class Capture:
    """What an extraction records beyond the attention weights and value norms it always records: the layer
    internals (``internals``), and the measures whose layer reruns it computes right after the pass (``reruns``,
    sorted keys). Part of the extraction's cache key: a result with internals is ~5–10 MB per model at 128 tokens,
    so it is only recorded for a measure that needs it."""

    internals: bool = False
    reruns: tuple[str, ...] = ()

    @staticmethod
    def of(*measures: str) -> Capture:
        """What the forward pass must record for every one of ``measures`` (entries or keys)."""
        entries = [MEASURES.get(m) for m in measures]
        reruns = tuple(sorted(str(m) for m in entries if m.rerun is not None))
        internals = bool(reruns) or any(LAYER_INTERNALS in m.needs for m in entries)
        return Capture(internals, reruns)

    def __add__(self, other: Capture) -> Capture:
        return Capture(self.internals or other.internals, tuple(sorted({*self.reruns, *other.reruns})))


#: The capture of every forward pass: the weights and value norms, nothing more.
WEIGHTS_AND_NORMS = Capture()


def with_reruns(
    captured: Captured, model: Any, measures: Iterable[str], progress: Progress | None = None
) -> Captured:
    """``captured`` (one example, with its internals) plus the reruns of those of ``measures`` that have one and are
    not in it yet, run on the torch ``model`` whose pass it is; ``progress(fraction, message)`` spans them all."""
    todo = [m for m in (MEASURES.get(k) for k in measures) if m.rerun is not None and m not in captured.reran]
    if not todo:
        return captured
    if captured.internals is None:
        raise MeasureError(
            f"the {todo[0]} measure reruns the model's layers from their recorded inputs, and this capture has no "
            "layer internals: extract with internals=True"
        )
    reran = dict(captured.reran)
    for k, m in enumerate(todo):

        def part(frac: float, msg: str, k: int = k) -> None:
            if progress is not None:
                progress((k + frac) / len(todo), msg)

        assert m.rerun is not None
        reran[str(m)] = m.rerun(model, captured, part)
    return replace(captured, reran=reran)


def measure_for(measure: str, captured: Captured, will_rerun: bool = False) -> Measure:
    """The measure the analysis applies: ``measure`` when ``captured`` provides what it needs, else the raw weights
    (``RAW_WEIGHTS``; the result records which measure it was computed under). ``will_rerun``: see ``missing``."""
    m = MEASURES.get(measure)
    return RAW_WEIGHTS if m.missing(captured, will_rerun) else m


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
            f"the {m} measure needs {words}, and this result has none: re-extract the example with what it needs "
            f"(extract(..., capture=Capture.of('{m}'))) or choose measure '{RAW_WEIGHTS}'"
        )
    return m.compute(captured)


def apply_measure(attn: np.ndarray, vnorm: np.ndarray | None, measure: str) -> np.ndarray:
    """attn (..., n, n) under ``measure``: unchanged for ``attention``, ``norm_weighted`` for ``norm``."""
    return measure_attention(Captured(attn, vnorm), measure)
