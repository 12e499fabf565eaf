"""The task table and ``is_correct``: the verdict the Examples page, the example header and the overview show."""

from __future__ import annotations

import pytest

from attnflow_core.data.tasks import TASKS, is_correct


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("positive", "positive", True),
        ("negative", "positive", False),
        ("entailment", "entailment", True),
        ("neutral", "contradiction", False),
        ("not_entailment", "not_entailment", True),  # a binary (QNLI) model on binary data
        ("entailment", "not_entailment", False),
    ],
)
def test_is_correct_compares_labels(prediction: str, gold: str, expected: bool) -> None:
    assert is_correct(prediction, gold) is expected


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [(None, "positive"), ("", "positive"), ("positive", None), ("positive", ""), (None, None)],
)
def test_is_correct_is_none_when_either_label_is_missing(prediction: str | None, gold: str | None) -> None:
    """An unlabelled example (or a model without a head) has no verdict: None, not False."""
    assert is_correct(prediction, gold) is None


@pytest.mark.parametrize(
    ("prediction", "expected"), [("neutral", True), ("contradiction", True), ("entailment", False)]
)
def test_binary_nli_gold_against_three_way_predictions(prediction: str, expected: bool) -> None:
    """RTE-style gold ``not_entailment`` counts neutral and contradiction as right, as ``evaluate`` scores them."""
    assert "not_entailment" not in TASKS["nli"].labels  # the model is three-way, the data binary
    assert is_correct(prediction, "not_entailment") is expected
