"""The tiny fixtures themselves: their tokenizer must know its vocabulary, or every test on them sees only [UNK]."""

from __future__ import annotations

from pathlib import Path

from tiny import make_tiny_bert_dir


def test_tiny_tokenizer_splits_into_known_wordpieces(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(make_tiny_bert_dir(tmp_path / "t", with_head=False)))
    pieces = tok.tokenize("what is the capital of france ? paris , unquestionably")
    assert pieces == [
        "what",
        "is",
        "the",
        "capital",
        "of",
        "france",
        "?",
        "paris",
        ",",
        "un",
        "##quest",
        "##ion",
        "##ably",
    ]
    assert "[UNK]" not in pieces
