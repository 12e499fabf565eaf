"""Shared fixtures: tiny random-weight BERT checkpoints built in code (no download).

``make_tiny_bert_dir(path, with_head, ...)`` writes one (see ``tiny.py``); the ``make_tiny`` fixture hands that
function to tests, and the session fixtures below build the ones several test files use, once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tiny import make_tiny_bert_dir


@pytest.fixture
def make_tiny() -> Callable[..., Path]:
    return make_tiny_bert_dir


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pre-trained-style encoder without a classification head (the base of tiny LoRA runs)."""
    return make_tiny_bert_dir(tmp_path_factory.mktemp("tiny-base"), with_head=False, seed=1)


@pytest.fixture(scope="session")
def tiny_sentiment_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny classifier with the sentiment labels (negative, positive)."""
    return make_tiny_bert_dir(tmp_path_factory.mktemp("tiny-sentiment"), with_head=True, seed=2)


@pytest.fixture(scope="session")
def tiny_nli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny three-way NLI classifier (entailment, neutral, contradiction)."""
    return make_tiny_bert_dir(
        tmp_path_factory.mktemp("tiny-nli"),
        with_head=True,
        labels=("entailment", "neutral", "contradiction"),
        seed=3,
    )
