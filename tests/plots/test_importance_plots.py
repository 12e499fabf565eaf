"""The importance/change layout and the saliency row: data in the sources, ρ in the scatter's title."""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource

from attnflow_core.plots.importance import build_importance_layout, build_saliency_row


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
