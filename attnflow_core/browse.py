"""Browsing examples: the Examples page's search, gold-label filter, pagination and prediction table, and the
Dataset overview's ranked examples; and what choosing a row selects. Pure functions over pandas tables (the columns
of ``data.sources``: uid, the task's text columns, label), no Streamlit.

A choice is returned as the selection values it sets, named as in ``urlstate.URL_PARAMS`` (the pages store them).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from attnflow_core.data.tasks import Task, is_correct, verdict

#: Examples per page of the Examples table.
PAGE_SIZE = 20
#: The selection values that say which example is chosen (a row of a source, or typed text).
EXAMPLE_KEYS = ("example", "custom_text", "custom_pair")


def has_labels(table: pd.DataFrame | None) -> bool:
    """Whether ``table`` has at least one labelled row (something to fine-tune on)."""
    return table is not None and not table.empty and bool((table["label"].astype(str) != "").any())


def example_fields(row: Mapping[str, Any], task: Task) -> tuple[str, str, str | None, str | None]:
    """(uid, text, text pair or None, gold label or None) of one row of a source's table."""
    text_pair = str(row[task.text_columns[1]]) if task.is_pair else None
    return str(row["uid"]), str(row[task.text_columns[0]]), text_pair, str(row["label"]) or None


def gold_labels(table: pd.DataFrame) -> list[str]:
    """The gold labels present in ``table``, sorted (the label filter's options)."""
    return sorted({str(x) for x in table["label"] if str(x)})


def filter_examples(
    table: pd.DataFrame, task: Task, query: str = "", labels: Sequence[str] = ()
) -> pd.DataFrame:
    """The rows whose text columns contain ``query`` (case-insensitive, literal) and whose gold label is one of
    ``labels`` (any when empty)."""
    view = table
    if query.strip():
        mask = pd.Series(False, index=table.index)
        for col in task.text_columns:
            mask |= table[col].astype(str).str.contains(query.strip(), case=False, regex=False)
        view = view[mask]
    if labels:
        view = view[view["label"].astype(str).isin(list(labels))]
    return view


