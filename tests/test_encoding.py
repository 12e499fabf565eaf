"""Encoding: segments, special tokens, the WordPiece → word grouping, truncation, and the word-level merge."""

from __future__ import annotations

import numpy as np
import pytest

from attnflow_core.encoding import encode, group_matrix, merge_wordpieces


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from attnflow_core.models import base_model_dir

    return AutoTokenizer.from_pretrained(str(base_model_dir()))


def test_pair_keeps_segments_specials_and_words(tokenizer) -> None:
    enc = encode(tokenizer, "What is the capital?", "Paris, unquestionably.")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert enc.special_positions == (0, 6, enc.n - 1)
    assert enc.segment_ids == (0,) * 7 + (1,) * (enc.n - 7)
    # "unquestionably" is several WordPieces but one word; punctuation is its own word.
    assert enc.words == (
        "[CLS]",
        "What",
        "is",
        "the",
        "capital",
        "?",
        "[SEP]",
        "Paris",
        ",",
        "unquestionably",
        ".",
        "[SEP]",
    )
    pieces = [t for t, w in zip(enc.tokens, enc.word_index, strict=True) if enc.words[w] == "unquestionably"]
    assert len(pieces) > 1 and "".join(p.removeprefix("##") for p in pieces) == "unquestionably"
    assert enc.word_segments[enc.words.index("Paris")] == 1
    assert not enc.truncated and enc.n_untruncated == enc.n


def test_single_sentence_has_one_segment(tokenizer) -> None:
    enc = encode(tokenizer, "not bad at all")
    assert set(enc.segment_ids) == {0}
    assert enc.text_pair is None
    assert enc.special_positions == (0, 5)


def test_truncation_is_reported(tokenizer) -> None:
    enc = encode(tokenizer, "word " * 100, "short answer", max_length=32)
    assert enc.n == 32 and enc.truncated and enc.n_untruncated == 100 + 2 + 3
    assert "short" in enc.tokens  # longest_first trims the long segment and keeps the short one


@pytest.mark.parametrize(("text", "pair"), [("", None), ("   ", None), ("a question", "  ")])
def test_empty_input_is_a_clear_error(tokenizer, text: str, pair: str | None) -> None:
    with pytest.raises(ValueError, match="empty"):
        encode(tokenizer, text, pair)


def test_merge_wordpieces_golden() -> None:
    # Tokens [CLS] un ##able -> words [CLS] unable. Rows of a word's pieces are averaged, columns summed.
    a = np.array(
        [
            [0.5, 0.25, 0.25],
            [0.2, 0.3, 0.5],
            [0.4, 0.4, 0.2],
        ],
        dtype=np.float32,
    )
    merged = merge_wordpieces(a[None, None], (0, 1, 1))[0, 0]
    # Row [CLS]: to [CLS] 0.5, to "unable" 0.25 + 0.25 = 0.5.
    # Row "unable": mean of rows 1 and 2 = [0.3, 0.35, 0.35] -> to [CLS] 0.3, to "unable" 0.7.
    np.testing.assert_allclose(merged, [[0.5, 0.5], [0.3, 0.7]], atol=1e-6)
    np.testing.assert_allclose(merged.sum(-1), 1.0, atol=1e-6)
    assert group_matrix((0, 1, 1)).tolist() == [[1, 0, 0], [0, 1, 1]]
