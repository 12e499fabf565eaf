"""The Attention flow layout: the Python mirror of the click-to-trace code, the embedded data, and the CustomJS
re-trace itself (run in Node.js) against ``flows.trace``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from bokeh.models import ColumnDataSource, CustomJS

from attnflow_core import flows
from attnflow_core.analysis import Analysis, FlowSettings, analyse
from attnflow_core.compare import head_flow_share
from attnflow_core.extract import ExampleResult
from attnflow_core.flows import select_heads, trace
from attnflow_core.plots import flow_graph
from attnflow_core.plots.flow_graph import build_flow_layout, sparse_attention, sparse_trace
from attnflow_core.plots.theme import BASE, SHARED, STATUS_LABELS, TUNED, natural_size

COLOURS = {"shared": SHARED, "base": BASE, "tuned": TUNED}

# ------------------------------------------------------------------ sparse_trace == flows.trace

# (layers, heads) on a 3-layer, 2-head model: everything, a sub-range with one head, a single layer.
RANGES = [(None, None), ((2, 3), (0,)), ((1, 2), (1,)), ((2, 2), None), ((1, 3), (0, 1))]


def _sparse_run(attn: np.ndarray, source: int, threshold: float, layers, heads, decay: float):
    n_layers, n_heads, n = attn.shape[0], attn.shape[1], attn.shape[-1]
    span = layers or (1, n_layers)
    sp = sparse_attention(attn, span, heads, threshold)
    kept, influence = sparse_trace(
        sp, n, n_layers, source, span, int(select_heads(n_heads, heads).size), decay
    )
    return sp, kept, influence


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.3])
@pytest.mark.parametrize(("layers", "heads"), RANGES)
def test_sparse_trace_equals_flows_trace(
    random_attention: Callable[..., np.ndarray], dtype: type, threshold: float, layers, heads
) -> None:
    """The Python mirror of the browser code keeps exactly the edges ``flows.trace`` keeps (same order, same
    weights) and spreads the same influence, for every source token, on float64 and float32 attention."""
    decay = 0.7
    for seed in range(4):
        attn: np.ndarray = random_attention(np.random.default_rng(seed), (3, 2, 5, 5)).astype(dtype)
        for source in range(5):
            ref = trace(attn, source, threshold, layers, heads, decay)
            sp, kept, influence = _sparse_run(attn, source, threshold, layers, heads, decay)
            got = np.stack([sp.layer[kept], sp.head[kept], sp.src[kept], sp.dst[kept]])
            want = np.stack([ref.layer, ref.head, ref.src, ref.dst])
            assert got.shape == want.shape and np.array_equal(got, want), (seed, source)
            np.testing.assert_allclose(sp.weight[kept], ref.weight, rtol=1e-12)
            np.testing.assert_allclose(influence, ref.influence, rtol=1e-12, atol=1e-15)


def test_sparse_trace_keeps_a_real_subset(random_attention: Callable[..., np.ndarray]) -> None:
    """The comparison above is not vacuous: at τ = 0.1 some entries are embedded but never reached, and the trace
    keeps edges in every layer of the range."""
    attn = random_attention(np.random.default_rng(0), (3, 2, 5, 5))
    sp, kept, _ = _sparse_run(attn, 2, 0.1, None, None, 0.7)
    assert 0 < kept.sum() < sp.size
    assert set(sp.layer[kept].tolist()) == {1, 2, 3}


def test_sparse_attention_threshold_agrees_with_trace_on_float32() -> None:
    """τ = 0.02 is a slider value whose float32 is below it: an attention weight of exactly float32(0.02) is below
    τ for ``flows.trace`` and must not be kept by the browser's re-trace either."""
    tau = 0.02
    assert float(np.float32(tau)) < tau
    row = np.array([np.float32(tau), 0.49, 0.49], dtype=np.float32)
    attn = np.tile(row, (1, 1, 3, 1))  # (1 layer, 1 head, 3, 3)
    ref = trace(attn, 0, tau)
    sp, kept, _ = _sparse_run(attn, 0, tau, None, None, 1.0)
    assert ref.n_edges == 2  # the 0.49 edges only
    assert int(kept.sum()) == ref.n_edges


# ------------------------------------------------------------------ the built layout


