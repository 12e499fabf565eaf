"""The staged analysis pipeline: one example, from the forward passes to everything the views draw.

Every front end runs these stages (the flow and head pages through ``analysis.analyse``, the agreement, the
interventions' before/after, the dataset overview's measure, the CLI and its report). Each stage is a pure function
of exactly its inputs, so a caller can cache each by its key:

=================  =========================  ====================================================================
stage              function                   depends on (its key)
=================  =========================  ====================================================================
extraction         ``extraction``             the model pair, the text(s), max tokens, what to capture beyond the
                                              weights and value norms (``ExtractionKey``; ``for_measure``)
measured attention ``measured_attention``     extraction + ``settings.ExampleSettings`` (measure, units, specials)
head statistics    ``head_statistics``        measured attention (JS divergence, mean |Δ|)
trace              ``pair_trace``             measured attention + the trace's ``methods.FlowKey``
flows              ``flows``                  measured attention + ``methods.FlowKey`` (method, source, layers,
                                              heads, and τ/α only for the methods that read them)
figure data        ``analysis.analyse``,      all of the above
                   ``plots``
=================  =========================  ====================================================================

A drawing change (method, source, τ, α, layers, heads; per-head edges and "emphasise differences" only restyle the
figure) touches only the flows stage and the figure: the measured attention is the boundary to cache.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from attnflow_core.compare import HeadDiff, head_differences
from attnflow_core.encoding import Encoding, merge_wordpieces
from attnflow_core.extract import ExampleResult, extract
from attnflow_core.flows import PairTrace, Trace, special_attention, trace_pair
from attnflow_core.graph import PairGraph, edges_within_budget, merge_pair
from attnflow_core.measures import (
    MEASURES,
    WEIGHTS_AND_NORMS,
    Capture,
    Captured,
    Measure,
    Progress,
    measure_attention,
    measure_for,
)
from attnflow_core.methods import FlowKey, Solution
from attnflow_core.models import ModelPair
from attnflow_core.settings import ExampleSettings

__all__ = [
    "ExtractionKey",
    "Flows",
    "MeasuredAttention",
    "available_measures",
    "extraction",
    "flows",
    "head_statistics",
    "measured_attention",
    "model_attention",
    "pair_trace",
    "solve",
]


# ---------------------------------------------------------------- extraction


@dataclass(frozen=True)
class ExtractionKey:
    """What an extraction depends on: the pair (its two references and the tuned model's label names), the text(s),
    the token limit and what the forward pass records beyond the weights and value norms (``measures.Capture``:
    the layer internals and the layer reruns a measure needs; see ``for_measure``)."""

    base: str
    tuned: str
    labels: tuple[str, ...] | None
    text: str
    text_pair: str | None
    max_length: int | None = None
    capture: Capture = WEIGHTS_AND_NORMS

    def for_measure(self, *measures: str) -> ExtractionKey:
        """This extraction, recording what ``measures`` need as well (the same key when they need nothing more)."""
        return replace(self, capture=self.capture + Capture.of(*measures))


def extraction(pair: ModelPair, key: ExtractionKey, progress: Progress | None = None) -> ExampleResult:
    """Both models on the example of ``key`` (``extract.extract``): tokens, attentions, value norms, predictions,
    and what ``key.capture`` asks for (layer reruns report through ``progress(fraction, message)``)."""
    return extract(pair, key.text, key.text_pair, key.max_length, key.capture, progress)


# ---------------------------------------------------------------- measured attention


def available_measures(captured: Captured) -> tuple[Measure, ...]:
    """The measures ``captured`` has everything for, in the registry's order."""
    return tuple(m for m in MEASURES if not m.missing(captured))


def model_attention(
    captured: Captured, encoding: Encoding, settings: ExampleSettings
) -> tuple[np.ndarray, np.ndarray]:
    """One model's attention under ``settings.measure`` (which ``captured`` must provide for) in its units:
    (before the special-token treatment, after it), each (L, H, n, n) float32 (H = 1 for a measure without a
    per-head part). The measure is applied on tokens, before the word merge and the special-token treatment."""
    measured = measure_attention(captured, settings.measure)
    if settings.unit.grouped:
        measured = merge_wordpieces(measured, encoding.word_index)
    if not settings.special.hides:
        return measured, measured
    specials = encoding.units(settings.unit)[2]
    return measured, special_attention(measured, specials, settings.special).astype(np.float32)


@dataclass(frozen=True, eq=False)
class MeasuredAttention:
    """Both models' attention of one example under one ``ExampleSettings``: what the flows and the statistics read.

    ``settings.measure`` is the measure applied; ``requested`` the one asked for (they differ when the capture
    lacks what it needs: ``measures.measure_for``'s fallback). ``unit_*`` (L, H, n, n) float32: under the measure,
    in units, before the special-token treatment; ``attn_*``: after it (the same arrays when nothing is hidden).
    """

    settings: ExampleSettings
    requested: Measure
    labels: tuple[str, ...]
    segments: tuple[int, ...]
    special_positions: tuple[int, ...]
    unit_base: np.ndarray
    unit_tuned: np.ndarray
    attn_base: np.ndarray
    attn_tuned: np.ndarray
    tuned_checkpoint: str = ""  # ``ExampleResult.tuned_checkpoint``: which checkpoint the fine-tuned model is

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def num_layers(self) -> int:
        return int(self.attn_base.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attn_base.shape[1])

    @property
    def note(self) -> str:
        """A sentence when the requested measure could not be applied ("" otherwise)."""
        if self.requested == self.settings.measure:
            return ""
        return (
            f"The {self.requested.phrase} measure needs what these models' forward pass does not capture; "
            f"everything here is computed under the {self.settings.measure.phrase}."
        )


def measured_attention(result: ExampleResult, settings: ExampleSettings) -> MeasuredAttention:
    """Stage 2: both models' attention of ``result`` under ``settings`` (the measure falls back to the raw weights
    when the extraction lacks what it needs; ``MeasuredAttention.note`` says so)."""
    enc = result.encoding
    captured = {m: result.captured(m) for m in ("base", "tuned")}
    applied = settings.measure
    for c in captured.values():
        applied = measure_for(applied, c)
    used = replace(settings, measure=applied)
    labels, segments, specials = enc.units(settings.unit)
    unit_b, attn_b = model_attention(captured["base"], enc, used)
    unit_t, attn_t = model_attention(captured["tuned"], enc, used)
    return MeasuredAttention(
        settings=used,
        requested=settings.measure,
        labels=labels,
        segments=segments,
        special_positions=specials,
        unit_base=unit_b,
        unit_tuned=unit_t,
        attn_base=attn_b,
        attn_tuned=attn_t,
        tuned_checkpoint=result.tuned_checkpoint,
    )


# ---------------------------------------------------------------- head statistics


def head_statistics(measured: MeasuredAttention) -> HeadDiff:
    """Stage 3: JS divergence and mean |Δ| per (layer, head) of the two models (``compare.head_differences``, with
    the special-token treatment of the measured attention; flow shares are added from the trace)."""
    return head_differences(
        measured.unit_base,
        measured.unit_tuned,
        special_positions=measured.special_positions,
        special=measured.settings.special,
    )


# ---------------------------------------------------------------- flows


def fitted_key(key: FlowKey, measured: MeasuredAttention) -> FlowKey:
    """``key`` for this measured attention: a measure without a per-head part has one "head", so no head subset."""
    return key if measured.settings.measure.per_head else replace(key, heads=None)


def pair_trace(measured: MeasuredAttention, key: FlowKey) -> PairTrace:
    """Stage 4: the thresholded trace of both models under ``key``'s source, layers, heads, τ and α (the traced
    edges of the exports and the heads' flow shares, whatever the drawn method)."""
    key = fitted_key(key, measured)
    return trace_pair(
        measured.attn_base, measured.attn_tuned, key.source, key.tau, key.layers, key.heads, key.alpha
    )


def solve(attn: np.ndarray, measure: Measure, key: FlowKey, traced: Trace | None = None) -> Solution:
    """One model's flow under ``key`` on attention already under ``measure`` (whose residual, if it includes one,
    rollout and max-flow do not add again)."""
    return key.method.solve(attn, key, not measure.includes_residual, traced)


@dataclass(frozen=True, eq=False)
class Flows:
    """Stage 5: both models' flow scores (n,) (sum 1, or all 0) and the drawn graph under one ``FlowKey``."""

    key: FlowKey
    scores_base: np.ndarray
    scores_tuned: np.ndarray
    graph: PairGraph


def flows(measured: MeasuredAttention, key: FlowKey, traces: PairTrace | None = None) -> Flows:
    """Stage 5: scores and drawn graph of both models from one solve each. ``traces``: the ``pair_trace`` of the
    same settings, reused when ``key`` is the trace's."""
    key = fitted_key(key, measured)
    measure = measured.settings.measure
    tb, tt = (traces.base, traces.tuned) if traces is not None else (None, None)
    sb = solve(measured.attn_base, measure, key, tb)
    st = solve(measured.attn_tuned, measure, key, tt)
    eb, et = (edges_within_budget(s.masses, s.node, s.stopped, key.source, key.layers) for s in (sb, st))
    graph = merge_pair(key.method, eb, et, measured.attn_base, measured.attn_tuned, key.heads)
    return Flows(key=key, scores_base=sb.scores(), scores_tuned=st.scores(), graph=graph)
