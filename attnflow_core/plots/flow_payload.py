"""What the browser's flow engine (``flow_engine.js``) is given: the words and colours it draws with (``engine_vocab``,
read from their one Python definition each), one example's measured attention (``engine_payload``), the drawing
settings (``engine_settings``) and, for max-flow, the server's solution (``maxflow_edges``).

The engine recomputes every drawing setting in the browser (trace, rollout, the edge budget, head shares and the
figure columns); ``tests/plots/test_flow_engine.py`` checks it against ``flows``, ``graph`` and ``plots.flow_graph``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attnflow_core.analysis import Analysis
from attnflow_core.graph import MAX_EDGES, PER_NODE, MethodEdges, PairGraph
from attnflow_core.measures import MEASURES
from attnflow_core.methods import METHODS
from attnflow_core.plots.flow_graph import FADED
from attnflow_core.plots.theme import DIV_HEIGHT, HIGHLIGHT, MODEL_LABELS, STATUS_COLOURS, STATUS_LABELS

#: The engine's source: defines ``AttnflowEngine`` (and ``module.exports`` under Node.js).
ENGINE_JS_PATH = Path(__file__).with_name("flow_engine.js")


def engine_js() -> str:
    """The engine's JavaScript source (for the page's components.v2 module)."""
    return ENGINE_JS_PATH.read_text(encoding="utf-8")


def engine_vocab() -> dict[str, Any]:
    """The engine's ``vocab`` argument: method and measure titles, model and edge-status labels, colours and the
    edge budget, each from its Python definition (so no wording is written twice)."""
    return {
        "methodTitles": {str(m): m.phrase for m in METHODS},
        "measureTitles": {str(m): m.phrase for m in MEASURES},
        "modelLabels": dict(MODEL_LABELS),
        "statusLabels": dict(STATUS_LABELS),
        "statusColours": dict(STATUS_COLOURS),
        "faded": FADED,
        "highlight": HIGHLIGHT,
        "divHeight": DIV_HEIGHT,
        "maxEdges": MAX_EDGES,
        "perNode": PER_NODE,
    }


def engine_payload(analysis: Analysis, measure_includes_residual: bool = False) -> dict[str, Any]:
    """One example's data for the engine: sizes, unit labels and segments, and both models' measured attention
    (L, H, n, n) float32 (after the measure, the special-token treatment and the units) as C-ordered arrays; the
    caller encodes them for transport (e.g. their bytes)."""
    n_layers, n_heads, n = (int(x) for x in analysis.attn_base.shape[:3])
    return {
        "n": n,
        "L": n_layers,
        "H": n_heads,
        "labels": list(analysis.labels),
        "segments": [int(x) for x in analysis.segments],
        "specialPositions": [int(x) for x in analysis.special_positions],
        "attnBase": np.ascontiguousarray(analysis.attn_base, dtype=np.float32),
        "attnTuned": np.ascontiguousarray(analysis.attn_tuned, dtype=np.float32),
        "measure": analysis.settings.measure,
        "measureIncludesResidual": bool(measure_includes_residual),
        "unit": analysis.settings.unit,
    }


def engine_settings(analysis: Analysis, per_head: bool, differences: bool) -> dict[str, Any]:
    """The drawing settings of an analysis (and the two view toggles) as the engine reads them."""
    s = analysis.settings
    return {
        "method": s.method,
        "source": int(s.source),
        "threshold": float(s.threshold),
        "decay": float(s.decay),
        "layers": list(s.layers) if s.layers is not None else None,
        "heads": [int(h) for h in s.heads] if s.heads is not None else None,
        "perHead": bool(per_head),
        "differences": bool(differences),
        "unit": s.unit,
    }


def _method_edges(e: MethodEdges) -> dict[str, Any]:
    return {
        "layer": e.layer.astype(int).tolist(),
        "src": e.src.astype(int).tolist(),
        "dst": e.dst.astype(int).tolist(),
        "mass": e.mass.astype(np.float64).tolist(),
        "node": np.asarray(e.node, dtype=np.float64).ravel().tolist(),
        "stopped": e.stopped,
    }


def maxflow_edges(g: PairGraph) -> dict[str, Any]:
    """Both models' max-flow edges (``graph.method_edges`` under max-flow) as the engine's ``maxflow`` argument."""
    return {"base": _method_edges(g.base), "tuned": _method_edges(g.tuned)}