@pytest.fixture(scope="module")
def analysis(sharp_result: ExampleResult) -> Analysis:
    """The peaky example traced from 'france' (#6) with decay: edges of all three statuses."""
    a = analyse(sharp_result, FlowSettings(source=6, threshold=0.1, decay=0.8))
    assert set(np.asarray(a.trace.status).tolist()) == {"shared", "base", "tuned"}
    return a


@pytest.fixture(scope="module")
def layout(analysis: Analysis, sharp_result: ExampleResult) -> Any:
    return build_flow_layout(analysis, sharp_result)


def _edge_keys(t: flows.Trace) -> set[tuple[int, int, int]]:
    return {(int(lay), int(s), int(d)) for lay, s, d in zip(t.layer, t.src, t.dst, strict=True)}


def _shown(
    tb: flows.Trace, tt: flows.Trace, attn: np.ndarray, n_heads: int
) -> dict[tuple[int, int, int], float]:
    """One model's attention summed, per (layer, src, dst), over every head that keeps the edge in either model's
    trace, divided by the number of heads: what the hover shows (a weight below τ included)."""
    heads = {
        (int(lay), int(h), int(s), int(d))
        for t in (tb, tt)
        for lay, h, s, d in zip(t.layer, t.head, t.src, t.dst, strict=True)
    }
    out: dict[tuple[int, int, int], float] = {}
    for lay, h, s, d in heads:
        out[(lay, s, d)] = out.get((lay, s, d), 0.0) + float(attn[lay - 1, h, s, d]) / n_heads
    return out


def test_edges_hold_one_row_per_traced_layer_src_dst(layout: Any, analysis: Analysis) -> None:
    """'edges' has one row per (layer, src, dst) the pair trace keeps, coloured by which model keeps it, with the
    per-model weights summed over heads and the hover target at the segment's midpoint."""
    edges = layout.select_one({"name": "edges"}).data
    rows = list(zip(edges["layer"], [-y for y in edges["y0"]], [-y for y in edges["y1"]], strict=True))
    tr = analysis.trace
    assert len(rows) == len(set(rows))
    assert set(rows) == _edge_keys(tr.base) | _edge_keys(tr.tuned)
    kb, kt = _edge_keys(tr.base), _edge_keys(tr.tuned)
    wb = _shown(tr.base, tr.tuned, analysis.attn_base, 3)
    wt = _shown(tr.base, tr.tuned, analysis.attn_tuned, 3)
    for k, key in enumerate(rows):
        status = "shared" if key in kb and key in kt else ("base" if key in kb else "tuned")
        assert edges["colour"][k] == COLOURS[status], key
        assert edges["status"][k] == STATUS_LABELS[status]
        assert edges["wb"][k] == pytest.approx(wb.get(key, 0.0), abs=1e-4)
        assert edges["wt"][k] == pytest.approx(wt.get(key, 0.0), abs=1e-4)
        assert (edges["x0"][k], edges["x1"][k]) == (key[0], key[0] - 1)
        assert edges["xm"][k] == pytest.approx((edges["x0"][k] + edges["x1"][k]) / 2)
        assert edges["ym"][k] == pytest.approx((edges["y0"][k] + edges["y1"][k]) / 2)
    assert {COLOURS[s] for s in ("shared", "base", "tuned")} <= set(edges["colour"])
    # An edge only one model keeps shows the other model's weight on it too (below τ, but not hidden as 0).
    one_model = [k for k, st in enumerate(edges["status"]) if st != STATUS_LABELS["shared"]]
    assert any(min(edges["wb"][k], edges["wt"][k]) > 0 for k in one_model)


def test_nodes_cover_the_layer_range_with_the_influence(layout: Any, analysis: Analysis) -> None:
    """'nodes' has (layers in range + 1) × n rows, one per (layer, token), carrying each model's influence."""
    nodes = layout.select_one({"name": "nodes"}).data
    a, b = analysis.layer_range
    assert len(nodes["x"]) == (b - a + 2) * analysis.n
    ib = analysis.trace.base.influence[nodes["layer"], nodes["token"]]
    it = analysis.trace.tuned.influence[nodes["layer"], nodes["token"]]
    np.testing.assert_allclose(nodes["ib"], ib, atol=1e-5)
    np.testing.assert_allclose(nodes["it"], it, atol=1e-5)
    assert nodes["label"] == [analysis.labels[t] for t in nodes["token"]]


