"""How a table fits the window: column widths that add up to what the main area gives a table at a 1,280 px window,
texts sharing what the short columns leave and wrapping in rows tall enough for them, and a widget key that ties a
table's row selection to its rows. Pure functions, no Streamlit (the pages turn a ``TableLayout`` into column
configs).

The grid (Streamlit's dataframe, Glide) stretches every column in proportion on a wider window, so a table laid out
for 1,280 px never scrolls sideways at 1,500 px either; it wraps text only in rows taller than 64 px.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: What the columns may take in all: the main area at a 1,280 px window is 820 px, less the row-selection boxes.
TABLE_PX = 770
#: Width of a short column ``table_layout`` is not told about.
DEFAULT_PX = 100
#: Text metrics of the grid (14 px Source Sans): average width of a character, height of a wrapped line.
CHAR_PX, LINE_PX = 7, 20
#: Rows grow to show up to this many wrapped lines (click a cell for the rest); the grid wraps text only in rows
#: taller than 64 px, so a wrapping row is at least ``WRAP_ROW_PX``.
MAX_LINES, WRAP_ROW_PX = 5, 68
#: Rows shown before the table scrolls (the rest of the page is below it); the header's height.
VISIBLE_ROWS, HEADER_PX = 8, 38


@dataclass(frozen=True)
class TableLayout:
    """How a table of ``columns`` fits the window: each column's width in pixels at 1,280 px (``widths``), the
    height of a row (``row_height``: None = one line) and of the whole table (``height``)."""

    columns: tuple[str, ...]
    widths: Mapping[str, int]
    row_height: int | None
    height: int


def table_layout(
    columns: Sequence[str], texts: Mapping[str, Sequence[Any]], short_px: Mapping[str, int] | None = None
) -> TableLayout:
    """The layout of a table showing ``columns``, of which the ``texts`` ({column: its values on this page}) share
    what the short columns (``short_px`` {column: pixels}, else ``DEFAULT_PX``) leave of ``TABLE_PX``; rows tall
    enough for the longest text's wrapped lines (up to ``MAX_LINES``)."""
    short_px = short_px or {}
    short = sum(short_px.get(c, DEFAULT_PX) for c in columns if c not in texts)
    text_px = max((TABLE_PX - short) // max(len(texts), 1), 100)
    widths = {c: text_px if c in texts else short_px.get(c, DEFAULT_PX) for c in columns}
    longest = max((len(str(v)) for values in texts.values() for v in values if isinstance(v, str)), default=0)
    lines = min(max(math.ceil(longest * CHAR_PX / max(text_px - 16, 1)), 1), MAX_LINES)
    row_height = None if lines == 1 else max(WRAP_ROW_PX, LINE_PX * lines + 12)
    rows = max(len(next(iter(texts.values()), ())), 1)
    height = HEADER_PX + min(rows, VISIBLE_ROWS) * (row_height or 35) + 2
    return TableLayout(tuple(columns), widths, row_height, height)


def table_key(prefix: str, uids: Sequence[Any]) -> str:
    """A widget key for a table of these rows: a selection belongs to the rows it was made in, so another table
    (a new task, source, page or filter) starts unselected instead of choosing the row at the same position."""
    digest = hashlib.sha256("\x1f".join(str(u) for u in uids).encode()).hexdigest()[:12]
    return f"{prefix}-{digest}"
