"""Theme helpers: the natural size of fixed-size layouts (what the page reserves), ``fit`` and ``rgba``."""

from __future__ import annotations

import pytest
from bokeh.layouts import column, row
from bokeh.models.widgets import Div
from bokeh.plotting import figure

from attnflow_core.plots.theme import DIV_HEIGHT, WIDTH, fit, natural_size, rgba


def test_leaves_use_their_own_size() -> None:
    """A figure or Div counts its width and height; a Div without a height counts DIV_HEIGHT, without a width WIDTH."""
    assert natural_size(figure(width=300, height=200)) == (300, 200)
    assert natural_size(Div(text="x", width=120, height=30)) == (120, 30)
    assert natural_size(Div(text="two lines", width=120)) == (120, DIV_HEIGHT)
    assert natural_size(Div(text="no size")) == (WIDTH, DIV_HEIGHT)


def test_rows_add_widths_and_columns_add_heights() -> None:
    """A row is as wide as its children side by side and as tall as the tallest; a column the other way round."""
    a, b = figure(width=300, height=200), figure(width=250, height=260)
    assert natural_size(row(a, b)) == (550, 260)
    a, b = figure(width=300, height=200), figure(width=250, height=260)
    assert natural_size(column(a, b)) == (300, 460)


def test_spacing_counts_between_children_only() -> None:
    """Spacing adds one gap between each pair of neighbours (n - 1 gaps), none around a single child."""
    figs = [figure(width=100, height=50) for _ in range(3)]
    assert natural_size(row(*figs, spacing=10)) == (3 * 100 + 2 * 10, 50)
    figs = [figure(width=100, height=50) for _ in range(3)]
    assert natural_size(column(*figs, spacing=7)) == (100, 3 * 50 + 2 * 7)
    assert natural_size(column(figure(width=100, height=50), spacing=7)) == (100, 50)


def test_nested_layouts_and_empty_ones() -> None:
    """Nesting composes (a caption Div over a row of two figures), and an empty row takes no room."""
    caption = Div(text="caption", width=500)
    pair = row(figure(width=240, height=180), figure(width=240, height=200), spacing=5)
    assert natural_size(column(caption, pair)) == (500, DIV_HEIGHT + 200)
    assert natural_size(row()) == (0, 0)


def test_fit_gives_the_root_its_natural_size() -> None:
    """``fit`` sets the root's own width and height (the page sizes its element from them) and returns the root."""
    layout = column(
        Div(text="c", width=400, height=20), row(figure(width=200, height=150), figure(width=220, height=100))
    )
    assert layout.height is None
    assert fit(layout) is layout
    assert (layout.width, layout.height) == (420, 170)


@pytest.mark.parametrize(
    ("colour", "alpha", "expected"),
    [
        ("#16a085", 0.5, "rgba(22,160,133,0.500)"),
        ("8e44ad", 1, "rgba(142,68,173,1.000)"),
        ("#FFFFFF", 0.25, "rgba(255,255,255,0.250)"),
        ("#000000", 1.7, "rgba(0,0,0,1.000)"),
        ("#000000", -0.2, "rgba(0,0,0,0.000)"),
    ],
)
def test_rgba(colour: str, alpha: float, expected: str) -> None:
    """Hex colours become CSS rgba() strings (with or without '#', any case); alpha is clamped to [0, 1]."""
    assert rgba(colour, alpha) == expected
