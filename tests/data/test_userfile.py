"""User files: CSV, JSONL and Parquet happy paths, and every validation error."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from attnflow_core.data.files import LabelError, normalise_label
from attnflow_core.data.sources import load_examples
from attnflow_core.data.userfile import DataFileError, load_user_file


def test_csv_with_mapping_and_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('text,stars\n"Great, really great.",1\nAwful.,0\nMeh,\n', encoding="utf-8")
    ds = load_user_file(path, "sentiment", mapping={"sentence": "text", "label": "stars"})
    assert ds.column_names == ["uid", "sentence", "label"]
    assert ds["uid"] == ["reviews-1", "reviews-2", "reviews-3"]
    assert ds["sentence"] == ["Great, really great.", "Awful.", "Meh"]
    assert ds["label"] == ["positive", "negative", ""]


def test_jsonl_bytes_with_uid_and_named_labels() -> None:
    rows = [
        {"id": "a", "question": "Who?", "sentence": "Ann did.", "label": "Entailment"},
        {"id": "b", "question": "When?", "sentence": "Blue sky.", "label": "not entailment"},
    ]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    ds = load_user_file(data, "qa", mapping={"uid": "id"}, filename="mine.jsonl")
    assert ds["uid"] == ["a", "b"]
    assert ds["label"] == ["entailment", "not_entailment"]


def test_parquet_without_labels_via_load_examples(tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    pd.DataFrame(
        {"premise": ["A man sleeps.", "It rains."], "hypothesis": ["He is awake.", "It is wet."]}
    ).to_parquet(path)
    ds = load_examples("nli", "file", path=path)
    assert ds.column_names == ["uid", "premise", "hypothesis", "label"]
    assert ds["label"] == ["", ""]
    assert len(load_examples("nli", "file", path=path, limit=1)) == 1


def test_binary_nli_labels(tmp_path: Path) -> None:
    path = tmp_path / "rte.csv"
    path.write_text("premise,hypothesis,label\nA,B,not_entailment\nC,D,neutral\nE,F,0\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"unknown label 'not_entailment' .*pass binary_nli=True"):
        load_user_file(path, "nli")
    ds = load_user_file(path, "nli", binary_nli=True)
    assert ds["label"] == ["not_entailment", "not_entailment", "entailment"]


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("body,label\nhello,1\n", encoding="utf-8")
    with pytest.raises(
        DataFileError,
        match=r"column 'sentence' \(for the task's 'sentence'\) is not in the file; available columns: body, label\. "
        r"choose the column for 'sentence' in the boxes above",
    ):
        load_user_file(path, "sentiment")
    with pytest.raises(DataFileError, match="column 'review' .* available columns: body, label"):
        load_user_file(path, "sentiment", mapping={"sentence": "review"})
    with pytest.raises(DataFileError, match="mapping key.*'text' are not columns of the task"):
        load_user_file(path, "sentiment", mapping={"text": "sentence"})


def test_unknown_label_lists_valid_labels(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("sentence,label\ngood,positive\nbad,negativ\nok,3\n", encoding="utf-8")
    with pytest.raises(
        DataFileError,
        match=r"unknown label 'negativ' in column 'label' \(row\(s\) 2\) and 1 other .*use one of negative, positive",
    ):
        load_user_file(path, "sentiment")


def test_empty_text_rows_are_named(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('sentence\nfine\n"  "\nalso fine\n""\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=r"column 'sentence' \(sentence\) is empty in row\(s\) 2, 4"):
        load_user_file(path, "sentiment")


def test_oversize_file(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("sentence\n" + "word\n" * 100, encoding="utf-8")
    with pytest.raises(DataFileError, match="big.csv is 509 bytes, over the limit of 100"):
        load_user_file(path, "sentiment", max_bytes=100)
    with pytest.raises(DataFileError, match="over the limit of 10"):
        load_user_file(b"sentence\nx\n", "sentiment", filename="a.csv", max_bytes=10)
    with pytest.raises(DataFileError, match="the file has more than 50 rows, over the limit of 50"):
        load_user_file(path, "sentiment", max_rows=50)


def test_bad_format(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(
        DataFileError, match=r"unsupported file format '\.xlsx'.*use CSV \(\.csv\), JSON Lines"
    ):
        load_user_file(path, "sentiment")
    with pytest.raises(DataFileError, match="cannot tell the file's format without its name"):
        load_user_file(b"sentence\nx\n", "sentiment")
    with pytest.raises(DataFileError, match="cannot read the file as JSONL"):
        load_user_file(b"{not json", "sentiment", filename="x.jsonl")
    with pytest.raises(DataFileError, match="cannot read the file as PARQUET"):
        load_user_file(b"not parquet", "sentiment", filename="x.parquet")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataFileError, match="the file is empty"):
        load_user_file(path, "sentiment")
    with pytest.raises(DataFileError, match=r"the file has no rows \(columns: sentence, label\)"):
        load_user_file(b"sentence,label\n", "sentiment", filename="h.csv")
    with pytest.raises(DataFileError, match="no such file"):
        load_user_file(tmp_path / "missing.csv", "sentiment")


def test_duplicate_uids(tmp_path: Path) -> None:
    data = b"uid,sentence\na,x\na,y\n"
    with pytest.raises(DataFileError, match="uid column 'uid' repeats a; uids must be unique"):
        load_user_file(data, "sentiment", filename="d.csv")


@pytest.mark.parametrize(
    ("value", "task", "expected"),
    [
        (0, "sentiment", "negative"),
        ("1", "sentiment", "positive"),
        (1.0, "qa", "not_entailment"),
        ("POS", "sentiment", "positive"),
        ("Contradiction", "nli", "contradiction"),
        (2, "nli", "contradiction"),
        (-1, "nli", ""),
        (None, "qa", ""),
        (float("nan"), "qa", ""),
    ],
)
def test_normalise_label(value: object, task: str, expected: str) -> None:
    assert normalise_label(value, task) == expected


def test_normalise_label_errors() -> None:
    with pytest.raises(LabelError, match=r"label id 3 is out of range for task 'nli': use 0..2"):
        normalise_label(3, "nli")
    with pytest.raises(LabelError, match="pass binary_nli=True"):
        normalise_label("not_entailment", "nli")
    assert normalise_label("contradiction", "nli", binary_nli=True) == "not_entailment"
    assert normalise_label(1, "nli", binary_nli=True) == "not_entailment"
    with pytest.raises(
        LabelError, match="unknown label 'maybe' for task 'qa'; use one of entailment, not_entailment"
    ):
        normalise_label("maybe", "qa")
