"""From one extracted example to everything the views show: flow scores, the traced edges and head differences.

This is the one place where the user's settings (attention measure, method, layer range, heads, threshold, decay,
special tokens, word vs WordPiece units) are applied, so the app, the CLI and the exports agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from attnflow_core.compare import HeadDiff, head_differences
from attnflow_core.encoding import merge_wordpieces
from attnflow_core.extract import ExampleResult
from attnflow_core.flows import PairTrace, flow_scores, special_attention, trace_pair
from attnflow_core.graph import PairGraph, pair_graph
from attnflow_core.measures import apply_measure
from attnflow_core.settings import METHODS, SPECIAL_MODES, UNITS, FlowSettings, SettingsError

__all__ = [
    "METHODS",
    "SPECIAL_MODES",
    "UNITS",
    "Analysis",
    "FlowSettings",
    "analyse",
    "drawn_graph",
    "find_source",
    "unit_attention",
    "units_of",
]


@dataclass(frozen=True, eq=False)
class Analysis:
    """The computed views of one example under one FlowSettings. Arrays are in the chosen units (n = units)."""

    settings: FlowSettings
    labels: tuple[str, ...]  # token or word strings, length n
    segments: tuple[int, ...]  # segment of each unit
    special_positions: tuple[int, ...]
    attn_base: np.ndarray  # (L, H, n, n) float32, under settings.measure, after the special-token treatment
    attn_tuned: np.ndarray
    scores_base: np.ndarray  # (n,) flow score of each input unit under settings.method, sums to 1 (or all 0)
    scores_tuned: np.ndarray
    trace: PairTrace  # the thresholded trace (drawn as the flow graph whatever the method)
    head_diff: HeadDiff
    #: the edges the flow graph draws under settings.method (``graph.pair_graph``), solved once with the scores;
    #: None for an Analysis built by hand (the plots then compute it).
    graph: PairGraph | None = None

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def layer_range(self) -> tuple[int, int]:
        return self.settings.layers or (1, int(self.attn_base.shape[0]))


def units_of(result: ExampleResult, unit: str) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    """(labels, segments, special positions) of an example in token or word units."""
    enc = result.encoding
    if unit == "word":
        return enc.words, enc.word_segments, enc.word_special_positions()
    return enc.tokens, enc.segment_ids, enc.special_positions


def find_source(labels: tuple[str, ...], value: str | int) -> tuple[int, str | None]:
    """The unit to trace from: an index (``3``, ``"3"``) or a unit's text (first case-insensitive match, ``##``
    ignored). Returns (index, a note saying which match was taken, or None); SettingsError if nothing matches."""
    text = str(value).strip()
    if text.lstrip("-").isascii() and text.lstrip("-").isdigit():
        return int(text), None
    wanted = text.lower().removeprefix("##")
    matches = [i for i, u in enumerate(labels) if u.lower().removeprefix("##") == wanted]
    if not matches:
        raise SettingsError(f"no unit {text!r} in the input; use one of {list(labels)} or its index")
    more = f", the first of {len(matches)} matches" if len(matches) > 1 else ""
    return matches[0], f"tracing from {labels[matches[0]]!r} (#{matches[0]}{more})"


def unit_attention(
    result: ExampleResult, unit: str, measure: str = "attention"
) -> tuple[np.ndarray, np.ndarray]:
    """Both models' attention under ``measure`` (applied on tokens), in token or word units: two (L, H, n, n)
    float32 arrays."""
    base = apply_measure(result.attn_base, result.vnorm_base, measure)
    tuned = apply_measure(result.attn_tuned, result.vnorm_tuned, measure)
    if unit == "word":
        wi = result.encoding.word_index
        return merge_wordpieces(base, wi), merge_wordpieces(tuned, wi)
    return base, tuned


def analyse(result: ExampleResult, settings: FlowSettings) -> Analysis:
    """Apply ``settings`` to one example: scores for both models, the pair trace and the head differences.

    The measure is applied first (before the special-token treatment and word merging), so every method, the head
    differences and the graph use it. A result built without value norms (by hand, in tests) has only one
    measure, the weights: its analysis records ``measure="attention"``.
    """
    labels, segments, specials = units_of(result, settings.unit)
    settings = settings.validated(result.num_layers, result.num_heads, len(labels))
    if settings.measure == "norm" and (result.vnorm_base is None or result.vnorm_tuned is None):
        settings = replace(settings, measure="attention")
    raw_base, raw_tuned = unit_attention(result, settings.unit, settings.measure)
    attn_base = special_attention(raw_base, specials, settings.special).astype(np.float32)
    attn_tuned = special_attention(raw_tuned, specials, settings.special).astype(np.float32)

    def scores(attn: np.ndarray) -> np.ndarray:
        return flow_scores(attn, settings.method, **settings.flow_kwargs())

    pair = trace_pair(attn_base, attn_tuned, **settings.flow_kwargs())
    layer_range = settings.layers or (1, int(attn_base.shape[0]))
    graph = pair_graph(
        attn_base,
        attn_tuned,
        settings.method,
        **{**settings.flow_kwargs(), "layers": layer_range},
        traces=(pair.base, pair.tuned),
    )
    if settings.method == "maxflow":
        # the graph's max-flow solution already holds each input token's max-flow score: solve once
        scores_base = _normalised(graph.base.node[layer_range[0] - 1])
        scores_tuned = _normalised(graph.tuned.node[layer_range[0] - 1])
    elif settings.method == "trace":  # the trace's scores are its influence at the input: traced once above
        scores_base, scores_tuned = pair.base.input_scores, pair.tuned.input_scores
    else:
        scores_base, scores_tuned = scores(attn_base), scores(attn_tuned)
    diff = head_differences(
        raw_base, raw_tuned, special_positions=specials, special=settings.special, trace=pair
    )
    return Analysis(
        settings=settings,
        labels=labels,
        segments=segments,
        special_positions=specials,
        attn_base=attn_base,
        attn_tuned=attn_tuned,
        scores_base=np.asarray(scores_base, dtype=np.float64),
        scores_tuned=np.asarray(scores_tuned, dtype=np.float64),
        trace=pair,
        head_diff=diff,
        graph=graph,
    )


def drawn_graph(analysis: Analysis) -> PairGraph:
    """The edges the flow graph draws under the analysis's settings: the graph ``analyse`` solved with the scores,
    or (for an Analysis built or altered by hand) ``graph.pair_graph`` computed now."""
    s = analysis.settings
    solved = analysis.graph
    if solved is not None and solved.method == s.method and solved.base.node.shape[-1] == analysis.n:
        return solved
    return pair_graph(
        analysis.attn_base,
        analysis.attn_tuned,
        s.method,
        **{**s.flow_kwargs(), "layers": analysis.layer_range},
    )


def _normalised(values: np.ndarray) -> np.ndarray:
    """(n,) non-negative values scaled to sum 1 (all zeros stay zeros)."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    total = v.sum()
    return v / total if total > 0 else np.zeros_like(v)
