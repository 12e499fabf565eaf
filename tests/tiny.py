"""Tiny random-weight BERT checkpoints built in code (no download), for unit tests of loading and extraction."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "the",
    "a",
    "what",
    "is",
    "capital",
    "of",
    "france",
    "paris",
    "city",
    "and",
    "most",
    "populous",
    "un",
    "##quest",
    "##ion",
    "##ably",
    "good",
    "bad",
    "movie",
    "not",
    "at",
    "all",
    "who",
    "where",
    "when",
    "did",
    "play",
    "won",
    "game",
    "team",
    "?",
    ".",
    ",",
    "!",
    "it",
    "was",
    "great",
    "terrible",
    "film",
    "i",
    "like",
    "love",
    "hate",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


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
    extra_vocab: tuple[str, ...] = (),
    safetensors: bool = True,
) -> Path:
    """Save a random BERT (encoder only, or with a classification head) and its fast tokenizer to ``path``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    vocab = write_vocab(path, extra_vocab)
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    n_vocab = len(SPECIALS) + len(WORDS) + len(extra_vocab)
    config = BertConfig(
        vocab_size=n_vocab,
        hidden_size=8 * heads,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config) if with_head else BertModel(config)
    model.save_pretrained(str(path), safe_serialization=safetensors)
    tokenizer.save_pretrained(str(path))
    return path
