"""Head differences: JS divergence golden values and invariants, flow shares, special-token handling."""

from __future__ import annotations

import numpy as np
import pytest
from test_flows import ATTN, random_attention

from attnflow_core.compare import head_differences, js_divergence
from attnflow_core.flows import trace_pair


def test_js_golden_values() -> None:
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert js_divergence(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == pytest.approx(0.0)
    # p = (1, 0), q = (.5, .5): m = (.75, .25); KL(p||m) = log2(4/3); KL(q||m) = .5 log2(2/3) + .5 log2(2).
    expected = 0.5 * np.log2(4 / 3) + 0.5 * (0.5 * np.log2(2 / 3) + 0.5 * np.log2(2))
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(expected)
    assert js_divergence(np.zeros(3), np.array([0.2, 0.3, 0.5])) == 0.0  # an empty row compares as no change


def test_js_symmetric_and_bounded() -> None:
    rng = np.random.default_rng(0)
    p, q = rng.random((50, 7)), rng.random((50, 7))
    a, b = js_divergence(p, q), js_divergence(q, p)
    np.testing.assert_allclose(a, b)
    assert (a >= 0).all() and (a <= 1).all()


def test_model_against_itself_is_zero() -> None:
    a = random_attention(np.random.default_rng(2), 3, 4, 6)
    d = head_differences(a, a.copy(), trace=trace_pair(a, a, threshold=0.1))
    assert np.all(d.js == 0) and np.all(d.mad == 0)
    assert d.flow_share_base is not None and d.flow_share_tuned is not None
    np.testing.assert_allclose(d.flow_share_base, d.flow_share_tuned)
    assert d.flow_share_base.sum() == pytest.approx(1.0)


def test_golden_difference_on_the_two_layer_case() -> None:
    other = ATTN.copy()
    other[1, 0, 1] = [0.0, 1.0, 0.0]  # layer 2, token 1 now attends to itself instead of token 0
    d = head_differences(ATTN, other)
    # Only one row of layer 2 changed, from one-hot to a disjoint one-hot: JS = 1 for that row, mean over 3 rows.
    np.testing.assert_allclose(d.js, [[0.0], [1 / 3]])
    # |Δ| has two entries of 1 among 9 in layer 2.
    np.testing.assert_allclose(d.mad, [[0.0], [2 / 9]])


def test_flow_share_golden() -> None:
    # The hand-worked trace (τ = .5) keeps layer-2 edges 0→1, 0→2 (weight .5, influence of src 1) and layer-1 edges
    # 1→1, 2→2 (weight 1, influence .5 each): flow 0.5 + 0.5 in layer 2 and 0.5 + 0.5 in layer 1 -> 0.5 each.
    d = head_differences(ATTN, ATTN, trace=trace_pair(ATTN, ATTN, threshold=0.5))
    assert d.flow_share_base is not None
    np.testing.assert_allclose(d.flow_share_base, [[0.5], [0.5]])


def test_special_tokens_excluded_from_rows_and_columns() -> None:
    rng = np.random.default_rng(4)
    a, b = random_attention(rng, 2, 2, 5), random_attention(rng, 2, 2, 5)
    b[..., 0] = a[..., 0]  # differences only... plus [CLS] column equal
    keep = head_differences(a, b, special_positions=(0, 4), special="keep")
    renorm = head_differences(a, b, special_positions=(0, 4), special="renormalise")
    assert keep.js.shape == renorm.js.shape == (2, 2)
    assert not np.allclose(keep.js, renorm.js)
    with pytest.raises(ValueError, match="same"):
        head_differences(a, b[:, :, :4, :4])


def _one_head(*rows: list[float]) -> np.ndarray:
    """A (1 layer, 1 head, n, n) attention array from its query rows."""
    return np.array(rows, dtype=np.float64)[None, None]


# [CLS] w [SEP]: only w's query row counts when specials are hidden; the other rows differ wildly on purpose.
BASE3 = _one_head([1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0])
TUNED3 = _one_head([0.0, 1.0, 0.0], [0.2, 0.6, 0.2], [0.5, 0.5, 0.0])


def test_hidden_specials_golden_on_three_tokens() -> None:
    """With [CLS]=0 and [SEP]=2 hidden, only row 1 and column 1 are left: JS 0 in both modes, mean |Δ| not."""
    ex = head_differences(BASE3, TUNED3, special_positions=(0, 2), special="exclude")
    re = head_differences(BASE3, TUNED3, special_positions=(0, 2), special="renormalise")
    # exclude: row 1 becomes (0, .25, 0) vs (0, .6, 0); JS normalises both to (0, 1, 0): 0 bits.
    # |Δ| over row 1's three entries: (0 + .35 + 0) / 3.
    np.testing.assert_allclose(ex.js, [[0.0]])
    np.testing.assert_allclose(ex.mad, [[0.35 / 3]])
    # renormalise: both rows are (0, 1, 0) already, so nothing differs.
    np.testing.assert_allclose(re.js, [[0.0]])
    np.testing.assert_allclose(re.mad, [[0.0]])
    # Kept, the [CLS] and [SEP] rows are disjoint one-hots vs spread rows: the change lived in the sink attention.
    assert head_differences(BASE3, TUNED3, special_positions=(0, 2), special="keep").js[0, 0] > 0.5


# [CLS] a b [SEP]: two non-special columns, so the rows keep a distribution to compare.
BASE4 = _one_head([0, 1, 0, 0], [0.5, 0.25, 0.25, 0.0], [0.1, 0.3, 0.3, 0.3], [0, 0, 0, 1])
TUNED4 = _one_head([0, 0, 1, 0], [0.2, 0.4, 0.0, 0.4], [0.4, 0.3, 0.3, 0.0], [1, 0, 0, 0])


def test_hidden_specials_golden_js_equal_mean_abs_diff_not() -> None:
    """JS normalises each row before comparing, so dropping the special columns with or without renormalising
    gives the same JS; mean |Δ| compares the raw weights, so it sees the rescaling."""
    ex = head_differences(BASE4, TUNED4, special_positions=(0, 3), special="exclude")
    re = head_differences(BASE4, TUNED4, special_positions=(0, 3), special="renormalise")
    # Query rows 1 and 2 only. Row 1: (.25, .25) vs (.4, 0) -> normalised (.5, .5) vs (1, 0):
    # JS = .5·KL((1,0) || (.75,.25)) + .5·KL((.5,.5) || (.75,.25)) = .5·log2(4/3) + .5·(.5·log2(2/3) + .5·log2 2).
    # Row 2: (.3, .3) in both -> 0. Mean over the two rows.
    js_row1 = 0.5 * np.log2(4 / 3) + 0.5 * (0.5 * np.log2(2 / 3) + 0.5 * np.log2(2))
    np.testing.assert_allclose(ex.js, [[js_row1 / 2]])
    np.testing.assert_allclose(re.js, ex.js)
    # exclude: |Δ| of row 1 = (0, .15, .25, 0), row 2 = 0 -> .4 over 2 × 4 entries.
    np.testing.assert_allclose(ex.mad, [[0.4 / 8]])
    # renormalise: row 1 (0, .5, .5, 0) vs (0, 1, 0, 0) -> |Δ| sums to 1; row 2 (0, .5, .5, 0) in both -> 1 / 8.
    np.testing.assert_allclose(re.mad, [[1.0 / 8]])
