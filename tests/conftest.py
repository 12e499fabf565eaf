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


@pytest.fixture(scope="session")
def tiny_checkpointed_run(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny sentiment LoRA run on ``tiny_base_dir`` with checkpoints at steps 0, 2, 4 and 8 (the trajectory's)."""
    import datasets

    from attnflow_core.finetune import FinetuneConfig, finetune

    texts = [
        "the movie was great",
        "i love this film",
        "a funny story",
        "the movie was terrible",
        "a boring story",
    ]
    labels = [1, 1, 1, 0, 0]
    rows = datasets.Dataset.from_dict({"sentence": texts * 4, "label": labels * 4})
    out = tmp_path_factory.mktemp("checkpointed") / "run"
    cfg = FinetuneConfig(
        epochs=2.0, max_steps=8, batch_size=4, lr=5e-2, lora_rank=4, lora_alpha=8, max_length=16, seed=7
    )
    finetune(
        "sentiment",
        rows,
        rows.select(range(5)),
        cfg,
        out,
        base_dir=tiny_base_dir,
        checkpoints=(0, 0.25, 0.5, 1),
    )
    return out
