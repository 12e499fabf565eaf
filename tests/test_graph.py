"""The edges each flow method draws (attnflow_core.graph): hand-worked golden values and invariants."""

from __future__ import annotations

import numpy as np
import pytest

from attnflow_core import flows, methods
from attnflow_core.graph import (
    budget,
    graph_records,
    head_shares,
    maxflow_masses,
    rollout_masses,
    trace_masses,
)
from attnflow_core.methods import method_edges, pair_graph

# One head, two tokens: Â = ½A + ½I = [[0.9, 0.1], [0.2, 0.8]].
A1 = np.array([[0.8, 0.2], [0.4, 0.6]])


def _edges(e) -> dict[tuple[int, int, int], float]:
    return {
        (int(lay), int(j), int(i)): round(float(m), 6)
        for lay, j, i, m in zip(e.layer, e.src, e.dst, e.mass, strict=True)
    }


def _softmax(rng: np.random.Generator, shape: tuple[int, ...], sharp: float = 2.5) -> np.ndarray:
    x = sharp * rng.standard_normal(shape)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def test_rollout_edges_golden() -> None:
    """Two layers of A1 from token 0: r_2 = (1, 0), so layer 2 carries 0.9 and 0.1; r_1 = (0.9, 0.1), so layer 1
    carries 0.9·0.9 = 0.81, 0.9·0.1 = 0.09, 0.1·0.2 = 0.02, 0.1·0.8 = 0.08. One incoming edge per node keeps
    0.81 into token 0 and 0.09 (> 0.08) into token 1."""
    attn = np.stack([A1[None], A1[None]])  # (2, 1, 2, 2)
    masses, node = rollout_masses(attn, 0, (1, 2), None)
    np.testing.assert_allclose(masses[1], [[0.81, 0.09], [0.02, 0.08]])
    np.testing.assert_allclose(node[0], [0.83, 0.17])
    e = method_edges(attn, "rollout", source=0, per_node=1)
    assert _edges(e) == {(2, 0, 0): 0.9, (2, 0, 1): 0.1, (1, 0, 0): 0.81, (1, 0, 1): 0.09}


def test_trace_edges_golden_and_stop() -> None:
    """One layer, two heads, τ = 0.3 from token 0: head 0 keeps 0→0 (0.8), head 1 keeps 0→0 and 0→1 (0.5 each);
    merged masses (0.8 + 0.5)/2 = 0.65 and 0.5/2 = 0.25. At τ = 0.9 no edge passes: the trace stops at layer 1."""
    attn = np.array([[[[0.8, 0.2], [0.4, 0.6]], [[0.5, 0.5], [0.1, 0.9]]]])
    e = method_edges(attn, "trace", source=0, threshold=0.3)
    assert _edges(e) == {(1, 0, 0): 0.65, (1, 0, 1): 0.25}
    assert e.stopped is None
    stopped = method_edges(attn, "trace", source=0, threshold=0.9)
    assert stopped.n_edges == 0 and stopped.stopped == 1


def test_maxflow_edges_golden() -> None:
    """Two layers of A1 from token 0. Max flow to input 0 is 0.9 (via 0) + 0.1 (via 1) = 1.0, to input 1 is
    0.1 + 0.1 = 0.2; the summed flows over 1.2: layer 2 carries 1.0/1.2 and 0.2/1.2, layer 1 0.9/1.2 (0→0) and
    0.1/1.2 on each other edge; the inflow at the input is the max-flow score."""
    attn = np.stack([A1[None], A1[None]])
    masses, node = maxflow_masses(attn, 0, (1, 2), None)
    np.testing.assert_allclose(masses[2], [[1.0 / 1.2, 0.2 / 1.2], [0.0, 0.0]], atol=1e-8)
    np.testing.assert_allclose(masses[1], [[0.9 / 1.2, 0.1 / 1.2], [0.1 / 1.2, 0.1 / 1.2]], atol=1e-8)
    np.testing.assert_allclose(node[0], methods.flow_scores(attn, "maxflow", source=0), atol=1e-8)


