"""Decontamination: PTB-insensitive word tokens, the overlap rule at its boundary, and the report."""

from __future__ import annotations

import datasets
import pytest

from attnflow_core.data.decontaminate import DECONTAMINATION_THRESHOLD, decontaminate, word_tokens


@pytest.mark.parametrize(
    ("ptb", "raw"),
    [
        ("i do n't like it", "I don't like it"),
        ("it 's a charming journey .", "It's a charming journey."),
        ("it can not be enjoyed", "It cannot be enjoyed"),
        ("-lrb- the film -rrb- wo n't work", "(The film) won't work"),
        ("`` the ring '' is a clichés fest", "''The Ring'' is a cliches fest"),
        ("we 're gon na ca n't", "We're gonna can't"),
    ],
)
def test_ptb_and_raw_text_tokenise_alike(ptb: str, raw: str) -> None:
    assert word_tokens(ptb) == word_tokens(raw)


def test_word_tokens_golden() -> None:
    assert word_tokens("I do n't care -- it 's 90 minutes!") == ["i", "dont", "care", "its", "90", "minutes"]


def _ds(texts: list[str]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"uid": [f"u{i}" for i in range(len(texts))], "sentence": texts, "label": ["positive"] * len(texts)}
    )


def test_drops_snippets_containing_an_eval_sentence() -> None:
    train = _ds(
        [
            "Effective but too tepid biopic. The cast deserves better.",  # contains eval 0 -> dropped
            "I don't think it's a charming journey at all, frankly.",  # contains eval 1 (PTB) -> dropped
            "A charming film about a long journey home.",  # 2 of 6 words of eval 1 -> kept
            "Nothing in common here.",
        ]
    )
    evals = ["effective but too-tepid biopic", "it 's a charming journey . ", ""]
    kept, report = decontaminate(train, evals)
    assert kept["uid"] == ["u2", "u3"]
    assert report.rows_before == 4 and report.rows_dropped == 2 and report.rows_after == 2
    assert report.dropped_uids == ("u0", "u1")
    assert (
        report.eval_sentences == 3 and report.eval_sentences_matched == 2 and report.eval_sentences_empty == 1
    )
    assert report.threshold == DECONTAMINATION_THRESHOLD
    assert "dropped 2 of 4" in report.summary()


def test_threshold_boundary_is_inclusive() -> None:
    # Eval has 4 distinct words; the snippet holds 2 of them (0.5) -> dropped at 0.5, kept at 0.51.
    train = _ds(["this one is great"])
    evals = ["this movie is maddening ."]
    assert decontaminate(train, evals, threshold=0.5)[1].rows_dropped == 1
    assert decontaminate(train, evals, threshold=0.51)[1].rows_dropped == 0


def test_other_text_column_and_errors() -> None:
    ds = datasets.Dataset.from_dict({"premise": ["the cat sat on the mat"], "hypothesis": ["a cat"]})
    kept, report = decontaminate(ds, ["The cat sat on the mat."], text_column="premise")
    assert len(kept) == 0 and report.dropped_uids == ()
    with pytest.raises(
        ValueError, match="text_column 'sentence' is not a column of the dataset; use one of premise"
    ):
        decontaminate(ds, ["x"])
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\]"):
        decontaminate(ds, ["x"], threshold=0.0, text_column="premise")
    with pytest.raises(ValueError, match="must be a list of sentences"):
        decontaminate(ds, "the cat", text_column="premise")  # type: ignore[arg-type]
