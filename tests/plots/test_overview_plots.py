"""The Dataset overview layout: built from a small computed Overview and from hand-built statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from bokeh.models import FactorRange
from bokeh.models.annotations import Whisker
from bokeh.plotting import figure as Figure

from attnflow_core.data.sources import Example
from attnflow_core.models import ModelPair
from attnflow_core.overview import Overview, OverviewSettings, compute_overview
from attnflow_core.plots.overview import build_change_layout, build_overview_layout
from attnflow_core.plots.theme import natural_size

EXAMPLES = [
    Example("e1", "what is the capital of france ?", "paris is the capital", "positive"),
    Example("e2", "good movie", "not bad at all", "negative"),
    Example("e3", "who won the game", "the team won it", "positive"),
]


@pytest.fixture(scope="module")
def overview(tiny_pair: ModelPair) -> Overview:
    return compute_overview(tiny_pair, EXAMPLES, "qa", OverviewSettings(n=3))


def hand_overview(js_mean: np.ndarray, js_std: np.ndarray) -> Overview:
    """An Overview with the given head-change statistics and neutral everything else (segment B never seen)."""
    n_layers, n_heads = js_mean.shape
    cross = np.full((2, n_layers, 2, 3), 1 / 3)
    cross[:, :, 1] = np.nan  # no example had a second segment
    return Overview(
        task="qa", base_ref="b", tuned_ref="t", source="demo", split="demo", settings=OverviewSettings(n=1),
        js_mean=js_mean, js_std=js_std, cross=cross,
        sinks=np.full((2, n_layers, n_heads, 3), 0.2), behaviour=np.full((2, n_layers, n_heads, 5), 0.2),
        examples=pd.DataFrame({"uid": ["x"]}), seconds=0.0, forward_seconds=0.0,
    )  # fmt: skip


def _figure(layout: Any, title_start: str) -> Any:
    found = [f for f in layout.select({"type": Figure}) if f.title.text.startswith(title_start)]
    assert len(found) <= 1
    return found[0] if found else None


def _whisker_top(fig: Any) -> float:
    (whisker,) = [a for a in fig.center if isinstance(a, Whisker)]
    source: Any = whisker.source
    return float(max(source.data["upper"]))


def test_overview_layout_is_named_and_sized(overview: Overview) -> None:
    """The page renders one named root that reserves exactly the room its figures need."""
    root = build_overview_layout(overview, ("question", "answer"))
    assert root.name == "overview_layout"
    assert (root.width, root.height) == natural_size(root)
    assert root.height > 3 * 100  # change row + cross-segment + sinks + behaviour, stacked


def test_per_layer_bars_show_the_layer_change_and_make_room_for_whiskers(overview: Overview) -> None:
    """Bars are the per-layer mean JS; the y range reaches above the highest whisker (mean + mean head std)."""
    bars = _figure(build_overview_layout(overview, None), "Per layer")
    (renderer,) = bars.renderers
    np.testing.assert_allclose(renderer.data_source.data["mean"], overview.layer_change())
    top = float(np.max(overview.layer_change() + overview.js_std.mean(axis=1)))
    assert _whisker_top(bars) == pytest.approx(top)
    assert bars.y_range.start == 0 and bars.y_range.end >= top > 0


def test_whiskers_far_above_the_bars_still_fit() -> None:
    """A layer whose spread dwarfs its mean must not have its whisker cut off."""
    js_mean = np.array([[0.01, 0.03], [0.2, 0.2]])
    js_std = np.array([[0.5, 0.7], [0.0, 0.0]])  # layer 1: mean 0.02, whisker to 0.62
    bars = _figure(build_change_layout(hand_overview(js_mean, js_std)), "Per layer")
    assert _whisker_top(bars) == pytest.approx(0.62)
    assert bars.y_range.end >= 0.62
    assert bars.y_range.end < 1.0  # room for the whisker, not a fixed full scale


def test_no_change_still_gives_a_visible_axis() -> None:
    """A model compared with itself (all JS 0) gets the range [0, 1], not an empty [0, 0]."""
    zeros = np.zeros((2, 2))
    bars = _figure(build_change_layout(hand_overview(zeros, zeros)), "Per layer")
    assert (bars.y_range.start, bars.y_range.end) == (0, 1.0)


def test_cross_segment_figure_only_for_named_segments(overview: Overview) -> None:
    """With segment names the cross-segment bars appear, labelled with those names; without them they don't."""
    assert _figure(build_overview_layout(overview, None), "Cross-segment") is None
    fig = _figure(build_overview_layout(overview, ("question", "answer")), "Cross-segment")
    assert fig is not None
    assert isinstance(fig.x_range, FactorRange)
    n_layers = overview.js_mean.shape[0]
    assert len(fig.x_range.factors) == 4 * n_layers
    assert ("1", "question → answer") in [tuple(f) for f in fig.x_range.factors]
    data = fig.renderers[0].data_source.data
    k = [tuple(f) for f in data["x"]].index(("1", "question → answer"))
    assert data["base"][k] == pytest.approx(overview.cross[0, 0, 0, 1])
    assert data["tuned"][k] == pytest.approx(overview.cross[1, 0, 0, 1])


def test_absent_segment_shows_as_zero_not_nan() -> None:
    """Cross-segment shares are NaN when no example has segment B; the bars draw them as 0 (JSON has no NaN)."""
    ov = hand_overview(np.full((2, 2), 0.1), np.zeros((2, 2)))
    fig = _figure(build_overview_layout(ov, ("A", "B")), "Cross-segment")
    data = fig.renderers[0].data_source.data
    values = np.array(data["base"] + data["tuned"])
    assert np.isfinite(values).all()
    k = [tuple(f) for f in data["x"]].index(("2", "B → A"))
    assert data["base"][k] == 0.0
    assert data["base"][[tuple(f) for f in data["x"]].index(("2", "A → A"))] == pytest.approx(1 / 3)
