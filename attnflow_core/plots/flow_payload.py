"""What the browser's flow engine (``flow_engine.js``) is given: the words and colours it draws with (``engine_vocab``,
read from their one Python definition each), one example's measured attention (``engine_payload``), the drawing
settings (``engine_settings``) and, for max-flow, the server's solution (``maxflow_edges``).

The engine recomputes every drawing setting in the browser (trace, rollout, the edge budget, head shares and the
figure columns); ``tests/plots/test_flow_engine.py`` checks it against ``flows``, ``graph`` and ``plots.flow_graph``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from attnflow_core.analysis import Analysis
from attnflow_core.errors import SettingsError
from attnflow_core.extract import MODEL_LABELS
from attnflow_core.graph import MAX_EDGES, PER_NODE, MethodEdges, PairGraph
from attnflow_core.measures import MEASURES
from attnflow_core.methods import METHODS
from attnflow_core.plots.flow_graph import (
    CAPTION_HEIGHT,
    EVEN_RATIO,
    FADED,
    GRID_TITLE_CHARS,
    WHOLE_LAYER,
    WHOLE_LAYERS,
)
from attnflow_core.plots.theme import (
    BASE,
    DARK_TEXT,
    DIV_HEIGHT,
    HIGHLIGHT,
    LIGHT_TEXT,
    STATUS_COLOURS,
    STATUS_LABELS,
    TUNED,
    ramp,
)
from attnflow_core.settings import FlowSettings

#: The engine's source: defines ``AttnflowEngine`` (and ``module.exports`` under Node.js).
ENGINE_JS_PATH = Path(__file__).with_name("flow_engine.js")


def engine_js() -> str:
    """The engine's JavaScript source (for the page's components.v2 module)."""
    return ENGINE_JS_PATH.read_text(encoding="utf-8")


def engine_vocab(model_labels: Mapping[str, str] = MODEL_LABELS) -> dict[str, Any]:
    """The engine's ``vocab`` argument: method and measure titles, model and edge-status labels, colours and the
    edge budget, each from its Python definition (so no wording is written twice). ``model_labels``: how the view
    names the two models (``Analysis.model_labels``: a checkpoint says its step)."""
    return {
        "methodTitles": {str(m): m.phrase for m in METHODS},
        "methodVerbs": {str(m): m.verb for m in METHODS},
        "methodUses": {str(m): {"threshold": m.uses_threshold, "decay": m.uses_decay} for m in METHODS},
        "measureTitles": {str(m): m.phrase for m in MEASURES},
        "measurePerHead": {str(m): m.per_head for m in MEASURES},
        "wholeLayer": WHOLE_LAYER,
        "wholeLayers": WHOLE_LAYERS,
        "gridTitleChars": GRID_TITLE_CHARS,
        "modelLabels": dict(model_labels),
        "plainModelLabels": dict(MODEL_LABELS),  # the sentence view's one-line title
        "statusLabels": dict(STATUS_LABELS),
        "statusColours": dict(STATUS_COLOURS),
        "faded": FADED,
        "highlight": HIGHLIGHT,
        "divHeight": DIV_HEIGHT,
        "captionHeight": CAPTION_HEIGHT,
        "evenRatio": EVEN_RATIO,
        "darkText": DARK_TEXT,
        "lightText": LIGHT_TEXT,
        "palettes": {"base": ramp(BASE), "tuned": ramp(TUNED)},
        "maxEdges": MAX_EDGES,
        "perNode": PER_NODE,
    }


def engine_payload(analysis: Analysis, measure_includes_residual: bool | None = None) -> dict[str, Any]:
    """One example's data for the engine: sizes, unit labels and segments, and both models' measured attention
    (L, H, n, n) float32 (after the measure, the special-token treatment and the units) as C-ordered arrays; the
    caller encodes them for transport (e.g. their bytes). ``measure_includes_residual``: whether rollout adds no
    ½·I (None: the measure's own ``includes_residual``, as the view sends it)."""
    if measure_includes_residual is None:
        measure_includes_residual = analysis.settings.measure.includes_residual
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


def _heads(settings: FlowSettings) -> list[int] | None:
    """The head subset the view draws: none (all heads, or the whole layer) under a measure without a per-head
    part, whatever the session holds."""
    if settings.heads is None or not settings.measure.per_head:
        return None
    return [int(h) for h in settings.heads]


def drawing_settings(
    settings: FlowSettings, n_layers: int, per_head: bool, differences: bool
) -> dict[str, Any]:
    """The drawing part of ``settings`` (and the view's two toggles) as the view's widgets hold them: what the
    page asks the view to show, and what the view reports back (``settings_from_report``)."""
    return {
        "method": str(settings.method),
        "source": int(settings.source),
        "threshold": float(settings.threshold),
        "decay": float(settings.decay),
        "layers": list(settings.layers or (1, n_layers)),
        "heads": _heads(settings),
        "perHead": bool(per_head and settings.measure.per_head),
        "differences": bool(differences),
    }


def settings_from_report(
    report: Mapping[str, Any], base: FlowSettings, n_layers: int, n_heads: int, n: int
) -> tuple[FlowSettings, bool, bool]:
    """The view's reported drawing settings on top of ``base`` (its measure, units, special tokens): (settings,
    per-head edges, emphasise differences). A SettingsError when a value does not fit this model and example (the
    report comes from the page's own view, but the browser is not trusted)."""
    try:
        layers = report.get("layers")
        heads = report.get("heads")
        settings = replace(
            base,
            method=METHODS.get(str(report["method"])),
            source=int(report["source"]),
            threshold=float(report["threshold"]),
            decay=float(report["decay"]),
            layers=None if layers is None else (int(layers[0]), int(layers[1])),
            heads=None if not heads else tuple(int(h) for h in heads),
        ).validated(n_layers, n_heads, n)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise SettingsError(f"the view reported unusable settings ({err})") from err
    return settings, bool(report.get("perHead")), bool(report.get("differences", True))


def maxflow_solution(g: PairGraph, settings: FlowSettings, n_layers: int) -> dict[str, Any]:
    """A max-flow solution for the view: what it was solved for (source, layers, heads: the view compares them with
    its own settings) and both models' edges (``maxflow_edges``)."""
    return {
        "settings": {
            "source": int(settings.source),
            "layers": list(settings.layers or (1, n_layers)),
            "heads": _heads(settings),
        },
        **maxflow_edges(g),
    }


def pack_view(kind: str, view_id: str, layout: Any, arrays: Mapping[str, np.ndarray]) -> bytes:
    """The bytes the page's view host unpacks (``pages/ui/view_host.js``): a little-endian u32 header length, the
    header JSON ({id, kind, doc: the layout's ``json_item``, arrays: [[name, length], ...]}) and each array as
    float32."""
    from bokeh.embed import json_item

    flat = {name: np.ascontiguousarray(a, dtype="<f4").ravel() for name, a in arrays.items()}
    header = json.dumps(
        {
            "id": view_id,
            "kind": kind,
            "doc": json.dumps(json_item(layout)),
            "arrays": [[name, int(a.size)] for name, a in flat.items()],
        }
    ).encode("utf-8")
    return b"".join([len(header).to_bytes(4, "little"), header, *(a.tobytes() for a in flat.values())])


def unpack_view(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``pack_view`` read back: (header, {name: float32 array}) (tests; the browser does the same in JS)."""
    size = int.from_bytes(data[:4], "little")
    header = json.loads(data[4 : 4 + size].decode("utf-8"))
    arrays, offset = {}, 4 + size
    for name, length in header["arrays"]:
        arrays[name] = np.frombuffer(data, dtype="<f4", count=length, offset=offset)
        offset += 4 * length
    return header, arrays


def attention_source(analysis: Analysis, with_arrays: bool = True) -> Any:
    """A view's ``payload`` source: both models' measured attention (L, H, n, n) as flat float32 arrays, or one
    zero each without ``with_arrays`` (the host then puts the arrays it sends in binary, ``pack_view``)."""
    from bokeh.models import ColumnDataSource

    arrays = (
        (np.ascontiguousarray(analysis.attn_base, np.float32).ravel(),
         np.ascontiguousarray(analysis.attn_tuned, np.float32).ravel())
        if with_arrays else (np.zeros(1, np.float32), np.zeros(1, np.float32))
    )  # fmt: skip
    return ColumnDataSource({"base": [arrays[0]], "tuned": [arrays[1]]}, name="payload")