def test_decay_shrinks_the_nodes_further_from_the_source(sharp_result: ExampleResult) -> None:
    """Node markers are sized against the largest influence anywhere, so α < 1 visibly shrinks the lower layers
    (per-layer sizing would cancel α out)."""

    def sizes(decay: float) -> dict[int, float]:
        a = analyse(sharp_result, FlowSettings(source=6, threshold=0.05, decay=decay))
        nodes = build_flow_layout(a, sharp_result).select_one({"name": "nodes"}).data
        return {
            lay: max(sz for ly, sz in zip(nodes["layer"], nodes["sb"], strict=True) if ly == lay)
            for lay in (0, 3)
        }

    full, decayed = sizes(1.0), sizes(0.3)
    assert full[3] == decayed[3]  # the source itself
    assert 0 < decayed[0] < full[0]


def test_layer_range_and_heads_shape_the_graph(sharp_result: ExampleResult) -> None:
    """A sub-range draws only its layers (plus the one below it) and divides the edge weights by the chosen heads."""
    a = analyse(sharp_result, FlowSettings(source=9, threshold=0.1, layers=(2, 3), heads=(0, 2)))
    root = build_flow_layout(a, sharp_result)
    nodes = root.select_one({"name": "nodes"}).data
    assert sorted(set(nodes["layer"])) == [1, 2, 3] and len(nodes["x"]) == 3 * a.n
    edges = root.select_one({"name": "edges"}).data
    assert set(edges["layer"]) <= {2, 3} and edges["layer"]
    wb = _shown(a.trace.base, a.trace.tuned, a.attn_base, 2)
    for k, (lay, y0, y1) in enumerate(zip(edges["layer"], edges["y0"], edges["y1"], strict=True)):
        assert edges["wb"][k] == pytest.approx(wb[(lay, -y0, -y1)], abs=1e-4)
    assert root.select_one({"name": "flow_graph"}).xaxis.major_label_overrides[1] == "layer 1"


def test_source_ring_title_and_size(layout: Any, analysis: Analysis) -> None:
    """The ring marks the source at the top layer, the title names the source token, and the root reserves exactly
    the room its children need."""
    b = analysis.layer_range[1]
    assert layout.select_one({"name": "source_ring"}).data == {"x": [b], "y": [-6]}
    title = layout.select_one({"name": "flow_graph"}).title.text
    assert title.startswith("Attention flow from 'france' (#6)")
    assert "τ = 0.1" in title and "α = 0.8" in title
    assert (layout.width, layout.height) == natural_size(layout)
    assert layout.name == "flow_layout"
    assert "france" in layout.select_one({"name": "flow_caption"}).text


def test_head_grid_holds_each_heads_share_of_the_trace(layout: Any, analysis: Analysis) -> None:
    """The layer × head grid shows ``compare.head_flow_share`` of each model's trace, in (layer, head) order."""
    grid = layout.select_one({"name": "head_grid"}).data
    n_layers, n_heads = analysis.attn_base.shape[:2]
    np.testing.assert_allclose(
        grid["vb"], head_flow_share(analysis.trace.base, n_heads, n_layers).ravel(), atol=1e-5
    )
    np.testing.assert_allclose(
        grid["vt"], head_flow_share(analysis.trace.tuned, n_heads, n_layers).ravel(), atol=1e-5
    )
    assert grid["layer"][:n_heads] == [1] * n_heads and grid["head"][:n_heads] == list(range(n_heads))


# ------------------------------------------------------------------ the click, run in Node.js


def _click_callback(root: Any) -> tuple[CustomJS, ColumnDataSource]:
    nodes = root.select_one({"name": "nodes"})
    callbacks = nodes.selected.js_property_callbacks.get("change:indices", [])
    assert len(callbacks) == 1, "the node selection should carry exactly one click-to-trace CustomJS"
    return callbacks[0], nodes


def _node_index(nodes: ColumnDataSource, layer: int, token: int) -> int:
    hits = [k for k, (lay, t) in enumerate(zip(nodes.data["layer"], nodes.data["token"], strict=True))
            if lay == layer and t == token]  # fmt: skip
    assert len(hits) == 1
    return hits[0]


