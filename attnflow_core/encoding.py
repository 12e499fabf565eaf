"""Tokenise a sentence or sentence pair, keeping segments, special tokens and the WordPiece → word grouping.

The grouping lets every view switch between WordPiece tokens and whole words: ``word_index[t]`` is the group of
token ``t``; a special token ([CLS], [SEP]) is a group of its own, so flows into it stay visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.errors import SettingsError
from attnflow_core.vocab import Choice, Registry


class Unit(Choice):
    """What a view's rows are: WordPiece tokens, or whole words (``grouped``: a word's pieces merged, attention by
    ``merge_wordpieces``, scores by ``merge_scores``)."""

    grouped: bool = False


#: The units every view can use (the vocabulary's one definition), tokens first (the default).
UNITS: Registry[Unit] = Registry(
    "unit",
    (
        Unit("token", label="WordPiece tokens", phrase="token", short="tokens"),
        Unit("word", label="Whole words", phrase="word", short="words", grouped=True),
    ),
)


@dataclass(frozen=True)
class Encoding:
    """One tokenised example. All per-token tuples have length ``n``; per-word tuples have length ``w``."""

    input_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    segment_ids: tuple[int, ...]  # 0 for the first text (and [CLS]), 1 for the pair text
    special_positions: tuple[int, ...]  # positions of [CLS]/[SEP]/...
    word_index: tuple[int, ...]  # token -> word group, 0..w-1, in reading order
    words: tuple[str, ...]  # the text of each word group ("[CLS]" for a special token)
    word_segments: tuple[int, ...]
    text: str
    text_pair: str | None
    truncated: bool
    n_untruncated: int  # number of tokens before truncation

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def word_special_mask(self) -> np.ndarray:
        """(w,) bool: True for word groups that are a special token."""
        mask = np.zeros(len(self.words), dtype=bool)
        for pos in self.special_positions:
            mask[self.word_index[pos]] = True
        return mask

    def word_special_positions(self) -> tuple[int, ...]:
        return tuple(int(i) for i in np.flatnonzero(self.word_special_mask))

    def convert_unit(self, index: int, from_unit: str, to_unit: str) -> int:
        """Unit ``index`` counted in ``from_unit`` as an index in ``to_unit``: a token goes to the word that contains
        it, a word to its first token (so a word → token → word round trip keeps the word, and a token → word →
        token one lands on the word's first piece). An index out of range gives 0 ([CLS])."""
        src, dst = UNITS.get(from_unit), UNITS.get(to_unit)
        index = int(index)
        if src.grouped == dst.grouped:
            return index
        if not src.grouped:  # token -> word
            return self.word_index[index] if 0 <= index < self.n else 0
        return next((t for t, w in enumerate(self.word_index) if w == index), 0)

    def units(self, unit: str) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
        """(labels, segments, special positions) in ``unit`` (a ``UNITS`` entry or its key)."""
        if UNITS.get(unit).grouped:
            return self.words, self.word_segments, self.word_special_positions()
        return self.tokens, self.segment_ids, self.special_positions


def _check_text(value: str | None, name: str) -> None:
    if value is not None and not value.strip():
        raise SettingsError(f"{name} is empty; type at least one word")


def encode(tokenizer: Any, text: str, text_pair: str | None = None, max_length: int = 512) -> Encoding:
    """Tokenise ``text`` (and ``text_pair``) for a BERT-style model; truncate to ``max_length`` tokens.

    Truncation is 'longest_first' (it trims the longer segment first, so a short question survives a long
    answer sentence); ``Encoding.truncated`` records it so the UI can say so.
    """
    _check_text(text, "text")
    if text is None:
        raise SettingsError("text is empty; type at least one word")
    _check_text(text_pair, "text_pair (the second sentence)")
    if max_length < 4:
        raise SettingsError(f"max_length must be at least 4 tokens; got {max_length}")
    if not getattr(tokenizer, "is_fast", False):
        raise SettingsError(
            "a fast (Rust) tokenizer is needed for the word grouping; load the model's tokenizer.json"
        )
    full = tokenizer(text, text_pair, truncation=False, add_special_tokens=True, verbose=False)
    n_untruncated = len(full["input_ids"])
    enc = tokenizer(
        text,
        text_pair,
        truncation="longest_first" if n_untruncated > max_length else False,
        max_length=max_length,
        add_special_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_token_type_ids=True,
    )
    ids = [int(i) for i in enc["input_ids"]]
    tokens = tuple(tokenizer.convert_ids_to_tokens(ids))
    seq_ids = enc.sequence_ids()
    word_ids = enc.word_ids()
    offsets = enc["offset_mapping"]
    special = [i for i, s in enumerate(enc["special_tokens_mask"]) if s]
    segments = tuple(int(s) for s in enc.get("token_type_ids", [0] * len(ids)))

    word_index: list[int] = []
    words: list[str] = []
    word_segments: list[int] = []
    spans: list[tuple[int, int]] = []
    last_key: tuple[int, int] | None = None
    for t, (seq, wid) in enumerate(zip(seq_ids, word_ids, strict=True)):
        if seq is None or wid is None:
            words.append(tokens[t])
            word_segments.append(segments[t])
            spans.append((-1, -1))
            word_index.append(len(words) - 1)
            last_key = None
            continue
        key = (int(seq), int(wid))
        start, end = int(offsets[t][0]), int(offsets[t][1])
        if key != last_key:
            words.append("")
            word_segments.append(segments[t])
            spans.append((start, end))
        else:
            spans[-1] = (spans[-1][0], end)
        source = text if seq == 0 else (text_pair or "")
        s0, e0 = spans[-1]
        words[-1] = source[s0:e0]
        word_index.append(len(words) - 1)
        last_key = key
    return Encoding(
        input_ids=tuple(ids),
        tokens=tokens,
        segment_ids=segments,
        special_positions=tuple(special),
        word_index=tuple(word_index),
        words=tuple(words),
        word_segments=tuple(word_segments),
        text=text,
        text_pair=text_pair,
        truncated=n_untruncated > len(ids),
        n_untruncated=n_untruncated,
    )


def group_matrix(word_index: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """(w, n) 0/1 matrix G with G[g, t] = 1 when token t belongs to word group g."""
    idx = np.asarray(word_index, dtype=int)
    n_words = int(idx.max()) + 1 if idx.size else 0
    g = np.zeros((n_words, idx.size))
    g[idx, np.arange(idx.size)] = 1.0
    return g


def merge_wordpieces(attn: np.ndarray, word_index: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """Word-level attention: (..., n, n) -> (..., w, w).

    Rows (queries) of a word's pieces are averaged and columns (keys) summed, so every row still sums to 1 — the
    standard merge of Clark et al. 2019 ("What does BERT look at?").
    """
    g = group_matrix(word_index)
    counts = g.sum(axis=1, keepdims=True)
    row_avg = g / counts  # (w, n)
    # Two matrix products (a three-operand einsum without path optimisation is O(w·n²·w) per head: seconds).
    merged = row_avg @ attn.astype(np.float64) @ g.T
    return merged.astype(attn.dtype, copy=False)


def merge_scores(scores: np.ndarray, word_index: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """Per-token scores to per-word scores (summed over a word's pieces): (..., n) -> (..., w)."""
    g = group_matrix(word_index)
    return np.asarray(scores, dtype=np.float64) @ g.T
