"""Machine-readable and human-readable summaries of one comparison (the ``compare`` command prints them).

The JSON schema (``schema: "attnflow.compare/1"``) is documented in README.md; the app's JSON/CSV downloads use the
same functions, so a file from the app and one from the CLI have the same shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from attnflow_core.analysis import Analysis, drawn_graph
from attnflow_core.extract import ExampleResult
from attnflow_core.graph import graph_records
from attnflow_core.settings import format_layers

SCHEMA = "attnflow.compare/1"


def _matrix(a: np.ndarray | None) -> list[list[float]] | None:
    return None if a is None else np.round(np.asarray(a, dtype=np.float64), 6).tolist()


def edges_table(analysis: Analysis) -> pd.DataFrame:
    """One row per traced edge: layer, head, from/to unit (index and text), weights in both models, status."""
    t = analysis.trace
    labels = np.asarray(analysis.labels, dtype=object)
    src = np.asarray(t.src, dtype=int)
    dst = np.asarray(t.dst, dtype=int)
    return pd.DataFrame(
        {
            "layer": np.asarray(t.layer, dtype=int),
            "head": np.asarray(t.head, dtype=int),
            "from": src,
            "from_text": labels[src] if src.size else np.asarray([], dtype=object),
            "to": dst,
            "to_text": labels[dst] if dst.size else np.asarray([], dtype=object),
            "weight_base": np.asarray(t.weight_base, dtype=float),
            "weight_tuned": np.asarray(t.weight_tuned, dtype=float),
            "status": np.asarray(t.status, dtype=object),
            "measure": analysis.settings.measure,
        }
    )


def scores_table(analysis: Analysis) -> pd.DataFrame:
    """One row per input unit: its text, segment, flow score in each model and the change."""
    return pd.DataFrame(
        {
            "position": np.arange(analysis.n),
            "unit": analysis.labels,
            "segment": analysis.segments,
            "score_base": analysis.scores_base,
            "score_tuned": analysis.scores_tuned,
            "delta": analysis.scores_tuned - analysis.scores_base,
            "measure": analysis.settings.measure,
        }
    )


def heads_table(analysis: Analysis) -> pd.DataFrame:
    """One row per (layer, head): JS divergence, mean |Δ| and flow shares (layers 1-based)."""
    d = analysis.head_diff
    n_layers, n_heads = d.js.shape
    layer, head = np.meshgrid(np.arange(1, n_layers + 1), np.arange(n_heads), indexing="ij")
    data: dict[str, Any] = {
        "layer": layer.ravel(),
        "head": head.ravel(),
        "js_divergence": np.asarray(d.js).ravel(),
        "mean_abs_diff": np.asarray(d.mad).ravel(),
    }
    if d.flow_share_base is not None and d.flow_share_tuned is not None:
        data["flow_share_base"] = np.asarray(d.flow_share_base).ravel()
        data["flow_share_tuned"] = np.asarray(d.flow_share_tuned).ravel()
    data["measure"] = analysis.settings.measure
    return pd.DataFrame(data)


def to_dict(result: ExampleResult, analysis: Analysis) -> dict[str, Any]:
    """The JSON-able summary of one comparison (schema ``attnflow.compare/1``, see README)."""
    s = analysis.settings
    pred = result.prediction_tuned
    d = analysis.head_diff
    return {
        "schema": SCHEMA,
        "base": result.base_ref,
        "tuned": result.tuned_ref,
        "weights": {"base": result.base_weights, "tuned": result.tuned_weights},
        "text": result.encoding.text,
        "text_pair": result.encoding.text_pair,
        "truncated": result.encoding.truncated,
        "n_tokens": result.encoding.n,
        "n_tokens_untruncated": result.encoding.n_untruncated,
        "unit": s.unit,
        "units": list(analysis.labels),
        "segments": list(analysis.segments),
        "special_positions": list(analysis.special_positions),
        "prediction": None
        if pred is None
        else {"label": pred.label, "probabilities": {k: round(v, 6) for k, v in pred.probabilities}},
        "settings": {
            "method": s.method,
            "source": s.source,
            "threshold": s.threshold,
            "layers": list(analysis.layer_range),
            "heads": None if s.heads is None else list(s.heads),
            "decay": s.decay,
            "special": s.special,
            "measure": s.measure,
        },
        "scores": {
            "base": np.round(analysis.scores_base, 6).tolist(),
            "tuned": np.round(analysis.scores_tuned, 6).tolist(),
        },
        "edges": edges_table(analysis).round(6).to_dict(orient="records"),
        "graph": [
            {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in row.items()}
            for row in graph_records(drawn_graph(analysis), analysis.labels)
        ],
        "head_differences": {
            "js_divergence": _matrix(d.js),
            "mean_abs_diff": _matrix(d.mad),
            "flow_share_base": _matrix(d.flow_share_base),
            "flow_share_tuned": _matrix(d.flow_share_tuned),
        },
    }


def to_text(result: ExampleResult, analysis: Analysis, top: int = 8) -> str:
    """A readable summary: prediction, the most influential units in each model, the most changed heads."""
    lines = [
        f"base:  {result.base_ref}" + (f"  [{result.base_weights}]" if result.base_weights else ""),
        f"tuned: {result.tuned_ref}" + (f"  [{result.tuned_weights}]" if result.tuned_weights else ""),
    ]
    enc = result.encoding
    lines.append(f"text:  {enc.text}")
    if enc.text_pair is not None:
        lines.append(f"pair:  {enc.text_pair}")
    if enc.truncated:
        lines.append(f"note:  input truncated from {enc.n_untruncated} to {enc.n} tokens")
    pred = result.prediction_tuned
    if pred is not None:
        probs = ", ".join(f"{k} {v:.3f}" for k, v in pred.probabilities)
        lines.append(f"prediction (fine-tuned): {pred.label} ({probs})")
    s = analysis.settings
    a, b = analysis.layer_range
    lines.append(
        f"method {s.method}, from {analysis.labels[s.source]!r} (#{s.source}), layers {format_layers((a, b))}, "
        f"threshold {s.threshold}, decay {s.decay}, special tokens {s.special}, units {s.unit}s, "
        f"measure {s.measure} ({s.measure.short})"
    )
    for name, scores in (("base", analysis.scores_base), ("tuned", analysis.scores_tuned)):
        order = np.argsort(-scores)[:top]
        items = ", ".join(f"{analysis.labels[i]}#{i} {scores[i]:.3f}" for i in order if scores[i] > 0)
        lines.append(f"top flow ({name}): {items or '(nothing reached the input: lower the threshold)'}")
    status = np.asarray(analysis.trace.status, dtype=object)
    counts = {k: int((status == k).sum()) for k in ("shared", "base", "tuned")}
    lines.append(
        f"traced edges: {counts['shared']} shared, {counts['base']} base only, {counts['tuned']} fine-tuned only"
    )
    js = np.asarray(analysis.head_diff.js)
    flat = np.argsort(-js, axis=None)[:5]
    heads = ", ".join(f"L{i // js.shape[1] + 1}H{i % js.shape[1]} {js.flat[i]:.3f}" for i in flat)
    lines.append(f"most changed heads (JS divergence): {heads}")
    return "\n".join(lines)
