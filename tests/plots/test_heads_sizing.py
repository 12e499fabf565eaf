"""Head-difference matrices are sized by their token count and thin their labels so that they never overlap."""

from __future__ import annotations

from attnflow_core.plots.heads import (
    LABEL_PX,
    MATRIX_MARGIN_PX,
    MATRIX_MAX_PX,
    MATRIX_MIN_PX,
    label_step,
    matrix_size,
)
from attnflow_core.plots.theme import WIDTH


def test_matrices_grow_with_the_tokens_within_bounds() -> None:
    assert matrix_size(5) == MATRIX_MIN_PX == 300
    assert (
        matrix_size(20) == 20 * 12 + MATRIX_MARGIN_PX
    )  # grows with the tokens (an earlier 190 px was too small)
    assert matrix_size(500) == MATRIX_MAX_PX and 2 * MATRIX_MAX_PX <= WIDTH  # two side by side fit the width
    sizes = [matrix_size(n) for n in range(1, 200)]
    assert sizes == sorted(sizes)


def test_shown_labels_fit_their_axis() -> None:
    for n in (1, 10, 25, 40, 64, 128, 512):
        size = matrix_size(n)
        step = label_step(n, size)
        shown = len(range(0, n, step))
        assert shown * LABEL_PX <= max(size - MATRIX_MARGIN_PX, LABEL_PX), (n, step)
        # no needless thinning: one label more per axis would overlap
        assert step == 1 or len(range(0, n, step - 1)) * LABEL_PX > size - MATRIX_MARGIN_PX
