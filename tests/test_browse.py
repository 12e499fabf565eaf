"""Browsing examples (``attnflow_core.browse``): search, label filter, pages, the prediction table and what a chosen
row selects."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from attnflow_core import browse, tables
from attnflow_core.data.tasks import TASKS, VERDICTS

QA = TASKS["qa"]
SENT = TASKS["sentiment"]


def qa_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "uid": [f"q{i}" for i in range(n)],
            "question": [f"What is thing {i}?" for i in range(n)],
            "sentence": [f"Thing {i} is a Widget." if i % 3 == 0 else f"Nothing {i}." for i in range(n)],
            "label": ["entailment" if i % 2 == 0 else "not_entailment" for i in range(n)],
        }
    )


def test_search_is_literal_case_insensitive_and_over_every_text_column() -> None:
    df = qa_rows(9)
    assert browse.filter_examples(df, QA, "widget")["uid"].tolist() == ["q0", "q3", "q6"]
    assert browse.filter_examples(df, QA, "THING 4?")["uid"].tolist() == ["q4"]
    assert browse.filter_examples(df, QA, ".*").empty  # not a regular expression
    assert browse.filter_examples(df, QA, "  ").equals(df)


def test_the_label_filter_and_the_label_options() -> None:
    df = qa_rows(6)
    assert browse.gold_labels(df) == ["entailment", "not_entailment"]
    assert browse.filter_examples(df, QA, labels=["not_entailment"])["uid"].tolist() == ["q1", "q3", "q5"]
    assert browse.filter_examples(df, QA, "widget", ["entailment"])["uid"].tolist() == ["q0"]


def test_pages_are_clamped_and_counted() -> None:
    view = qa_rows(45)
    assert browse.page_count(45) == 3 and browse.page_count(0) == 1
    last = browse.page_of(view, 3)
    assert last.rows["uid"].tolist() == ["q40", "q41", "q42", "q43", "q44"] and last.rows.index[0] == 0
    assert browse.page_of(view, 99).number == 3 and browse.page_of(view, 0).number == 1
    assert last.caption == "45 examples · page 3 of 3"


def test_the_prediction_table_has_one_verdict_wording() -> None:
    page = browse.page_of(qa_rows(4), 1).rows
    texts, pairs = browse.page_texts(page, QA)
    assert texts[0] == "What is thing 0?" and pairs[0] == "Thing 0 is a Widget."
    preds = [("entailment", 0.9), ("entailment", 0.6), None, ("not_entailment", 0.7)]
    table = browse.prediction_table(page, QA, preds)
    assert table["verdict"].tolist() == [VERDICTS[True], VERDICTS[False], "", VERDICTS[True]]
    assert table["confidence"].tolist()[:2] == [0.9, 0.6] and table["prediction"].tolist()[2] == ""
    # the model's short columns first, the texts, the id last (issue 19: ids say little, texts say which it is)
    assert browse.prediction_columns(table, QA) == [
        "verdict", "prediction", "confidence", "gold", "question", "sentence", "uid",
    ]  # fmt: skip
    plain = browse.prediction_table(page, QA)
    assert "verdict" not in plain.columns and browse.prediction_columns(plain, QA) == [
        "gold",
        "question",
        "sentence",
        "uid",
    ]
    single = browse.page_texts(pd.DataFrame({"uid": ["s"], "sentence": ["good"], "label": [""]}), SENT)
    assert single == (("good",), (None,))


def test_a_chosen_row_selects_its_example() -> None:
    row = browse.prediction_table(qa_rows(2), QA).iloc[1]
    assert browse.row_selection(row, QA, from_file=False) == {"example": "q1", "src": 0}
    from_file = browse.row_selection(row, QA, from_file=True)
    assert from_file == {
        "custom_text": "What is thing 1?",
        "custom_pair": "Nothing 1.",
        "custom_gold": "not_entailment",
        "example": "",
        "src": 0,
    }
    assert browse.is_new_choice(from_file, {"example": "q1", "custom_text": "", "custom_pair": ""})
    assert not browse.is_new_choice(from_file, {"example": "", "custom_text": "What is thing 1?",
                                                "custom_pair": "Nothing 1."})  # fmt: skip
    assert not browse.is_new_choice({"example": "q1", "src": 0}, {"example": "q1"})


def test_an_overviews_ranked_examples_and_what_a_row_opens() -> None:
    examples = pd.DataFrame(
        {
            "uid": ["a", "b", "c"],
            "text": ["t a", "t b", "t c"],
            "text_pair": ["p a", None, "p c"],
            "gold": ["entailment", np.nan, "not_entailment"],
            "prediction": ["entailment", "entailment", "entailment"],
            "confidence": [0.9, 0.8, 0.7],
            "correct": [True, None, False],
            "shift": [0.1, 0.3, 0.2],
            "n_tokens": [5, 6, 7],
        }
    )
    ranked = browse.ranked_examples(examples, is_pair=True)
    assert ranked["uid"].tolist() == ["b", "c", "a"] and ranked.columns[:3].tolist() == [
        "uid",
        "shift",
        "verdict",
    ]
    assert ranked["verdict"].tolist() == ["", VERDICTS[False], VERDICTS[True]]
    assert "text_pair" not in browse.ranked_examples(examples, is_pair=False).columns
    ov = SimpleNamespace(task="qa", source="demo", split="", base_ref="b0", tuned_ref="t0")
    here = {"task": "qa", "source": "demo", "split": ""}
    same = browse.overview_row_selection(ov, ranked.iloc[0], here, "embedded-qa", "custom")
    assert same == {"pair": "embedded-qa", "src": 0, "example": "b", "custom_text": "", "custom_pair": ""}
    elsewhere = browse.overview_row_selection(ov, ranked.iloc[1], {"task": "nli"}, None, "custom")
    assert elsewhere["task"] == "qa" and elsewhere["source"] == "demo" and elsewhere["pair"] == "custom"
    assert (elsewhere["custom_base"], elsewhere["custom_tuned"]) == ("b0", "t0")
    assert (elsewhere["example"], elsewhere["custom_text"], elsewhere["custom_pair"]) == ("", "t c", "p c")
    assert elsewhere["custom_gold"] == "not_entailment"
    assert (
        browse.overview_row_selection(ov, ranked.iloc[0], {"task": "nli"}, None, "custom")["custom_gold"]
        == ""
    )


def test_labelled_rows_and_a_rows_fields() -> None:
    df = qa_rows(2)
    assert (
        browse.has_labels(df) and not browse.has_labels(df.assign(label="")) and not browse.has_labels(None)
    )
    assert browse.example_fields(df.iloc[1], QA) == ("q1", "What is thing 1?", "Nothing 1.", "not_entailment")
    single = pd.DataFrame({"uid": ["s"], "sentence": ["good"], "label": [""]}).iloc[0]
    assert browse.example_fields(single, SENT) == ("s", "good", None, None)


def _overview_examples(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "uid": [f"e{i}" for i in range(n)],
            "text": [f"text {i}" for i in range(n)],
            "text_pair": [f"pair {i}" for i in range(n)],
            "gold": ["entailment"] * n,
            "prediction": ["entailment"] * n,
            "confidence": rng.uniform(0.5, 1.0, n),
            "correct": [True] * n,
            "shift": rng.uniform(0, 1, n),
            "n_tokens": [9] * n,
        }
    )


def test_the_ranked_examples_come_one_page_at_a_time() -> None:
    """Issue 19 item 10: an overview of a million examples sends the browser one page of the ranking, the same rows
    the whole ranking holds there."""
    examples = _overview_examples(1_000_000)
    page = browse.ranked_page(examples, is_pair=True, number=2)
    assert len(page.rows) == browse.PAGE_SIZE and (page.number, page.count) == (2, 50_000)
    assert page.caption == "1,000,000 examples · page 2 of 50000"
    shift = examples["shift"].to_numpy()
    expected = np.sort(shift)[::-1][browse.PAGE_SIZE : 2 * browse.PAGE_SIZE]
    np.testing.assert_array_equal(page.rows["shift"].to_numpy(), expected)
    small = _overview_examples(45)
    whole = browse.ranked_examples(small, is_pair=True)
    pages = [browse.ranked_page(small, True, k).rows for k in (1, 2, 3)]
    assert pd.concat(pages, ignore_index=True).equals(whole)
    assert (
        browse.ranked_page(small, True, 99).number == 3 and len(browse.ranked_page(small, True, 99).rows) == 5
    )
    assert browse.ranked_columns(True)[0] == "shift" and browse.ranked_columns(True)[-1] == "uid"
    assert set(browse.ranked_columns(True)) == set(whole.columns)
    assert set(browse.ranked_columns(False)) == set(browse.ranked_examples(small, is_pair=False).columns)


@pytest.mark.parametrize("task", [QA, SENT])
def test_a_table_fits_the_narrowest_window_and_wraps_long_texts(task: Any) -> None:
    """Issue 19 item 6: every column's width adds up to what the main area gives a table at 1,280 px; the texts
    share what the short columns leave; rows grow with the longest text (up to MAX_LINES lines)."""
    page = browse.page_of(qa_rows(4) if task.is_pair else pd.DataFrame(
        {"uid": ["s0", "s1"], "sentence": ["good", "bad"], "label": ["", ""]}), 1).rows  # fmt: skip
    table = browse.prediction_table(page, task, [("entailment", 0.9)] * len(page))
    order = browse.prediction_columns(table, task)
    short = browse.prediction_layout(table, task)
    assert short.columns == tuple(order)
    assert sum(short.widths.values()) <= tables.TABLE_PX and set(short.widths) == set(order)
    assert short.row_height is None  # one line each: no wrapping needed
    text_px = short.widths[task.text_columns[0]]
    assert all(short.widths[c] == text_px for c in task.text_columns) and text_px >= 150
    long = tables.table_layout(
        order, {c: ["word " * 30] * len(page) for c in task.text_columns}, browse.COLUMN_PX
    )
    assert long.row_height is not None and long.row_height > 64  # the grid wraps text only in rows over 64 px
    huge = tables.table_layout(order, {c: ["word " * 1000] for c in task.text_columns}, browse.COLUMN_PX)
    assert huge.row_height == tables.LINE_PX * tables.MAX_LINES + 12
    assert long.height <= tables.HEADER_PX + tables.VISIBLE_ROWS * long.row_height + 2


def test_a_selection_belongs_to_the_rows_it_was_made_in() -> None:
    """Issue 19 item 8: a table's widget key follows its rows, so a new task's table (or another page of it) does
    not inherit the row position selected in the previous one."""
    key = tables.table_key("table", ["demo-nli-01", "demo-nli-02"])
    assert key == tables.table_key("table", ["demo-nli-01", "demo-nli-02"]) and key.startswith("table-")
    assert key != tables.table_key("table", ["demo-sentiment-01", "demo-sentiment-02"])
    assert key != tables.table_key("ov_table", ["demo-nli-01", "demo-nli-02"])
