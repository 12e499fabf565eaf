"""Flow computations: hand-worked golden values on 2-layer, 3-token cases, networkx agreement, invariants."""

from __future__ import annotations

import numpy as np
import pytest

from attnflow_core.flows import (
    max_flow,
    max_flow_reference,
    residual_attention,
    rollout,
    select_heads,
    special_attention,
    trace,
    trace_pair,
)
from attnflow_core.methods import flow_scores

# One head, two layers, three tokens. Rows are queries, columns keys.
A1 = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
A2 = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
ATTN = np.stack([A1, A2])[:, None].astype(np.float32)  # (2, 1, 3, 3)


def random_attention(
    rng: np.random.Generator, layers: int, heads: int, n: int, temp: float = 2.0
) -> np.ndarray:
    logits = rng.normal(size=(layers, heads, n, n)) * temp
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def test_rollout_golden() -> None:
    # Â = 0.5·A + 0.5·I (rows already sum to 1):
    # Â1 = [[.75,.25,0],[0,1,0],[0,0,1]], Â2 = [[.5,.25,.25],[.5,.5,0],[0,0,1]].
    # R2 = Â2·Â1 = [[.375,.375,.25],[.375,.625,0],[0,0,1]].
    r = rollout(ATTN)
    np.testing.assert_allclose(r[0], [[0.75, 0.25, 0], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(r[1], [[0.375, 0.375, 0.25], [0.375, 0.625, 0], [0, 0, 1]])


def test_max_flow_golden() -> None:
    # From (2, 0): capacities out are .5→(1,0), .25→(1,1), .25→(1,2). To (0,0): only (1,0)→(0,0) with .75 and
    # (2,0)→(1,0) with .5, so 0.5. To (0,1): via (1,0) .25 (cap .25 on (1,0)→(0,1)) and via (1,1) .25 -> 0.5.
    # To (0,2): only (1,2)→(0,2) with 1 fed by .25 -> 0.25.
    np.testing.assert_allclose(max_flow(ATTN, source=0), [0.5, 0.5, 0.25], atol=1e-8)


def test_trace_golden() -> None:
    # τ = 0.5 from [CLS]=0 at layer 2: A2 row 0 keeps (0→1, .5) and (0→2, .5); I1 = [0, .5, .5].
    # Layer 1: active 1 and 2; A1 row 1 keeps (1→1, 1), row 2 keeps (2→2, 1); I0 = [0, .5, .5].
    t = trace(ATTN, source=0, threshold=0.5)
    assert list(zip(t.layer, t.head, t.src, t.dst, t.weight, strict=True)) == [
        (2, 0, 0, 1, 0.5),
        (2, 0, 0, 2, 0.5),
        (1, 0, 1, 1, 1.0),
        (1, 0, 2, 2, 1.0),
    ]
    np.testing.assert_allclose(t.influence, [[0, 0.5, 0.5], [0, 0.5, 0.5], [1, 0, 0]])
    np.testing.assert_allclose(t.input_scores, [0, 0.5, 0.5])
    # With decay α = 0.5 each layer travelled halves the mass: I1 = [0, .25, .25], I0 = [0, .125, .125].
    np.testing.assert_allclose(trace(ATTN, 0, 0.5, decay=0.5).influence[0], [0, 0.125, 0.125])


def test_trace_layer_range_and_heads() -> None:
    # Layers (2, 2): start at layer 2 and stop at layer 1; nothing below.
    t = trace(ATTN, source=1, threshold=0.5, layers=(2, 2))
    assert t.layer.tolist() == [2] and t.dst.tolist() == [0]
    np.testing.assert_allclose(t.input_scores, [1, 0, 0])
    assert t.influence[0].sum() == 0
    two_heads = np.concatenate([ATTN, ATTN[:, :, ::-1]], axis=1)
    assert set(trace(two_heads, 0, 0.3, heads=[1]).head.tolist()) == {1}


def test_threshold_extremes() -> None:
    rng = np.random.default_rng(0)
    a = random_attention(rng, 3, 2, 5)
    everything = trace(a, 0, threshold=0.0)
    # τ = 0 keeps every positive edge from the active nodes: 2 heads × 5 keys at the top, then 5 × 2 × 5 below.
    assert everything.n_edges == 2 * 5 + 2 * (5 * 2 * 5)
    nothing = trace(a, 0, threshold=1.0)
    assert nothing.n_edges == 0 and nothing.input_scores.sum() == 0


def test_pair_trace_labels_edges() -> None:
    rng = np.random.default_rng(1)
    a, b = random_attention(rng, 2, 2, 4), random_attention(rng, 2, 2, 4)
    same = trace_pair(a, a, threshold=0.2)
    assert set(same.status.tolist()) == {"shared"}
    np.testing.assert_allclose(same.weight_base, same.weight_tuned)
    pt = trace_pair(a, b, threshold=0.2)
    keys = {
        (int(x), int(h), int(s), int(d)) for x, h, s, d in zip(pt.layer, pt.head, pt.src, pt.dst, strict=True)
    }
    kb = {(int(x), int(h), int(s), int(d)) for x, h, s, d in zip(pt.base.layer, pt.base.head, pt.base.src, pt.base.dst, strict=True)}  # fmt: skip
    kt = {(int(x), int(h), int(s), int(d)) for x, h, s, d in zip(pt.tuned.layer, pt.tuned.head, pt.tuned.src, pt.tuned.dst, strict=True)}  # fmt: skip
    assert keys == kb | kt
    for x, h, s, d, st in zip(pt.layer, pt.head, pt.src, pt.dst, pt.status, strict=True):
        key = (int(x), int(h), int(s), int(d))
        assert st == ("shared" if key in kb and key in kt else "base" if key in kb else "tuned")


@pytest.mark.parametrize("seed", range(12))
def test_max_flow_matches_networkx(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layers, n = int(rng.integers(1, 5)), int(rng.integers(2, 9))
    a = random_attention(rng, layers, 2, n, temp=float(rng.uniform(0.5, 4)))
    source = int(rng.integers(n))
    np.testing.assert_allclose(max_flow(a, source), max_flow_reference(a, source), atol=1e-6)


def test_max_flow_matches_networkx_12_layers() -> None:
    a = random_attention(np.random.default_rng(7), 12, 3, 16)
    np.testing.assert_allclose(
        max_flow(a, 0, heads=[0, 2]), max_flow_reference(a, 0, heads=[0, 2]), atol=1e-6
    )


def test_invariants() -> None:
    rng = np.random.default_rng(3)
    a = random_attention(rng, 4, 3, 6)
    np.testing.assert_allclose(rollout(a).sum(-1), 1.0, atol=1e-9)
    np.testing.assert_allclose(residual_attention(a).sum(-1), 1.0, atol=1e-9)
    for method in ("trace", "rollout", "maxflow"):
        s = flow_scores(a, method, source=2, threshold=0.05, layers=(2, 4))
        assert s.shape == (6,) and s.sum() == pytest.approx(1.0) and (s >= 0).all()


def test_special_attention_modes() -> None:
    a = np.array([[[0.5, 0.25, 0.25], [0.2, 0.4, 0.4], [1.0, 0.0, 0.0]]])
    np.testing.assert_allclose(special_attention(a, [0], "keep"), a)
    excluded = special_attention(a, [0], "exclude")
    np.testing.assert_allclose(excluded[0, 0], [0, 0.25, 0.25])
    renorm = special_attention(a, [0], "renormalise")
    np.testing.assert_allclose(
        renorm[0], [[0, 0.5, 0.5], [0, 0.5, 0.5], [0, 0.5, 0.5]]
    )  # empty row -> uniform


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: trace(ATTN, threshold=1.5), r"threshold must be in \[0, 1\]"),
        (lambda: trace(ATTN, decay=0), r"decay must be in \(0, 1\]"),
        (lambda: trace(ATTN, source=3), "source must be a token index in 0..2"),
        (lambda: trace(ATTN, layers=(2, 3)), "layers must satisfy"),
        (lambda: select_heads(2, [5]), r"heads must be in 0..1"),
        (lambda: select_heads(2, []), "select at least one head"),
        (lambda: special_attention(ATTN, [0], "drop"), "special-token mode must be one of"),
        (lambda: flow_scores(ATTN, "magic"), "method must be one of"),
        (lambda: rollout(np.ones((3, 3))), r"shape \(layers, heads, n, n\)"),
        (lambda: trace_pair(ATTN, ATTN[:, :, :2, :2]), "same shape"),
    ],
)
def test_errors_name_the_fix(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
