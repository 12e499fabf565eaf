"""The Fine-tuning trajectory figures, built from a hand-made trajectory (K = 4 checkpoints, 2 layers × 2 heads):
shapes, titles, one colour scale across the small multiples, and every layout within the page's width."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from bokeh.models import ColorBar, HoverTool, LinearColorMapper
from bokeh.plotting import figure as Figure
from test_trajectory import CHANGE, STEPS, hand_made

from attnflow_core.plots.theme import WIDTH, natural_size
from attnflow_core.plots.trajectory import (
    build_accuracy_figure,
    build_change_maps,
    build_curves_layout,
    build_focus_figure,
    build_importance_maps,
    build_layer_strips,
)
from attnflow_core.trajectory import Trajectory

HELDOUT = (0.5, 0.6, 0.8, 0.9)


@pytest.fixture
def traj() -> Trajectory:
    importance = np.arange(4 * 2 * 2, dtype=np.float64).reshape(4, 2, 2) / 10
    return replace(hand_made(HELDOUT, accuracy=(0.5, 0.5, 1.0, 1.0)), importance=importance)


def figures(layout: Any) -> list[Any]:
    return list(layout.select({"type": Figure}))


def mappers(layout: Any) -> list[Any]:
    return list(layout.select({"type": LinearColorMapper}))


def curve(fig: Any, label_start: str) -> dict[str, list[Any]]:
    """The data of the curve whose legend label starts with ``label_start``."""
    (item,) = [i for i in fig.legend[0].items if str(i.label.value).startswith(label_start)]
    return dict(item.renderers[0].data_source.data)


def test_every_layout_fits_the_page_width_and_reserves_its_size(traj: Trajectory) -> None:
    for layout in (build_curves_layout(traj), build_change_maps(traj), build_importance_maps(traj)):
        width, height = natural_size(layout)
        assert width <= WIDTH and (layout.width, layout.height) == (width, height)
        assert all(f.width <= WIDTH for f in figures(layout))
    assert build_curves_layout(traj).name == "trajectory_curves"


def test_accuracy_figure_draws_both_accuracies_and_the_change_as_a_share_of_its_final_value(
    traj: Trajectory,
) -> None:
    fig = build_accuracy_figure(traj)
    assert fig.title.text == "Accuracy and attention change by training step"
    held = curve(fig, "held-out accuracy")
    assert held["step"] == list(STEPS) and held["value"] == list(HELDOUT)
    assert curve(fig, "accuracy on these 2 examples")["value"] == [0.5, 0.5, 1.0, 1.0]
    share = curve(fig, "mean attention change")
    mean = CHANGE.mean(axis=(1, 2))
    np.testing.assert_allclose(share["value"], mean / mean[-1])
    assert share["value"][-1] == pytest.approx(1.0) and "of the final" in share["text"][1]
    assert fig.y_range.start == 0 and fig.y_range.end >= 1.0
    (hover,) = fig.select({"type": HoverTool})
    assert ("step", "@step (@pct % of training)") in hover.tooltips and len(hover.renderers) == 3


def test_a_run_without_recorded_accuracy_leaves_that_curve_out(traj: Trajectory) -> None:
    fig = build_accuracy_figure(hand_made((None,) * 4, accuracy=(np.nan,) * 4))
    labels = [str(i.label.value) for i in fig.legend[0].items]
    assert labels == ["mean attention change, share of its final value"]


def test_focus_figure_names_the_tokens_and_draws_the_two_baselines(traj: Trajectory) -> None:
    fig = build_focus_figure(traj)
    assert fig.title.text == "Flow from [CLS] to the answer sentence"
    focus = curve(fig, "fine-tuned")["value"]
    assert focus[:3] == [0.2, 0.25, 0.3] and np.isnan(focus[3])
    assert curve(fig, "pre-trained")["value"] == [0.2, 0.2]
    assert curve(fig, "a uniform flow")["value"] == [0.4, 0.4]
    assert fig.y_range.start <= 0.2 and fig.y_range.end >= 0.4  # every level inside the axis


def test_layer_strips_hold_the_mean_change_per_layer_and_its_share_of_the_final(traj: Trajectory) -> None:
    raw, share = build_layer_strips(traj).children
    assert raw.title.text == "Mean change per layer and checkpoint"
    assert list(raw.x_range.factors) == [str(s) for s in STEPS]
    data = raw.renderers[0].data_source.data
    layer_change = CHANGE.mean(axis=2)  # (K, L)
    np.testing.assert_allclose(data["v"], layer_change.ravel())
    assert data["layer"][:2] == [1, 2] and data["step"][:2] == ["0", "0"]
    shares = share.renderers[0].data_source.data["v"]
    np.testing.assert_allclose(shares, (layer_change / layer_change[-1]).ravel())
    assert shares[-2:] == pytest.approx([1.0, 1.0])


def test_small_multiples_share_one_colour_scale_and_name_their_checkpoint(traj: Trajectory) -> None:
    maps = build_change_maps(traj)
    figs = [f for r in maps.children for f in r.children]  # in reading order
    assert [f.title.text for f in figs] == [
        "step 0 (0 % of training)",
        "step 10 (25 % of training)",
        "step 20 (50 % of training)",
        "step 40 (100 % of training)",
    ]
    scales = {(m.low, m.high) for m in mappers(maps)}
    assert scales == {(0.0, float(CHANGE.max()))}, "one colour scale: the largest change of any checkpoint"
    assert len(list(maps.select({"type": ColorBar}))) == len(figs)
    for k, fig in enumerate(figs):
        np.testing.assert_allclose(fig.renderers[0].data_source.data["v"], CHANGE[k].ravel())
        hover = fig.select_one(HoverTool)
        assert (
            hover.tooltips[0] == ("checkpoint", f"step {STEPS[k]}") and hover.tooltips[-1][0] == "change (JS)"
        )
    assert len(maps.children) == 2 and len(maps.children[0].children) == 3  # three to a row


def test_importance_maps_share_their_own_scale_and_are_absent_without_importance(traj: Trajectory) -> None:
    maps = build_importance_maps(traj)
    assert maps is not None and maps.name == "trajectory_importance_maps"
    assert {(m.low, m.high) for m in mappers(maps)} == {(0.0, 1.5)}
    assert build_importance_maps(replace(traj, importance=None)) is None


def test_twelve_heads_in_a_third_of_the_page_number_every_other_head(traj: Trajectory) -> None:
    wide = replace(traj, change=np.ones((4, 2, 12)), importance=None)
    for fig in [f for r in build_change_maps(wide).children for f in r.children]:
        assert fig.xaxis.ticker.ticks == list(range(0, 12, 2))