def test_budget_keeps_the_strongest_incoming_edges_from_drawn_nodes() -> None:
    """Layer 2 from token 0 keeps both edges; in layer 1 token 2 is not drawn, so its heavy edge is dropped, and each
    target keeps its strongest incoming edge only."""
    m2 = np.array([[0.5, 0.4, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    m1 = np.array([[0.3, 0.2, 0.0], [0.1, 0.25, 0.05], [0.9, 0.9, 0.9]])
    kept = budget({2: m2, 1: m1}, 0, (1, 2), max_edges=100, per_node=1)
    assert kept == [(2, 0, 0, 0.5), (2, 0, 1, 0.4), (1, 0, 0, 0.3), (1, 1, 1, 0.25), (1, 1, 2, 0.05)]
    capped = budget({2: m2, 1: m1}, 0, (1, 2), max_edges=2, per_node=1)  # one edge per layer
    assert capped == [(2, 0, 0, 0.5), (1, 0, 0, 0.3)]


@pytest.mark.parametrize("method", ["trace", "rollout", "maxflow"])
def test_budget_respected_at_128_tokens(method: str) -> None:
    rng = np.random.default_rng(1)
    a, b = _softmax(rng, (3, 4, 128, 128)), _softmax(rng, (3, 4, 128, 128))
    g = pair_graph(a, b, method, source=5, threshold=0.1, max_edges=75)
    assert g.base.n_edges <= 75 and g.tuned.n_edges <= 75
    assert g.n_edges <= 150 and g.n_edges > 0
    # every drawn edge hangs from the source: its upper node is the source or the lower end of a drawn edge
    for e in (g.base, g.tuned):
        reached = {(3, 5)} | {(int(lay) - 1, int(i)) for lay, i in zip(e.layer, e.dst, strict=True)}
        assert all((int(lay), int(j)) in reached for lay, j in zip(e.layer, e.src, strict=True))


def test_trace_edges_are_thresholded_edges() -> None:
    rng = np.random.default_rng(2)
    attn = _softmax(rng, (3, 3, 20, 20))
    e = method_edges(attn, "trace", source=4, threshold=0.2, decay=0.9)
    t = flows.trace(attn, 4, 0.2, None, None, 0.9)
    kept = {(int(lay), int(j), int(i)) for lay, j, i in zip(t.layer, t.src, t.dst, strict=True)}
    assert e.n_edges > 0 and set(_edges(e)) <= kept
    masses, influence, stopped = trace_masses(attn, 4, 0.2, (1, 3), None, 0.9)
    # the layer below receives α × the mass of the layer's edges
    for layer in (3, 2, 1):
        np.testing.assert_allclose(influence[layer - 1], 0.9 * masses[layer].sum(axis=0), atol=1e-12)
    assert stopped is None


def test_rollout_edge_mass_sums_to_at_most_one_per_layer() -> None:
    rng = np.random.default_rng(3)
    attn = _softmax(rng, (4, 2, 30, 30))
    masses, node = rollout_masses(attn, 7, (1, 4), (0,))
    for layer in range(1, 5):
        assert masses[layer].sum() == pytest.approx(1.0)
    e = method_edges(attn, "rollout", source=7, heads=(0,), max_edges=40)
    for layer in range(1, 5):
        assert e.mass[e.layer == layer].sum() <= 1.0 + 1e-9
    np.testing.assert_allclose(node[0], flows.rollout(attn, (0,))[-1, 7], atol=1e-12)


def test_maxflow_edge_flows_are_conserved() -> None:
    """Flow into each node between the source and the input equals the flow out of it; the input inflows are the
    max-flow scores."""
    rng = np.random.default_rng(4)
    attn = _softmax(rng, (3, 2, 12, 12))
    masses, node = maxflow_masses(attn, 2, (1, 3), None)
    for layer in (1, 2):  # nodes (layer, ·): in through layer+1's edges, out through layer's edges
        np.testing.assert_allclose(masses[layer + 1].sum(axis=0), masses[layer].sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(masses[3].sum(axis=1), np.eye(12)[2], atol=1e-12)  # only the source sends
    np.testing.assert_allclose(node[0], methods.flow_scores(attn, "maxflow", source=2), atol=1e-8)


def test_pair_graph_labels_and_head_shares() -> None:
    """Two single-layer models: the edge both draw is shared, each other edge belongs to the model drawing it; the
    per-head attention is each head's weight on the edge; head shares sum to 1."""
    base = np.array([[[[0.8, 0.2], [0.5, 0.5]], [[0.6, 0.4], [0.5, 0.5]]]])
    tuned = np.array([[[[0.2, 0.8], [0.5, 0.5]], [[0.4, 0.6], [0.5, 0.5]]]])
    g = pair_graph(base, tuned, "trace", source=0, threshold=0.5)
    assert list(zip(g.dst.tolist(), g.status.tolist(), strict=True)) == [(0, "base"), (1, "tuned")]
    np.testing.assert_allclose(g.attn_base, [[0.8, 0.6], [0.2, 0.4]])
    np.testing.assert_allclose(g.mean_tuned, [0.3, 0.7])
    shares = head_shares(g, 1, 2, "base")
    np.testing.assert_allclose(shares, [[0.8 / 1.4, 0.6 / 1.4]])


def test_graph_records_name_each_drawn_edge() -> None:
    attn = np.stack([A1[None], A1[None]])
    g = pair_graph(attn, attn, "rollout", source=0, per_node=1)
    rows = graph_records(g, ("a", "b"))
    assert [(r["layer"], r["from_text"], r["to_text"], r["status"]) for r in rows] == [
        (2, "a", "a", "shared"), (2, "a", "b", "shared"), (1, "a", "a", "shared"), (1, "a", "b", "shared")
    ]  # fmt: skip
    assert rows[2]["mass_base"] == pytest.approx(0.81) and rows[2]["mean_attention_tuned"] == pytest.approx(
        0.8
    )
