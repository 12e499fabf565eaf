"""The page boundary's caches, one per stage of the pipeline, each keyed by exactly what the stage depends on.

``st.cache_resource`` (bounded, shared by all sessions, never copied) for the models and the large immutable stage
results: the extraction (9–19 MB at 128 tokens; with the layer internals a measure such as ALTI needs, ~8 MB more,
so those results have a smaller cache of their own, and the value-zeroing ones a smaller one still), the measured
attention, the trace and the flows; ``st.cache_data`` for small ones (example tables and their positions). The
extraction's key says what it captured (``ExtractionKey.capture``): every stage from the measured attention on
(``get_measured``, the head statistics, the trace, the flows, the analysis, the flow and head views) reads the
extraction of ``measure_key(key, example)`` — the page's key recording what the measure needs — so the internals are
recorded only when a measure reads them, and a view under ALTI, GlobEnc or value zeroing draws that measure's own
contributions (never the raw weights' fallback). Those stages are cached under that key, so a key with or without
the capture finds the same entries. A drawing change (τ, α, method, source, layers, heads) finds the extraction and
the measured attention cached and recomputes only the stages whose key it changes: a τ step under max-flow reuses
the max-flow solution (its ``FlowKey`` has no τ).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from attnflow_core.analysis import Analysis, analysis_of
from attnflow_core.checkpoints import Checkpoint
from attnflow_core.compare import HeadDiff
from attnflow_core.data.sources import load_examples
from attnflow_core.errors import AttnflowError
from attnflow_core.extract import ExampleResult, predict_many
from attnflow_core.flows import PairTrace
from attnflow_core.importance import importance_of_texts
from attnflow_core.methods import TRACE, FlowKey
from attnflow_core.models import LoadedModel, ModelPair, PairSpec, list_checkpoints, load_model, make_pair
from attnflow_core.pipeline import (
    ExtractionKey,
    Flows,
    MeasuredAttention,
    extraction,
    fitted_key,
    flows,
    head_statistics,
    measured_attention,
    pair_trace,
)
from attnflow_core.plots.flow_payload import pack_view
from attnflow_core.plots.flow_view import build_flow_view
from attnflow_core.plots.heads import build_head_diff_layout
from attnflow_core.settings import ExampleSettings, FlowSettings

MAX_LENGTH = 128  # tokens per example in the app: keeps every view interactive on a laptop CPU
MAX_EXAMPLES = 20_000  # examples one computation on the pages (overview, trajectory) may run over


#: Models kept loaded (shared by all sessions): a task's 6 fine-tuning checkpoints, the pre-trained model they share
#: and the other tasks' counterparts (MiniLM-L6: ~90 MB each in float32).
MAX_MODELS = 10
#: Pairs kept (each two references into ``get_model``'s models): the checkpoints of a task and the other pairs.
MAX_PAIRS = 8
#: Interactive views kept per kind (~9 MB each at 128 tokens): an example's 6 checkpoints and two more.
MAX_VIEWS = 8


@st.cache_resource(show_spinner=False, max_entries=MAX_MODELS)
def get_model(ref: str, labels: tuple[str, ...] | None) -> LoadedModel:
    """One model, loaded once: the pairs of a run's checkpoints share one pre-trained model."""
    from attnflow_core.device import device_from_env

    return load_model(ref, labels, device=device_from_env())  # ATTNFLOW_DEVICE


@st.cache_resource(show_spinner=False, max_entries=MAX_PAIRS)
def get_pair(base_ref: str, tuned_ref: str, tuned_labels: tuple[str, ...] | None) -> ModelPair:
    """The pair (``models.load_pair``'s checks) of two cached models."""
    return make_pair(get_model(base_ref, None), get_model(tuned_ref, tuned_labels))


@st.cache_data(show_spinner=False, max_entries=32)
def get_checkpoints(ref: str, fingerprint: str) -> tuple[tuple[str, Checkpoint], ...]:
    """``models.list_checkpoints(ref)`` (() when ``ref`` names nothing with checkpoints); ``fingerprint``
    (``models.model_fingerprint``) renews it when the run is retrained."""
    try:
        return list_checkpoints(ref)
    except AttnflowError:
        return ()  # the model's own load names the problem


def pair_of(spec: PairSpec) -> ModelPair:
    """The spec's loaded models (cached)."""
    return get_pair(spec.base, spec.tuned, spec.label_names)


@st.cache_resource(show_spinner=False)
def loaded_pairs() -> set[tuple[str, str, tuple[str, ...] | None]]:
    """The pairs this server has loaded (shared by all sessions): the first load of a pair shows its progress."""
    return set()