@dataclass(frozen=True, eq=False)
class Page:
    """One page of a filtered table: its ``rows`` (index reset), its ``number`` (1-based) of ``count``, and how many
    rows the filter lets through (``total``)."""

    rows: pd.DataFrame
    number: int
    count: int
    total: int

    @property
    def caption(self) -> str:
        return f"{self.total:,} examples · page {self.number} of {self.count}"


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    """Pages needed for ``total`` rows (at least one)."""
    return max(1, -(-total // size))


def page_of(view: pd.DataFrame, number: int, size: int = PAGE_SIZE) -> Page:
    """Page ``number`` (clamped to 1..count) of ``view``."""
    count = page_count(len(view), size)
    number = min(max(int(number), 1), count)
    rows = view.iloc[(number - 1) * size : number * size].reset_index(drop=True)
    return Page(rows=rows, number=number, count=count, total=len(view))


def page_texts(rows: pd.DataFrame, task: Task) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """(texts, pair texts) of a page's rows, as the predictions take them (pair texts None for single-text tasks)."""
    first = tuple(str(t) for t in rows[task.text_columns[0]])
    if not task.is_pair:
        return first, (None,) * len(first)
    return first, tuple(None if s is None else str(s) for s in rows[task.text_columns[1]])


def prediction_table(
    rows: pd.DataFrame, task: Task, predictions: Sequence[tuple[str, float] | None] | None = None
) -> pd.DataFrame:
    """A page's table: id, the texts and the gold label, and with ``predictions`` ((label, confidence) per row, None
    where a row has none) the fine-tuned prediction, its confidence and the verdict."""
    table = rows[["uid", *task.text_columns, "label"]].rename(columns={"label": "gold"})
    if predictions is not None:
        table["prediction"] = [p[0] if p else "" for p in predictions]
        table["confidence"] = [p[1] if p else None for p in predictions]
        table["verdict"] = [
            verdict(is_correct(p[0] if p else None, g))
            for p, g in zip(predictions, table["gold"], strict=True)
        ]
    return table


def prediction_columns(table: pd.DataFrame, task: Task) -> list[str]:
    """The order the table shows its columns: the model's short columns first, then the texts (wrapped, so they
    fit the window whatever their length), the example's id last (it says little: the texts say which it is)."""
    order = ("verdict", "prediction", "confidence", "gold", *task.text_columns, "uid")
    return [c for c in order if c in table.columns]


def row_selection(row: Mapping[str, Any], task: Task, from_file: bool) -> dict[str, Any]:
    """The selection values a chosen table row sets. A row of the user's file lives only in their browser session,
    so it travels as custom text (with its gold label); any other row by its id. The trace restarts at [CLS]."""
    if not from_file:
        return {"example": str(row["uid"]), "src": 0}
    gold = row.get("gold")
    return {
        "custom_text": str(row[task.text_columns[0]]),
        "custom_pair": str(row[task.text_columns[1]]) if task.is_pair else "",
        "custom_gold": "" if gold is None or pd.isna(gold) else str(gold),
        "example": "",
        "src": 0,
    }


def is_new_choice(selection: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether ``selection`` (from ``row_selection``) chooses another example than the ``current`` values."""
    return any(str(current.get(k) or "") != str(selection[k]) for k in EXAMPLE_KEYS if k in selection)


def _ranked(examples: pd.DataFrame, is_pair: bool) -> pd.DataFrame:
    """Rows of an overview's example table with their verdict, in ``ranked_examples``' columns."""
    table = examples.copy()
    table["verdict"] = [verdict(None if pd.isna(c) else bool(c)) for c in table["correct"]]
    cols = [
        "uid",
        "shift",
        "verdict",
        "prediction",
        "confidence",
        "gold",
        "text",
        *(["text_pair"] if is_pair else []),
    ]
    return table[cols].reset_index(drop=True)


def rank_order(examples: pd.DataFrame) -> np.ndarray:
    """(n,) row positions of an overview's examples by attention shift, largest first (ties keep file order)."""
    shift = pd.to_numeric(examples["shift"], errors="coerce").to_numpy(dtype=np.float64)
    return np.argsort(-np.nan_to_num(shift, nan=-np.inf), kind="stable")


def ranked_examples(examples: pd.DataFrame, is_pair: bool) -> pd.DataFrame:
    """An overview's example table ranked by attention shift, with the verdict (the sort column is ``shift``)."""
    return _ranked(examples.iloc[rank_order(examples)], is_pair)


def ranked_page(examples: pd.DataFrame, is_pair: bool, number: int, size: int = PAGE_SIZE) -> Page:
    """Page ``number`` (clamped) of ``ranked_examples``: only its ``size`` rows are built, so an overview of a
    million examples sends the browser one page, not the whole table."""
    count = page_count(len(examples), size)
    number = min(max(int(number), 1), count)
    order = rank_order(examples)[(number - 1) * size : number * size]
    return Page(rows=_ranked(examples.iloc[order], is_pair), number=number, count=count, total=len(examples))


def ranked_columns(is_pair: bool) -> list[str]:
    """The order the ranked table shows its columns: the shift it is ranked by, the model's short columns, the
    texts (wrapped), the id last."""
    return [
        "shift",
        "verdict",
        "prediction",
        "confidence",
        "gold",
        "text",
        *(["text_pair"] if is_pair else []),
        "uid",
    ]


# ---------------------------------------------------------------- how a table fits the window

#: Pixel widths of the short columns. With the texts' share (``TableLayout``) they add up to ``TABLE_PX``, what the
#: main area gives a table at a 1,280 px window (820 px, less the row-selection boxes); on a wider window the grid
#: stretches every column in proportion, so a table never scrolls sideways.
COLUMN_PX = {"verdict": 75, "prediction": 100, "confidence": 70, "gold": 100, "shift": 80, "uid": 80}
TABLE_PX = 770
#: Text metrics of the grid (14 px Source Sans): average width of a character, height of a wrapped line.
CHAR_PX, LINE_PX = 7, 20
#: Rows grow to show up to this many wrapped lines (click a cell for the rest); the grid wraps text only in rows
#: taller than 64 px, so a wrapping row is at least ``WRAP_ROW_PX``.
MAX_LINES, WRAP_ROW_PX = 5, 68
#: Rows shown before the table scrolls (the rest of the page is below it).
VISIBLE_ROWS = 8
HEADER_PX = 38


@dataclass(frozen=True)
class TableLayout:
    """How a table of ``columns`` fits the window: each column's width in pixels at 1,280 px (``widths``), the
    height of a row (``row_height``: None = one line) and of the whole table (``height``)."""

    columns: tuple[str, ...]
    widths: Mapping[str, int]
    row_height: int | None
    height: int


def table_layout(columns: Sequence[str], texts: Mapping[str, Sequence[Any]]) -> TableLayout:
    """The layout of a table showing ``columns``, of which the ``texts`` ({column: its values on this page}) share
    what the short columns (``COLUMN_PX``) leave; rows tall enough for the longest text's wrapped lines."""
    short = sum(COLUMN_PX.get(c, 0) for c in columns if c not in texts)
    text_px = max((TABLE_PX - short) // max(len(texts), 1), 100)
    widths = {c: text_px if c in texts else COLUMN_PX.get(c, 100) for c in columns}
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


def overview_row_selection(
    ov: Any, row: Mapping[str, Any], current: Mapping[str, Any], pair_key: str | None, custom_key: str
) -> dict[str, Any]:
    """The selection values that open an overview's example on the Attention flow page: its task, its model pair
    (``pair_key``, the registered pair with the overview's two models, else ``custom_key`` with both references)
    and the example itself (by id when the overview's task, source and split are the ``current`` ones, else as
    custom text). The trace restarts at [CLS]."""
    out: dict[str, Any] = {}
    if ov.task != current.get("task"):
        out.update(task=ov.task, source="demo", split="")
    if pair_key is not None:
        out["pair"] = pair_key
    else:
        out.update(pair=custom_key, custom_base=ov.base_ref, custom_tuned=ov.tuned_ref)
    out["src"] = 0
    here = (current.get("task"), current.get("source"), current.get("split") or "")
    if (ov.task, ov.source, ov.split) == here:
        out.update(example=str(row["uid"]), custom_text="", custom_pair="")
        return out
    gold, text_pair = row.get("gold"), row.get("text_pair")
    out.update(
        example="",
        custom_gold="" if gold is None or pd.isna(gold) else str(gold),
        custom_text=str(row["text"]),
        custom_pair="" if text_pair is None or pd.isna(text_pair) else str(text_pair),
    )
    return out
