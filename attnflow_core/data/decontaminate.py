"""Drop training rows that contain an evaluation sentence, so accuracy on that evaluation set stays honest.

GLUE SST-2's sentences were cut from the same Rotten Tomatoes snippets as the VADER movie corpus, often as one
clause of a longer snippet and with Penn-Treebank tokenisation ("it 's", "do n't", "can not", "-lrb-"). The rule:
a training row is dropped when, for some evaluation sentence, the fraction of that sentence's distinct word tokens
found among the row's tokens is at least ``threshold``. Both sides are normalised the same way (lowercase, accents
stripped, PTB contractions re-joined, apostrophes removed, alphanumeric runs) so tokenisation differences vanish.

Choice of threshold, measured with SST-2 validation (872 sentences) against ``load_vader("movie")`` (10,568
snippets with a non-zero rating): 871 sentences are found whole (overlap 1.0) in some snippet; the 872nd comes from
a snippet rated exactly 0, which ``load_vader`` already excludes. Per snippet, the best overlap with any sentence
splits cleanly: 1,047 snippets reach 1.0 (the true sources), none lie in [0.9, 1.0), 17 in [0.8, 0.9) and 257 in
[0.7, 0.8) -- chance overlaps with short sentences ("but it could have been worse ." against "... but it could
have been more."). Lower down, matches are dominated by 2-4 word sentences made of common words: at 0.5 the rule
drops 5,904 snippets (56% of the corpus), since any snippet holding "this", "movie" and "is" already contains most
of "this movie is maddening .". ``DECONTAMINATION_THRESHOLD = 0.8`` drops 1,064 snippets: every true source, plus margin
for a source reworded by up to a fifth of its words, while keeping 9,504 snippets for training.

Matching is done with an inverted index (token -> row ids) and ``numpy.bincount``, so the 872 x 10,605
comparison takes well under a second.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import datasets
import numpy as np

from attnflow_core.data.errors import DataError

#: Fraction of an evaluation sentence's distinct words a training row must contain to be dropped (see above).
DECONTAMINATION_THRESHOLD = 0.8

_PTB_CLITIC = re.compile(r"(\w) (n't|'s|'re|'ve|'ll|'d|'m)\b")
_PTB_BRACKET = re.compile(r"-[lr][rcs]b-")
_CANNOT = re.compile(r"\bcannot\b")
_GONNA = re.compile(r"\b(gon|wan) na\b")
_INNER_APOSTROPHE = re.compile(r"(\w)['\u2019](\w)")
_WORD = re.compile(r"[a-z0-9]+")


def word_tokens(text: str) -> list[str]:
    """Lowercase alphanumeric word tokens, with tokenisation differences normalised away.

    "do n't" and "don't" both give ``["dont"]``; "it 's" and "it's" give ``["its"]``; "cannot" and "can not" give
    ``["can", "not"]``; PTB brackets ("-lrb-") and quotes vanish; accented letters lose their accents.
    """
    s = unicodedata.normalize("NFKD", text)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower().replace("\u2019", "'")
    s = _PTB_BRACKET.sub(" ", s)
    s = _PTB_CLITIC.sub(r"\1\2", s)
    s = _GONNA.sub(r"\1na", s)
    s = _CANNOT.sub("can not", s)
    s = _INNER_APOSTROPHE.sub(r"\1\2", s)
    return _WORD.findall(s)


@dataclass(frozen=True)
class DecontaminationReport:
    """What ``decontaminate`` removed, for the model card: counts, the rule's threshold and the dropped uids."""

    threshold: float
    rows_before: int
    rows_dropped: int
    rows_after: int
    eval_sentences: int
    eval_sentences_matched: int
    eval_sentences_empty: int
    dropped_uids: tuple[str, ...]

    def summary(self) -> str:
        """One line for logs and model cards."""
        return (
            f"word overlap >= {self.threshold:g}: dropped {self.rows_dropped} of "
            f"{self.rows_before} training rows ({self.rows_after} kept); {self.eval_sentences_matched} of "
            f"{self.eval_sentences} evaluation sentences matched at least one training row"
        )


def contaminated_rows(
    train_texts: Sequence[str], eval_sentences: Iterable[str], threshold: float = DECONTAMINATION_THRESHOLD
) -> tuple[np.ndarray, int, int]:
    """Boolean mask of contaminated training texts, the number of evaluation sentences that matched, and of empty ones.

    Empty evaluation sentences (no word tokens) are ignored and counted separately.
    """
    if not 0.0 < threshold <= 1.0:
        raise DataError(
            f"threshold must be in (0, 1], the fraction of an evaluation sentence's words; got {threshold}"
        )
    n = len(train_texts)
    postings: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(train_texts):
        for tok in set(word_tokens(text)):
            postings[tok].append(i)
    index = {tok: np.asarray(ids, dtype=np.int64) for tok, ids in postings.items()}
    mask = np.zeros(n, dtype=bool)
    matched = empty = 0
    for sentence in eval_sentences:
        toks = set(word_tokens(sentence))
        if not toks:
            empty += 1
            continue
        hits = [index[t] for t in toks if t in index]
        if not hits or n == 0:
            continue
        counts = np.bincount(np.concatenate(hits), minlength=n)
        # Integer comparison avoids float rounding at the boundary: hits / |toks| >= threshold.
        needed = int(np.ceil(threshold * len(toks) - 1e-9))
        row_hits = counts >= needed
        if row_hits.any():
            matched += 1
            mask |= row_hits
    return mask, matched, empty


def decontaminate(
    ds: datasets.Dataset,
    eval_sentences: list[str],
    threshold: float = DECONTAMINATION_THRESHOLD,
    text_column: str = "sentence",
) -> tuple[datasets.Dataset, DecontaminationReport]:
    """``ds`` without every row whose ``text_column`` contains at least ``threshold`` of an evaluation sentence's
    distinct words, and a report of what was dropped (see the module docstring for the rule and the threshold).
    """
    if text_column not in ds.column_names:
        raise DataError(
            f"text_column {text_column!r} is not a column of the dataset; use one of {', '.join(ds.column_names)}"
        )
    if isinstance(eval_sentences, str):
        raise DataError(
            f"eval_sentences must be a list of sentences, not one string; got {eval_sentences[:40]!r}"
        )
    texts = [str(t) if t is not None else "" for t in ds[text_column]]
    mask, matched, empty = contaminated_rows(texts, eval_sentences, threshold)
    dropped = np.flatnonzero(mask)
    kept = np.flatnonzero(~mask)
    uids: tuple[str, ...] = ()
    if "uid" in ds.column_names and len(dropped):
        all_uids = ds["uid"]
        uids = tuple(str(all_uids[i]) for i in dropped)
    report = DecontaminationReport(
        threshold=threshold,
        rows_before=len(ds),
        rows_dropped=int(len(dropped)),
        rows_after=int(len(kept)),
        eval_sentences=len(eval_sentences),
        eval_sentences_matched=matched,
        eval_sentences_empty=empty,
        dropped_uids=uids,
    )
    return ds.select(kept.tolist()), report