@st.cache_data(show_spinner=False, max_entries=32)
def get_examples(task: str, source: str, split: str) -> pd.DataFrame:
    return load_examples(task, source, split or None).to_pandas()


@st.cache_data(show_spinner=False, max_entries=32)
def example_positions(task: str, source: str, split: str) -> dict[str, int]:
    """Row position of each example id in ``get_examples(task, source, split)``: O(1) lookup of ``?ex=``."""
    positions: dict[str, int] = {}
    for i, uid in enumerate(get_examples(task, source, split)["uid"].astype(str)):
        positions.setdefault(uid, i)
    return positions


@st.cache_data(show_spinner=False, max_entries=64)
def get_predictions(
    spec: PairSpec, texts: tuple[str, ...], text_pairs: tuple[str | None, ...]
) -> list[tuple[str, float] | None]:
    """The fine-tuned model's (label, confidence) on each example of a table page (None without a head)."""
    preds = predict_many(pair_of(spec).tuned, list(texts), list(text_pairs), max_length=MAX_LENGTH)
    return [None if p is None else (p.label, p.confidence) for p in preds]


def extraction_key(spec: PairSpec, text: str, text_pair: str | None) -> ExtractionKey:
    """The extraction of this example by this pair in the app (at most ``MAX_LENGTH`` tokens)."""
    return ExtractionKey(spec.base, spec.tuned, spec.label_names, text, text_pair, MAX_LENGTH)


@st.cache_resource(show_spinner=False, max_entries=MAX_VIEWS)
def _plain_result(key: ExtractionKey) -> ExampleResult:
    return extraction(get_pair(key.base, key.tuned, key.labels), key)


@st.cache_resource(show_spinner=False, max_entries=4)
def _internals_result(key: ExtractionKey) -> ExampleResult:
    return extraction(get_pair(key.base, key.tuned, key.labels), key)


@st.cache_resource(show_spinner=False, max_entries=2)
def _rerun_result(key: ExtractionKey) -> ExampleResult:
    """An extraction with layer reruns (value zeroing: seconds), with its progress bar (drawn inside the cached
    function, so Streamlit replays it, already emptied, on a cache hit)."""
    bar = st.progress(0.0, text="Rerunning the layers for " + ", ".join(key.capture.reruns) + " …")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    try:
        return extraction(get_pair(key.base, key.tuned, key.labels), key, progress)
    finally:
        bar.empty()


def get_result(key: ExtractionKey) -> ExampleResult:
    """Stage 1: both models on the example (cached apart by what the key captures: see the module docstring)."""
    if key.capture.reruns:
        return _rerun_result(key)
    if key.capture.internals:
        return _internals_result(key)
    return _plain_result(key)


def measure_key(key: ExtractionKey, example: ExampleSettings) -> ExtractionKey:
    """The extraction ``example``'s measure reads: ``key`` recording what the measure needs too (``key`` itself when
    it needs nothing more; idempotent). Every stage below is cached under it."""
    return key.for_measure(example.measure)


@st.cache_resource(show_spinner=False, max_entries=8)
def _measured(key: ExtractionKey, example: ExampleSettings) -> MeasuredAttention:
    return measured_attention(get_result(key), example)


def get_measured(key: ExtractionKey, example: ExampleSettings) -> MeasuredAttention:
    """Stage 2: the measured attention (measure, units, special tokens) of the extraction the measure reads."""
    return _measured(measure_key(key, example), example)


@st.cache_resource(show_spinner=False, max_entries=8)
def _head_stats(key: ExtractionKey, example: ExampleSettings) -> HeadDiff:
    return head_statistics(get_measured(key, example))


def get_head_stats(key: ExtractionKey, example: ExampleSettings) -> HeadDiff:
    """Stage 3: JS divergence and mean |Δ| per head (per layer under a measure without a per-head part)."""
    return _head_stats(measure_key(key, example), example)


@st.cache_resource(show_spinner=False, max_entries=8)
def _trace(key: ExtractionKey, example: ExampleSettings, trace_key: FlowKey) -> PairTrace:
    return pair_trace(get_measured(key, example), trace_key)


def get_trace(key: ExtractionKey, example: ExampleSettings, trace_key: FlowKey) -> PairTrace:
    """Stage 4: the thresholded trace (the traced edges and the heads' flow shares)."""
    return _trace(measure_key(key, example), example, trace_key)