CLICKS = [
    pytest.param(FlowSettings(source=6, threshold=0.1, decay=0.8), 9, id="trace-all-layers"),
    pytest.param(
        FlowSettings(
            source=0, threshold=0.05, layers=(2, 3), heads=(0, 2), unit="word", special="renormalise"
        ),
        11,
        id="trace-range-heads-words",
    ),
    pytest.param(FlowSettings(method="rollout", source=2, threshold=0.15, decay=0.9), 4, id="rollout"),
    pytest.param(
        FlowSettings(method="maxflow", source=1, threshold=0.0, layers=(1, 2)), 12, id="maxflow-tau0"
    ),
]


@pytest.mark.parametrize(("settings", "clicked"), CLICKS)
def test_click_retraces_like_python(
    sharp_result: ExampleResult,
    run_customjs: Callable[..., dict[str, Any]],
    settings: FlowSettings,
    clicked: int,
) -> None:
    """Clicking a top-layer node runs the layout's JavaScript; it must give what Python computes for that token:
    ``flows.trace`` influence per node, the kept edges summed over heads, the input scores in the sentence view,
    ``head_flow_share`` in the grid, and the same title, ring and edge styling as choosing the token in the sidebar."""
    an = analyse(sharp_result, settings)
    assert clicked != settings.source
    root = build_flow_layout(an, sharp_result)
    callback, nodes = _click_callback(root)
    a, b = an.layer_range
    out = run_customjs(callback, {"nodes": [_node_index(nodes, b, clicked)]})

    n_layers, n_heads = an.attn_base.shape[:2]
    nh = int(select_heads(n_heads, settings.heads).size)
    args = (clicked, settings.threshold, (a, b), settings.heads, settings.decay)
    tb, tt = trace(an.attn_base, *args), trace(an.attn_tuned, *args)
    assert tb.n_edges and tt.n_edges

    # Influence on every node.
    nd = out["nodes"]["data"]
    np.testing.assert_allclose(nd["ib"], tb.influence[nd["layer"], nd["token"]], atol=1e-5)
    np.testing.assert_allclose(nd["it"], tt.influence[nd["layer"], nd["token"]], atol=1e-5)

    # Kept edges, summed over heads per (layer, src, dst), and their status.
    ed = out["edges"]["data"]
    rows = [(lay, -y0, -y1) for lay, y0, y1 in zip(ed["layer"], ed["y0"], ed["y1"], strict=True)]
    kb, kt = _edge_keys(tb), _edge_keys(tt)
    assert len(rows) == len(set(rows)) and set(rows) == kb | kt
    wb, wt = _shown(tb, tt, an.attn_base, nh), _shown(tb, tt, an.attn_tuned, nh)
    for k, key in enumerate(rows):
        status = "shared" if key in kb and key in kt else ("base" if key in kb else "tuned")
        assert (ed["colour"][k], ed["status"][k]) == (COLOURS[status], STATUS_LABELS[status]), key
        assert ed["wb"][k] == pytest.approx(wb.get(key, 0.0), abs=1e-5)
        assert ed["wt"][k] == pytest.approx(wt.get(key, 0.0), abs=1e-5)

    # Sentence view: trace input scores (rollout keeps its own scores; max-flow shows the trace after a click).
    sd = out["sentence"]["data"]
    if settings.method == "rollout":
        want_b = flows.flow_scores(an.attn_base, "rollout", clicked, layers=(a, b), heads=settings.heads)
        want_t = flows.flow_scores(an.attn_tuned, "rollout", clicked, layers=(a, b), heads=settings.heads)
    else:
        want_b, want_t = tb.input_scores, tt.input_scores
    np.testing.assert_allclose(sd["sb"], want_b, atol=1e-5)
    np.testing.assert_allclose(sd["st"], want_t, atol=1e-5)

    # Head grid: each head's share of the traced flow.
    gd = out["grid"]["data"]
    np.testing.assert_allclose(gd["vb"], head_flow_share(tb, n_heads, n_layers).ravel(), atol=1e-5)
    np.testing.assert_allclose(gd["vt"], head_flow_share(tt, n_heads, n_layers).ravel(), atol=1e-5)

    # The same view as picking the token in the sidebar: title, rings, edge geometry and widths, node sizes.
    picked = build_flow_layout(analyse(sharp_result, _with_source(settings, clicked)), sharp_result)
    assert out["title"]["text"] == picked.select_one({"name": "flow_graph"}).title.text
    assert (
        out["ring"]["data"] == picked.select_one({"name": "source_ring"}).data == {"x": [b], "y": [-clicked]}
    )
    ring = picked.select_one({"name": "sentence_ring"}).data
    for col in ("x", "y", "w"):
        assert out["sent_ring"]["data"][col] == pytest.approx(ring[col])
    _assert_same_edges(ed, picked.select_one({"name": "edges"}).data)
    pn = picked.select_one({"name": "nodes"}).data
    np.testing.assert_allclose(nd["sb"], pn["sb"], atol=1e-3)
    np.testing.assert_allclose(nd["st"], pn["st"], atol=1e-3)
    if settings.method != "maxflow":  # max-flow's sidebar view shows max-flow scores, not the trace
        np.testing.assert_allclose(sd["ab"], picked.select_one({"name": "sentence"}).data["ab"], atol=1e-3)
    assert f"{an.labels[clicked]}</b> (#{clicked})" in out["note"]["text"]


