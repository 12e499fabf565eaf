"""Tiny random-weight BERT checkpoints built in code (no download), for unit tests of loading and extraction.

``make_tiny_bert_dir(path, with_head, ...)`` writes one: a ~75-word vocab.txt (WordPieces included, so
"unquestionably" splits into un ##quest ##ion ##ably), a fast BERT tokenizer and random weights.
"""

from __future__ import annotations

from pathlib import Path

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
    "un",
    "##quest",
    "##ion",
    "##ably",
    "did",
    "play",
    "won",
    "game",
    "team",
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


#: Twenty words from which ``tiny_examples`` builds short, varied sentence pairs (shards and Ray tests).
_WORDS = [
    "what",
    "is",
    "the",
    "capital",
    "of",
    "france",
    "?",
    "paris",
    "is",
    "the",
    "most",
    "populous",
    "city",
    "in",
    "germany",
    "and",
    "i",
    "love",
    "this",
    "movie",
]


def tiny_examples(n: int) -> list:
    """``n`` deterministic sentence-pair ``data.sources.Example``s of varied length (no labels)."""
    from attnflow_core.data.sources import Example

    w = _WORDS
    return [
        Example(f"e{i}", " ".join(w[i % 7 : i % 7 + 2 + i % 5]), " ".join(w[i % 4 : i % 4 + 3 + i % 3]), None)
        for i in range(n)
    ]


#: Three centred token vectors (D = 3) with equal norms and pairwise dot products −1: the hand-worked layer's input.
HAND_X = ((1.0, -1.0, 0.0), (0.0, 1.0, -1.0), (-1.0, 0.0, 1.0))


def hand_bert_layer() -> object:
    """One BERT layer (1 head, hidden 3) with hand-set weights, for hand-worked contribution cases: W_Q = W_K = 0
    (so every attention row is uniform, 1/3 each), W_V = W_O = I with zero biases, LN1 and LN2 with γ = 1, β = 0,
    and an FFN whose weights and biases are all 0 (so LN2 only rescales the centred y). float64."""
    import torch
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLayer

    config = BertConfig(hidden_size=3, num_attention_heads=1, intermediate_size=4, num_hidden_layers=1)
    config._attn_implementation = "eager"
    layer = BertLayer(config).double().eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.zero_()
        layer.attention.self.value.weight.copy_(torch.eye(3))
        layer.attention.output.dense.weight.copy_(torch.eye(3))
        layer.attention.output.LayerNorm.weight.fill_(1.0)
        layer.output.LayerNorm.weight.fill_(1.0)
    return layer