@st.cache_resource(show_spinner=False, max_entries=32)
def _flows(key: ExtractionKey, example: ExampleSettings, flow_key: FlowKey) -> Flows:
    traced = get_trace(key, example, flow_key) if flow_key.method == TRACE else None  # the same trace: reused
    return flows(get_measured(key, example), flow_key, traced)


def get_flows(key: ExtractionKey, example: ExampleSettings, flow_key: FlowKey) -> Flows:
    """Stage 5: scores and drawn graph of the method (τ and α in the key only where the method reads them)."""
    return _flows(measure_key(key, example), example, flow_key)


def get_analysis(key: ExtractionKey, settings: FlowSettings) -> Analysis:
    """Everything the views draw under ``settings``, assembled from the cached stages (extracted with what
    ``settings.measure`` needs)."""
    key = measure_key(key, settings.example)
    measured = get_measured(key, settings.example)
    settings = settings.validated(measured.num_layers, get_result(key).num_heads, measured.n)
    flow_key = fitted_key(settings.flow_key(measured.num_layers), measured)
    trace_key = fitted_key(settings.trace_key(measured.num_layers), measured)
    return analysis_of(
        measured,
        settings,
        stats=get_head_stats(key, settings.example),
        traced=get_trace(key, settings.example, trace_key),
        drawn=get_flows(key, settings.example, flow_key),
    )


@dataclass(frozen=True, eq=False)
class ViewPayload:
    """One example's interactive flow view as the page's host sends it (``flow_payload.pack_view``): its id (the
    extraction and the example-level settings it shows), the bytes, and the sizes the view's reports are checked
    against."""

    id: str
    data: bytes
    num_layers: int
    num_heads: int
    n: int


def view_id(key: ExtractionKey, example: ExampleSettings) -> str:
    """A short stable id of what a view shows (its payload): the extraction and the example-level settings."""
    return hashlib.sha256(repr((key, example)).encode("utf-8")).hexdigest()[:16]


def get_heads_view(key: ExtractionKey, example: ExampleSettings) -> ViewPayload:
    """The Head differences view of an example (its most changed head first shown) and its measured attention, as
    the host sends it; shared by every session, bounded."""
    return _heads_view(measure_key(key, example), example)


@st.cache_resource(show_spinner=False, max_entries=MAX_VIEWS)
def _heads_view(key: ExtractionKey, example: ExampleSettings) -> ViewPayload:
    measured = get_measured(key, example)
    defaults = FlowSettings(measure=example.measure, unit=example.unit, special=example.special)
    vid = view_id(key, example)
    analysis = analysis_of(measured, defaults, stats=get_head_stats(key, example))
    layout = build_head_diff_layout(analysis, with_arrays=False)
    data = pack_view("heads", vid, layout, {"base": measured.attn_base, "tuned": measured.attn_tuned})
    return ViewPayload(vid, data, measured.num_layers, measured.num_heads, measured.n)


@st.cache_resource(show_spinner="Computing head importance for this prediction …", max_entries=16)
def get_example_importance(key: ExtractionKey) -> np.ndarray:
    """Each head's importance for the fine-tuned model's prediction on this example (Michel et al. 2019): (L, H)."""
    pair = get_pair(key.base, key.tuned, key.labels)
    return importance_of_texts(
        pair.tuned, [key.text], [key.text_pair], max_length=key.max_length or MAX_LENGTH
    )[0]


def get_flow_view(key: ExtractionKey, example: ExampleSettings) -> ViewPayload:
    """The flow view of an example (drawn at the default drawing settings; the page's link then asks it for the
    session's): its document and its measured attention, ~2 × L·H·n² float32 (9 MB at 128 tokens on MiniLM; L·n²
    under a measure without a per-head part), shared by every session that opens the example; bounded. Under the
    extraction ``example``'s measure reads (``measure_key``): ALTI's view draws ALTI's contributions."""
    return _flow_view(measure_key(key, example), example)


@st.cache_resource(show_spinner=False, max_entries=MAX_VIEWS)
def _flow_view(key: ExtractionKey, example: ExampleSettings) -> ViewPayload:
    measured = get_measured(key, example)
    defaults = FlowSettings(measure=example.measure, unit=example.unit, special=example.special)
    vid = view_id(key, example)
    layout = build_flow_view(analysis_of(measured, defaults), vid, with_arrays=False)
    data = pack_view("flow", vid, layout, {"base": measured.attn_base, "tuned": measured.attn_tuned})
    return ViewPayload(vid, data, measured.num_layers, measured.num_heads, measured.n)