def _with_source(settings: FlowSettings, source: int) -> FlowSettings:
    from dataclasses import replace

    return replace(settings, source=source)


def _assert_same_edges(js: dict[str, list[Any]], py: dict[str, list[Any]]) -> None:
    """Edge tables equal up to row order (the browser sorts its keys as strings)."""

    def by_key(d: dict[str, list[Any]]) -> dict[tuple[int, int, int], dict[str, Any]]:
        keys = zip(d["layer"], d["y0"], d["y1"], strict=True)
        return {key: {c: d[c][k] for c in d} for k, key in enumerate(keys)}

    a, b = by_key(js), by_key(py)
    assert a.keys() == b.keys()
    for key in a:
        for col in ("x0", "y0", "x1", "y1", "xm", "ym", "colour", "status", "heads", "from", "to"):
            assert a[key][col] == b[key][col], (key, col)
        for col in ("wb", "wt", "width"):
            assert a[key][col] == pytest.approx(b[key][col], abs=1e-3), (key, col)


def test_click_is_off_above_the_embedding_limit(
    sharp_result: ExampleResult, run_customjs: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more entries than MAX_SPARSE nothing is embedded; a click only says to raise τ and changes no data."""
    monkeypatch.setattr(flow_graph, "MAX_SPARSE", 10)
    an = analyse(sharp_result, FlowSettings(source=6, threshold=0.1))
    root = build_flow_layout(an, sharp_result)
    assert "Raise τ to enable click-to-trace" in root.select_one({"name": "flow_caption"}).text
    callback, nodes = _click_callback(root)
    assert len(callback.args["spb"]["layer"]) == 0 and callback.args["enabled"] is False
    before = root.select_one({"name": "edges"}).data
    out = run_customjs(callback, {"nodes": [_node_index(nodes, an.layer_range[1], 3)]})
    assert "Click-to-trace is off" in out["note"]["text"]
    assert out["edges"]["data"] == {k: list(v) for k, v in before.items()}
    assert out["ring"]["data"] == {"x": [an.layer_range[1]], "y": [-6]}


def test_click_at_tau_zero_keeps_edges_reached_through_tiny_weights(
    tiny_result: ExampleResult, run_customjs: Callable[..., dict[str, Any]]
) -> None:
    """Uniform attention, except that token 5 in the top layer sends 3e-7 of its attention to token 2: at τ = 0
    ``flows.trace`` from token 5 keeps token 2's edges in layer 1, and so must the click."""
    n = tiny_result.encoding.n
    attn = np.full((2, 1, n, n), 1.0 / n, dtype=np.float32)
    attn[1, 0, 5] = 0.0
    attn[1, 0, 5, 1], attn[1, 0, 5, 2] = 1.0 - 3e-7, 3e-7
    result = ExampleResult(
        encoding=tiny_result.encoding, attn_base=attn, attn_tuned=attn.copy(), prediction_tuned=None,
        prediction_base=None, base_ref="b", tuned_ref="t",
    )  # fmt: skip
    an = analyse(result, FlowSettings(source=0, threshold=0.0))
    callback, nodes = _click_callback(build_flow_layout(an, result))
    out = run_customjs(callback, {"nodes": [_node_index(nodes, 2, 5)]})
    ed = out["edges"]["data"]
    rows = {(lay, -y0, -y1) for lay, y0, y1 in zip(ed["layer"], ed["y0"], ed["y1"], strict=True)}
    want = _edge_keys(trace(an.attn_base, 5, 0.0))
    assert (1, 2, 0) in want
    assert rows == want
