"""Browsing examples: the Examples page's search, gold-label filter, pagination and prediction table, and the
Dataset overview's ranked examples; and what choosing a row selects. Pure functions over pandas tables (the columns
of ``data.sources``: uid, the task's text columns, label), no Streamlit.

A choice is returned as the selection values it sets, named as in ``urlstate.URL_PARAMS`` (the pages store them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from attnflow_core.data.tasks import Task, is_correct, verdict
from attnflow_core.tables import TableLayout, table_layout

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


# ---------------------------------------------------------------- how the tables fit the window

#: Pixel widths of the short columns of the Examples and ranked tables (the texts share what they leave of
#: ``tables.TABLE_PX``).
COLUMN_PX = {"verdict": 75, "prediction": 100, "confidence": 65, "gold": 100, "shift": 80, "uid": 110}


def prediction_layout(table: pd.DataFrame, task: Task) -> TableLayout:
    """The layout of a page of the Examples table (``prediction_table``) in ``prediction_columns``' order."""
    texts = {c: table[c].tolist() for c in task.text_columns}
    return table_layout(prediction_columns(table, task), texts, COLUMN_PX)


def ranked_layout(rows: pd.DataFrame, is_pair: bool) -> TableLayout:
    """The layout of a page of an overview's ranked examples (``ranked_page``) in ``ranked_columns``' order."""
    texts = ["text", "text_pair"] if is_pair else ["text"]
    return table_layout(ranked_columns(is_pair), {c: rows[c].tolist() for c in texts}, COLUMN_PX)


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
