"""Shared fixtures: tiny random-weight BERT checkpoints built in code (no download).

``make_tiny_bert_dir(path, with_head, ...)`` writes one (a ~50-word vocab.txt, a fast BERT tokenizer, random
weights); the ``make_tiny`` fixture hands that function to tests, and the session fixtures below build the ones
several test files use, once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
WORDS = [
    "the",
    "a",
    "an",
    "what",
    "who",
    "where",
    "when",
    "is",
    "was",
    "are",
    "it",
    "this",
    "that",
    "of",
    "in",
    "on",
    "and",
    "or",
    "but",
    "not",
    "no",
    "at",
    "all",
    "to",
    "capital",
    "france",
    "paris",
    "city",
    "most",
    "populous",
    "country",
    "river",
    "rhine",
    "germany",
    "good",
    "bad",
    "great",
    "terrible",
    "movie",
    "film",
    "funny",
    "boring",
    "i",
    "like",
    "love",
    "hate",
    "story",
    "man",
    "woman",
    "playing",
    "guitar",
    "music",
    "stage",
    "sleeping",
    "performing",
    "dog",
    "cat",
    "runs",
    "?",
    ".",
    ",",
    "!",
    "##s",
    "##ly",
    "##ing",
    "##ed",
]


def write_vocab(path: Path, extra: tuple[str, ...] = ()) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join([*SPECIALS, *WORDS, *extra]) + "\n")
    return vocab


def make_tiny_bert_dir(
    path: Path,
    with_head: bool,
    labels: tuple[str, ...] = ("negative", "positive"),
    seed: int = 0,
    layers: int = 2,
    heads: int = 2,
    hidden: int = 32,
    extra_vocab: tuple[str, ...] = (),
) -> Path:
    """Save a random BERT (encoder only, or with a classification head) and its fast tokenizer to ``path``
    (safetensors weights; transformers 5 writes no pytorch_model.bin)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    vocab = write_vocab(path, extra_vocab)
    # transformers 5: the vocabulary is passed as ``vocab`` (``vocab_file`` is silently ignored).
    tokenizer = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(SPECIALS) + len(WORDS) + len(extra_vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config) if with_head else BertModel(config)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


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
