"""The importance/change layout and the saliency row: data in the sources, ρ in the scatter's title, labels laid
out like text in colours that read on their cells."""

from __future__ import annotations

import itertools

import numpy as np
from bokeh.models import ColumnDataSource

from attnflow_core.plots.importance import (
    DIVERGING,
    LINE_CHARS,
    TOKEN_PAD,
    build_importance_layout,
    build_saliency_row,
    token_lines,
)
from attnflow_core.plots.theme import DARK_TEXT, LIGHT_TEXT, WIDTH, mapped_colours, text_on


def _sources(layout: object) -> list[ColumnDataSource]:
    return list(layout.select({"type": ColumnDataSource}))  # type: ignore[attr-defined]


def test_importance_layout_scatter_has_one_dot_per_head_and_rho() -> None:
    change = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    importance = change[:, ::-1].copy()  # reversed within each layer: ρ by hand
    layout = build_importance_layout(change, importance)
    scatter = next(f for f in layout.select({"name": "importance_scatter"}))
    ranks_c = np.argsort(np.argsort(change.ravel()))
    ranks_i = np.argsort(np.argsort(importance.ravel()))
    rho = np.corrcoef(ranks_c, ranks_i)[0, 1]
    assert f"ρ = {rho:.2f}" in scatter.title.text
    src = next(s for s in _sources(layout) if "importance" in s.data and "name" in s.data)
    assert len(src.data["name"]) == 6 and src.data["name"][0] == "L1 H0"
    assert layout.width and layout.height  # sized for streamlit-bokeh


def test_saliency_row_scales_each_method_to_one() -> None:
    units = ["[CLS]", "good", "movie", "[SEP]"]
    fig = build_saliency_row(
        units, {"ig": np.array([0.0, 0.4, -0.2, 0.0]), "occlusion": np.array([0, 1, 2, 0.0])}
    )
    (src,) = [s for s in _sources(fig) if "raw" in s.data]
    v = np.array(src.data["v"]).reshape(2, 4)
    np.testing.assert_allclose(v[0], [0, 1, -0.5, 0])
    np.testing.assert_allclose(v[1], [0, 0.5, 1, 0])
    assert src.data["text"][:4] == units


def test_saliency_labels_wrap_like_text_and_never_overlap() -> None:
    """Issue 19 item 7: a 128-unit example's labels ran together ("fromjacksonvillesometimes"). Each unit now gets
    a cell as wide as its characters, on lines that wrap within the plot, one block of method rows per line."""
    units = ["[CLS]", "what", "are", "those", "from", "jackson", "##ville", "sometimes", "called", "?"] * 13
    places = token_lines(units)
    assert places[0] == (0, 0.0, len("[CLS]") + TOKEN_PAD)
    for (_line, left, right), unit in zip(places, units, strict=True):
        assert right - left >= len(unit) and right <= LINE_CHARS
    for a, b in itertools.pairwise(places):  # side by side on a line, or the next starts a new line at 0
        assert (b[0] == a[0] and b[1] == a[2]) or (b[0] == a[0] + 1 and b[1] == 0.0)
    n_lines = places[-1][0] + 1
    assert 10 <= n_lines <= 20
    sal = {"ig": np.linspace(-1, 1, len(units)), "occlusion": np.linspace(1, -1, len(units))}
    fig = build_saliency_row(units, sal)
    assert fig.width == WIDTH and fig.height > 24 * 2 * n_lines  # two method rows per line of tokens
    (src,) = [s for s in _sources(fig) if "raw" in s.data]
    assert len(set(zip(src.data["x"], src.data["y"], strict=True))) == 2 * len(
        units
    )  # no two cells in one place
    assert sorted(set(fig.yaxis.major_label_overrides.values())) == ["IG", "occlusion"]


def test_saliency_text_reads_on_its_cell() -> None:
    """Issue 19 item 7: black text on dark blue. Each cell's text colour is picked from its fill's luminance."""
    units = ["[CLS]", "very", "bad", "film", "[SEP]"]
    fig = build_saliency_row(units, {"ig": np.array([0.0, 1.0, -1.0, 0.05, 0.0])})
    (src,) = [s for s in _sources(fig) if "raw" in s.data]
    assert src.data["fill"] == mapped_colours(DIVERGING, src.data["v"], -1.0, 1.0)
    assert src.data["ink"] == [text_on(f) for f in src.data["fill"]]
    assert src.data["ink"][1] == LIGHT_TEXT and src.data["ink"][2] == LIGHT_TEXT  # dark red, dark blue
    assert src.data["ink"][0] == DARK_TEXT and src.data["ink"][3] == DARK_TEXT  # near white
