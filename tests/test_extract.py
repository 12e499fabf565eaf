"""Extraction on tiny random BERTs: both models see the identical tokens; shapes, row sums, predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attnflow_core.extract import extract, predict_many
from attnflow_core.models import load_pair
from tiny import make_tiny_bert_dir


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("tiny")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return load_pair(str(root / "base"), str(root / "tuned"))


def test_attention_shapes_rows_and_identical_tokens(pair) -> None:
    r = extract(pair, "what is the capital of france ?", "paris is the capital")
    n = r.encoding.n
    assert r.attn_base.shape == r.attn_tuned.shape == (2, 2, n, n)
    assert r.attn_base.dtype == np.float32
    np.testing.assert_allclose(r.attn_base.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(r.attn_tuned.sum(-1), 1.0, atol=1e-5)
    assert not np.allclose(r.attn_base, r.attn_tuned)  # different random weights
    assert r.encoding.segment_ids.count(1) == len(["paris", "is", "the", "capital"]) + 1


def test_prediction_only_for_the_model_with_a_head(pair) -> None:
    r = extract(pair, "good movie")
    assert r.prediction_base is None
    assert r.prediction_tuned is not None
    names = [name for name, _ in r.prediction_tuned.probabilities]
    assert names == ["negative", "positive"]
    assert sum(p for _, p in r.prediction_tuned.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert r.prediction_tuned.confidence == max(p for _, p in r.prediction_tuned.probabilities)


def test_batched_predictions_match_single_ones(pair) -> None:
    texts = ["good movie", "what is the capital of france ?", "it was terrible"]
    pairs = [None, "paris", None]
    batched = predict_many(pair.tuned, texts, pairs, batch_size=2)
    for text, text_pair, pred in zip(texts, pairs, batched, strict=True):
        single = extract(pair, text, text_pair).prediction_tuned
        assert pred is not None and single is not None
        assert pred.label == single.label
        assert dict(pred.probabilities) == pytest.approx(dict(single.probabilities), abs=1e-5)
    assert predict_many(pair.base, texts) == [None, None, None]


def test_truncation_flag_and_limit(pair) -> None:
    r = extract(pair, "good " * 200)
    assert r.encoding.n == pair.max_length == 64
    assert r.encoding.truncated and r.encoding.n_untruncated == 202


def test_empty_text_is_rejected(pair) -> None:
    with pytest.raises(ValueError, match="empty"):
        extract(pair, "  ")
