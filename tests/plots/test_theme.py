"""Theme helpers: the natural size of fixed-size layouts (what the page reserves), ``fit``, ``rgba``, and the text
colour that reads on a cell (``text_on``, ``mapped_colours``)."""

from __future__ import annotations

import pytest
from bokeh.layouts import column, row
from bokeh.models.widgets import Div
from bokeh.palettes import Blues256, Greys256, RdBu11, Reds256, Viridis256
from bokeh.plotting import figure

from attnflow_core.plots.theme import (
    DARK_TEXT,
    DIV_HEIGHT,
    LIGHT_TEXT,
    WIDTH,
    contrast,
    fit,
    luminance,
    mapped_colours,
    natural_size,
    rgba,
    text_on,
)


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


def test_luminance_and_contrast_follow_wcag() -> None:
    """WCAG 2's relative luminance (white 1, black 0, sRGB mid-grey #777777 about 0.184) and contrast ratio."""
    assert luminance("#ffffff") == pytest.approx(1.0) and luminance("#000000") == 0.0
    assert luminance("#777777") == pytest.approx(0.1845, abs=1e-4)
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0) and contrast("#123456", "#123456") == 1.0


@pytest.mark.parametrize("palette", [Greys256, Blues256, Reds256, Viridis256, list(RdBu11)])
def test_text_on_any_cell_colour_reads(palette: list[str]) -> None:
    """Issue 19 item 7: dark text on light cells, light text on dark ones, chosen by the cell's luminance, so that
    every colour of a palette carries its label at WCAG AA contrast (4.5) or better."""
    assert text_on("#ffffff") == DARK_TEXT and text_on("#08306b") == LIGHT_TEXT  # white; Blues' darkest
    worst = min(contrast(c, text_on(c)) for c in palette)
    assert worst >= 4.5, worst


def test_mapped_colours_follow_the_linear_color_mapper() -> None:
    """The colour of each value as Bokeh's LinearColorMapper gives it: N equal bins over [low, high], the ends
    clamped, the top value in the last bin, NaN at the bottom."""
    palette = ["#000000", "#555555", "#aaaaaa", "#ffffff"]
    values = [-2.0, -1.0, -0.51, -0.49, 0.0, 0.49, 0.5, 0.99, 1.0, 3.0, float("nan")]
    assert mapped_colours(palette, values, -1.0, 1.0) == [
        palette[i] for i in (0, 0, 0, 1, 2, 2, 3, 3, 3, 3, 0)
    ]
