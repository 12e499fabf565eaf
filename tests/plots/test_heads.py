"""The Head differences layout: the selected head's matrices, the difference's colours, the tap-to-switch
callback (run in Node.js) and bad selections."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper, TapTool
from bokeh.models.annotations import ColorBar
from bokeh.models.renderers import GlyphRenderer
from bokeh.models.widgets import Div
from bokeh.plotting import figure as figure_type

from attnflow_core.analysis import Analysis, FlowSettings, analyse
from attnflow_core.extract import ExampleResult
from attnflow_core.plots import heads
from attnflow_core.plots.heads import build_head_diff_layout
from attnflow_core.plots.theme import natural_size

SELECTED = (2, 1)  # layer 2 (1-based), head 1: the last head of the tiny 2 × 2 model


@pytest.fixture(scope="module")
def analysis(tiny_result: ExampleResult) -> Analysis:
    return analyse(tiny_result, FlowSettings(threshold=0.05))


@pytest.fixture(scope="module")
def layout(analysis: Analysis) -> Any:
    return build_head_diff_layout(analysis, SELECTED)


def _matrix(layout: Any, name: str) -> np.ndarray:
    """A named matrix source back as an (n, n) array indexed [query, key]."""
    d = layout.select_one({"name": name}).data
    n = int(math.isqrt(len(d["v"])))
    out = np.full((n, n), np.nan)
    out[d["y"], d["x"]] = d["v"]
    return out


def _diff_mapper(layout: Any) -> LinearColorMapper:
    """The colour mapper of the figure that draws 'matrix_diff'."""
    diff = layout.select_one({"name": "matrix_diff"})
    (renderer,) = [r for r in layout.select({"type": GlyphRenderer}) if r.data_source is diff]
    return renderer.glyph.fill_color.transform


def _rgb(colour: str) -> tuple[int, int, int]:
    h = colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _mapped(mapper: LinearColorMapper, value: float) -> str:
    """The palette entry LinearColorMapper gives ``value`` (equal-width bins from low to high)."""
    palette = [str(c) for c in mapper.palette]
    low, high = mapper.low, mapper.high
    assert low is not None and high is not None
    k = int((value - low) / (high - low) * len(palette))
    return palette[min(max(k, 0), len(palette) - 1)]


def test_matrices_hold_the_selected_head_and_its_difference(layout: Any, analysis: Analysis) -> None:
    """'matrix_base'/'matrix_tuned' are the selected head's attention (row = query, column = key) and
    'matrix_diff' is fine-tuned minus pre-trained, so positive means more attention after fine-tuning."""
    layer, head = SELECTED
    base = analysis.attn_base[layer - 1, head].astype(np.float64)
    tuned = analysis.attn_tuned[layer - 1, head].astype(np.float64)
    np.testing.assert_allclose(_matrix(layout, "matrix_base"), base, atol=1e-5)
    np.testing.assert_allclose(_matrix(layout, "matrix_tuned"), tuned, atol=1e-5)
    np.testing.assert_allclose(_matrix(layout, "matrix_diff"), tuned - base, atol=1e-5)
    assert np.abs(tuned - base).max() > 1e-4  # the two tiny models do differ
    # The hover names the cell's tokens: x/y indices turned into labels in the browser (no per-cell strings).
    fig = next(f for f in layout.select({"type": figure_type}) if f.title.text == "pre-trained")
    hover = fig.select_one(HoverTool)
    assert (
        dict(hover.tooltips)["from (query)"] == "@y{label}"
        and dict(hover.tooltips)["to (key)"] == "@x{label}"
    )
    for field in ("@x", "@y"):
        assert hover.formatters[field].args["labels"] == list(analysis.labels)
        assert "labels[value]" in hover.formatters[field].code


def test_difference_colours_red_for_more_blue_for_less(layout: Any, analysis: Analysis) -> None:
    """The difference mapper is symmetric around 0 with the largest |Δ| at its ends; positive differences (more
    attention after fine-tuning) map to the red end and negative ones to the blue end, as the caption says."""
    mapper = _diff_mapper(layout)
    diff = _matrix(layout, "matrix_diff")
    lim = np.abs(diff).max()
    assert mapper.low == pytest.approx(-lim, abs=1e-5) and mapper.high == pytest.approx(lim, abs=1e-5)
    r, _, b = _rgb(_mapped(mapper, float(diff.max())))
    assert r > b, "the largest increase should be drawn red"
    r, _, b = _rgb(_mapped(mapper, float(diff.min())))
    assert b > r, "the largest decrease should be drawn blue"
    assert "red = more attention after fine-tuning, blue = less" in " ".join(
        div.text for div in layout.select({"type": Div})
    )
    bars = [c for c in layout.select({"type": ColorBar}) if c.color_mapper is mapper]
    assert len(bars) == 1  # the difference's colour bar shows the same scale


def test_heatmaps_select_the_head_and_root_is_sized(layout: Any, analysis: Analysis) -> None:
    """Both heatmaps start with the selected cell highlighted, the caption names the head, and the root reserves
    its natural size."""
    layer, head = SELECTED
    n_heads = analysis.head_diff.js.shape[1]
    for name in ("js_heatmap", "mad_heatmap"):
        fig = layout.select_one({"name": name})
        (src,) = {r.data_source for r in fig.renderers}
        assert src.selected.indices == [(layer - 1) * n_heads + head]
    caption = layout.select_one({"name": "head_caption"}).text
    assert f"Layer {layer}, head {head}" in caption
    assert f"{analysis.head_diff.js[layer - 1, head]:.3f}" in caption
    assert layout.name == "head_layout"
    assert (layout.width, layout.height) == natural_size(layout)


@pytest.mark.parametrize("selected", [(0, 0), (3, 0), (1, 2), (1, -1)])
def test_invalid_selected_head_is_refused(analysis: Analysis, selected: tuple[int, int]) -> None:
    """A head outside the model says which layers and heads exist."""
    with pytest.raises(ValueError, match=r"selected head must be \(layer 1\.\.2, head 0\.\.1\)"):
        build_head_diff_layout(analysis, selected)


def _tap_callbacks(layout: Any) -> tuple[Any, Any]:
    js_src: ColumnDataSource = next(
        iter({r.data_source for r in layout.select_one({"name": "js_heatmap"}).renderers})
    )
    mad_src = next(iter({r.data_source for r in layout.select_one({"name": "mad_heatmap"}).renderers}))
    (swap,) = js_src.selected.js_property_callbacks["change:indices"]
    (mirror,) = mad_src.selected.js_property_callbacks["change:indices"]
    return swap, mirror


def test_tapping_a_cell_shows_that_head(
    layout: Any, analysis: Analysis, run_customjs: Callable[..., dict[str, Any]]
) -> None:
    """Tapping (layer 1, head 0) in the browser swaps in that head's matrices and difference, rescales the
    difference colours, and writes the same caption Python writes for that head."""
    swap, _ = _tap_callbacks(layout)
    out = run_customjs(swap, {"cells": [0]})
    base, tuned = analysis.attn_base[0, 0].astype(np.float64), analysis.attn_tuned[0, 0].astype(np.float64)
    np.testing.assert_allclose(out["src_b"]["data"]["v"], base.ravel(), atol=1e-4)
    np.testing.assert_allclose(out["src_t"]["data"]["v"], tuned.ravel(), atol=1e-4)
    np.testing.assert_allclose(out["src_d"]["data"]["v"], (tuned - base).ravel(), atol=2e-4)
    lim = max(np.abs(np.asarray(out["src_d"]["data"]["v"])).max(), 1e-3)
    assert (out["diff_mapper"]["low"], out["diff_mapper"]["high"]) == pytest.approx((-lim, lim))
    assert out["other"]["selected"]["indices"] == [0]
    assert out["src_b"]["data"]["x"] == list(layout.select_one({"name": "matrix_base"}).data["x"])
    same = build_head_diff_layout(analysis, (1, 0))
    assert out["caption"]["text"] == same.select_one({"name": "head_caption"}).text


def test_tapping_the_other_heatmap_mirrors_the_selection(
    layout: Any, run_customjs: Callable[..., dict[str, Any]]
) -> None:
    """A tap on the mean-|Δ| heatmap selects the same cell in the JS heatmap (which then swaps the matrices)."""
    _, mirror = _tap_callbacks(layout)
    out = run_customjs(mirror, {"other": [2]})
    assert out["cells"]["selected"]["indices"] == [2]


def test_long_examples_use_the_selector_instead_of_taps(
    analysis: Analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above MAX_EMBED_TOKENS units no matrices are embedded: no tap callback, taps disabled, and the hint says so."""
    monkeypatch.setattr(heads, "MAX_EMBED_TOKENS", analysis.n - 1)
    root = build_head_diff_layout(analysis, (1, 0))
    for name in ("js_heatmap", "mad_heatmap"):
        fig = root.select_one({"name": name})
        assert fig.select_one(TapTool).renderers == []
        (src,) = {r.data_source for r in fig.renderers}
        assert not src.selected.js_property_callbacks
    assert any("Use the selector above" in div.text for div in root.select({"type": Div}))


def test_a_tap_hands_the_cell_to_the_pages_bridge_every_time(layout: Any, node_binary: str) -> None:
    """The TapTool callback (run in Node.js) calls window.attnflowToggleHead with the tapped cell on every tap, also
    on the cell already selected (so a second tap removes the head), and does nothing without a bridge."""
    import json
    import subprocess

    for name in ("js_heatmap", "mad_heatmap"):
        code = layout.select_one({"name": name}).select_one(TapTool).callback.code
        script = f"""
const calls = [];
const run = new Function("cb_data", {json.dumps(code)});
run({{source: {{selected: {{indices: [3]}}}}}});  // no bridge: nothing happens, nothing fails
globalThis.attnflowToggleHead = (k) => calls.push(k);
run({{source: {{selected: {{indices: [3]}}}}}});
run({{source: {{selected: {{indices: [3]}}}}}});
run({{source: {{selected: {{indices: []}}}}}});  // a tap beside the cells
console.log(JSON.stringify(calls));
"""
        out = subprocess.run(
            [node_binary, "-e", script], capture_output=True, text=True, timeout=60, check=True
        )
        assert json.loads(out.stdout) == [3, 3]
