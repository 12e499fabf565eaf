"""From one extracted example to everything the views show: the pipeline's stages composed under one
``FlowSettings`` (flow scores, the drawn graph, the traced edges and the head differences).

``analyse`` is the one place where the user's settings (attention measure, method, layer range, heads, threshold,
decay, special tokens, word vs WordPiece units) are bound to an example, so the app, the CLI and the exports agree
exactly; the stages themselves are in ``pipeline``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from attnflow_core.compare import HeadDiff
from attnflow_core.errors import SettingsError
from attnflow_core.extract import ExampleResult, model_labels
from attnflow_core.flows import PairTrace
from attnflow_core.graph import PairGraph
from attnflow_core.methods import METHODS, pair_graph
from attnflow_core.pipeline import (
    Flows,
    MeasuredAttention,
    fitted_key,
    flows,
    head_statistics,
    measured_attention,
    pair_trace,
)
from attnflow_core.settings import FlowSettings

__all__ = ["METHODS", "Analysis", "FlowSettings", "analyse", "analysis_of", "drawn_graph", "find_source"]


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
    trace: PairTrace  # the thresholded trace (the traced-edges export and the heads' flow shares)
    head_diff: HeadDiff
    #: the edges the flow graph draws under settings.method (``methods.pair_graph``), solved once with the scores;
    #: None for an Analysis built by hand (the plots then compute it).
    graph: PairGraph | None = None
    #: why the measure differs from the one asked for ("" when it does not; ``pipeline.MeasuredAttention.note``)
    note: str = ""
    #: which checkpoint the fine-tuned model is ("step 113 of 339"; "" for the fine-tuned model itself)
    tuned_checkpoint: str = ""

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def model_labels(self) -> dict[str, str]:
        """How titles and legends name the two models (``extract.model_labels``)."""
        return model_labels(self.tuned_checkpoint)

    @property
    def layer_range(self) -> tuple[int, int]:
        return self.settings.layers or (1, int(self.attn_base.shape[0]))


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


def analyse(result: ExampleResult, settings: FlowSettings) -> Analysis:
    """Apply ``settings`` to one example: scores for both models, the drawn graph, the pair trace and the head
    differences.

    The measure is applied first (before the special-token treatment and word merging), so every method, the head
    differences and the graph use it. A result without what the measure needs (e.g. built by hand without value
    norms) is analysed under the raw weights, and its analysis records ``measure="attention"`` and a note.
    """
    n = len(result.encoding.units(settings.unit)[0])
    settings = settings.validated(result.num_layers, result.num_heads, n)
    return analysis_of(measured_attention(result, settings.example), settings)


def analysis_of(
    measured: MeasuredAttention,
    settings: FlowSettings,
    stats: HeadDiff | None = None,
    traced: PairTrace | None = None,
    drawn: Flows | None = None,
) -> Analysis:
    """The Analysis of already measured attention (``pipeline.measured_attention`` of ``settings.example``) under
    the drawing part of ``settings`` (already ``validated``). ``stats``, ``traced``, ``drawn``: the
    ``head_statistics``, ``pair_trace`` and ``flows`` stages of these settings if already computed (cached)."""
    measure = measured.settings.measure
    settings = replace(settings, measure=measure, heads=settings.heads if measure.per_head else None)
    key = fitted_key(settings.flow_key(measured.num_layers), measured)
    trace_key = fitted_key(settings.trace_key(measured.num_layers), measured)
    if traced is None:
        traced = pair_trace(measured, trace_key)
    if drawn is None:
        drawn = flows(measured, key, traced if key == trace_key else None)
    diff = (stats if stats is not None else head_statistics(measured)).with_flow_shares(traced)
    return Analysis(
        settings=settings,
        labels=measured.labels,
        segments=measured.segments,
        special_positions=measured.special_positions,
        attn_base=measured.attn_base,
        attn_tuned=measured.attn_tuned,
        scores_base=drawn.scores_base,
        scores_tuned=drawn.scores_tuned,
        trace=traced,
        head_diff=diff,
        graph=drawn.graph,
        note=measured.note,
        tuned_checkpoint=measured.tuned_checkpoint,
    )


def drawn_graph(analysis: Analysis) -> PairGraph:
    """The edges the flow graph draws under the analysis's settings: the graph ``analyse`` solved with the scores,
    or (for an Analysis built or altered by hand) ``methods.pair_graph`` computed now."""
    s = analysis.settings
    solved = analysis.graph
    if solved is not None and solved.method == s.method and solved.base.node.shape[-1] == analysis.n:
        return solved
    key = s.flow_key(int(analysis.attn_base.shape[0]))
    return pair_graph(
        analysis.attn_base,
        analysis.attn_tuned,
        key.method,
        source=key.source,
        threshold=key.tau,
        layers=key.layers,
        heads=key.heads,
        decay=key.alpha,
        residual=not s.measure.includes_residual,
    )
