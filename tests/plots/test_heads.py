"""The Head differences layout: the selected head's matrices, the difference's colours, the tap-to-switch
callback (run in Node.js) and bad selections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from bokeh.models import HoverTool, LinearColorMapper, TapTool
from bokeh.models.annotations import ColorBar
from bokeh.models.renderers import GlyphRenderer
from bokeh.models.widgets import Div
from bokeh.plotting import figure as figure_type

from attnflow_core.analysis import Analysis, FlowSettings, analyse
from attnflow_core.extract import ExampleResult
from attnflow_core.plots import heads
from attnflow_core.plots.heads import build_head_diff_layout

SELECTED = (2, 1)  # layer 2 (1-based), head 1: the last head of the tiny 2 × 2 model


@pytest.fixture(scope="module")
def analysis(tiny_result: ExampleResult) -> Analysis:
    return analyse(tiny_result, FlowSettings(threshold=0.05))


@pytest.fixture(scope="module")
def layout(analysis: Analysis) -> Any:
    return build_head_diff_layout(analysis, SELECTED)


def _matrix(layout: Any, name: str) -> np.ndarray:
    """A named matrix source back as an (n, n) array indexed [query, key] (one image per matrix)."""
    (image,) = layout.select_one({"name": name}).data["image"]
    return np.asarray(image, dtype=np.float64)


def _diff_mapper(layout: Any) -> LinearColorMapper:
    """The colour mapper of the figure that draws 'matrix_diff'."""
    diff = layout.select_one({"name": "matrix_diff"})
    (renderer,) = [r for r in layout.select({"type": GlyphRenderer}) if r.data_source is diff]
    return renderer.glyph.color_mapper


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
        dict(hover.tooltips)["from (query)"] == "$y{label}"
        and dict(hover.tooltips)["to (key)"] == "$x{label}"
    )
    for field in ("$x", "$y"):
        assert hover.formatters[field].args["labels"] == list(analysis.labels)
        assert "labels[k]" in hover.formatters[field].code


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


def test_heatmaps_select_the_head_and_the_selector_offers_every_head(layout: Any, analysis: Analysis) -> None:
    """Both heatmaps start with the selected cell highlighted, the caption names the head, and the view's selector
    lists every head with its JS divergence (the most changed first shown when none is asked for)."""
    layer, head = SELECTED
    n_heads = analysis.head_diff.js.shape[1]
    for name in ("js_heatmap", "mad_heatmap"):
        fig = layout.select_one({"name": name})
        (src,) = {r.data_source for r in fig.renderers}
        assert src.selected.indices == [(layer - 1) * n_heads + head]
    caption = layout.select_one({"name": "head_caption"}).text
    assert f"Layer {layer}, head {head}" in caption
    assert f"{analysis.head_diff.js[layer - 1, head]:.3f}" in caption
    picker = layout.select_one({"name": "head_pick"})
    assert len(picker.options) == analysis.head_diff.js.size and picker.value == str(
        (layer - 1) * n_heads + head
    )
    assert layout.name == "head_layout"
    most = analysis.head_diff.most_changed()
    shown = build_head_diff_layout(analysis).select_one({"name": "head_caption"}).text
    assert f"Layer {most[0]}, head {most[1]}" in shown


def test_the_panels_fit_the_layout_width(analysis: Analysis) -> None:
    """The difference matrix and the two models' matrices side by side stay within the layout's width (issue 19:
    the difference sat off a 1,500-px window)."""
    from attnflow_core.plots.theme import WIDTH

    for n in (5, 25, 128):
        assert 2 * heads.matrix_size(n) <= WIDTH
    root = build_head_diff_layout(analysis, SELECTED)
    for fig in root.select({"type": figure_type}):
        assert fig.width <= WIDTH


def _show(layout: Any) -> Any:
    picker = layout.select_one({"name": "head_pick"})
    (show,) = picker.js_property_callbacks["change:value"]
    return show


def test_choosing_a_head_shows_it_from_the_payload(
    layout: Any, analysis: Analysis, run_customjs: Callable[..., dict[str, Any]]
) -> None:
    """Choosing (layer 1, head 0) in the browser swaps in that head's matrices and difference from the example's
    attention (the payload), rescales the difference colours, selects the cell in both heatmaps and writes the
    caption Python writes for that head."""
    show = _show(layout)
    show.args["picker"].value = "0"  # the selector's new value (the callback reads it)
    out = run_customjs(show, {})
    base, tuned = analysis.attn_base[0, 0].astype(np.float64), analysis.attn_tuned[0, 0].astype(np.float64)
    np.testing.assert_allclose(out["src_b"]["data"]["image"][0], base, atol=1e-6)
    np.testing.assert_allclose(out["src_t"]["data"]["image"][0], tuned, atol=1e-6)
    np.testing.assert_allclose(out["src_d"]["data"]["image"][0], tuned - base, atol=1e-6)
    lim = max(np.abs(np.asarray(out["src_d"]["data"]["image"][0])).max(), 1e-3)
    assert (out["diff_mapper"]["low"], out["diff_mapper"]["high"]) == pytest.approx((-lim, lim))
    assert out["cells"]["selected"]["indices"] == [0] and out["other"]["selected"]["indices"] == [0]
    same = build_head_diff_layout(analysis, (1, 0))
    assert out["caption"]["text"] == same.select_one({"name": "head_caption"}).text
    show.args["picker"].value = str((SELECTED[0] - 1) * 2 + SELECTED[1])


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
