"""The VADER human-rated sentiment corpora (Hutto & Gilbert, ICWSM 2014), fetched from the vaderSentiment sdist.

The ``vaderSentiment==3.3.2`` source distribution on PyPI carries ``additional_resources/hutto_ICWSM_2014.tar.gz``,
whose ``*_GroundTruth.txt`` files hold sentence-level snippets with the mean rating of 20 human raters (-4..+4):
movie reviews (10,605 Rotten Tomatoes snippets), Amazon reviews (3,708), New York Times editorials (5,190) and
tweets (4,200). The sign of the mean rating is the binary label; snippets rated exactly 0 are dropped because
they have no polarity. The movie snippets overlap GLUE SST-2 (same source): use ``decontaminate`` before training
on them and evaluating on SST-2.

The same sdist carries VADER's sentiment lexicon (``vader_lexicon.txt``: token, mean valence -4..+4, its standard
deviation and the ten raters' scores). ``sentiment_words()`` reads the word list the package ships, made from it by
``sentiment_words_text`` (the lower-case alphabetic tokens with |mean valence| >= ``SENTIMENT_VALENCE``), so it
works offline; the trajectory's SST-2 focus tokens are these words.
"""

from __future__ import annotations

import html
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import datasets

from attnflow_core.data.errors import DataError
from attnflow_core.data.fetch import PinnedFile, fetch_pinned
from attnflow_core.paths import cache_dir

VADER_PIN = PinnedFile(
    package="vaderSentiment",
    version="3.3.2",
    filename="vaderSentiment-3.3.2.tar.gz",
    url=(
        "https://files.pythonhosted.org/packages/77/8c/4a48c10a50f750ae565e341e697d74a38075a3e43ff0df6f1ab72e186902/"
        "vaderSentiment-3.3.2.tar.gz"
    ),
    sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    size=2_466_783,
)

#: Path of the ratings archive inside the sdist, and of each corpus's ground-truth file inside that archive.
INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
CORPUS_FILES: dict[str, str] = {
    "movie": "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
    "amazon": "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
    "nyt": "hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt",
    "tweets": "hutto_ICWSM_2014/tweets_GroundTruth.txt",
}
CORPUS_TITLES: dict[str, str] = {
    "movie": "movie-review snippets (Rotten Tomatoes)",
    "amazon": "Amazon product-review snippets",
    "nyt": "New York Times editorial snippets",
    "tweets": "tweets",
}
#: Rows in each ground-truth file (before dropping the snippets rated exactly 0).
CORPUS_SIZES: dict[str, int] = {"movie": 10_605, "amazon": 3_708, "nyt": 5_190, "tweets": 4_200}
LICENSE = "MIT (vaderSentiment); snippets from Pang & Lee 2004, Hu & Liu 2004, NYT, Twitter — research use"

_FEATURES = datasets.Features(
    {
        "uid": datasets.Value("string"),
        "sentence": datasets.Value("string"),
        "label": datasets.Value("string"),
        "score": datasets.Value("float64"),
    }
)


class VaderFormatError(DataError):
    """The archive does not have the layout or the tab-separated format of vaderSentiment 3.3.2."""


def check_corpus(corpus: str) -> str:
    """``corpus`` if it names a VADER corpus; a DataError lists the valid ones otherwise."""
    if corpus not in CORPUS_FILES:
        raise DataError(f"unknown VADER corpus {corpus!r}; choose one of {', '.join(CORPUS_FILES)}")
    return corpus


def parse_ground_truth(text: str, corpus: str) -> list[dict[str, Any]]:
    """Rows (uid, sentence, label, score) of one ``*_GroundTruth.txt`` (``ID<TAB>MEAN-RATING<TAB>TEXT``).

    Whitespace runs are collapsed and HTML entities (``&amp;`` in tweets) unescaped; rows rated exactly 0 are
    dropped (no polarity). Malformed lines raise ``VaderFormatError`` with their line number.
    """
    rows: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise VaderFormatError(
                f"{corpus} line {lineno}: expected ID, rating and text separated by tabs; got {line!r}"
            )
        uid, raw_score, snippet = parts
        try:
            score = float(raw_score)
        except ValueError:
            raise VaderFormatError(
                f"{corpus} line {lineno}: the rating is not a number; got {raw_score!r}"
            ) from None
        sentence = " ".join(html.unescape(snippet).split())
        if score == 0 or not sentence:
            continue
        label = "positive" if score > 0 else "negative"
        rows.append(
            {"uid": f"vader-{corpus}-{uid.strip()}", "sentence": sentence, "label": label, "score": score}
        )
    return rows


def read_vader_archive(archive: Path | str) -> dict[str, list[dict[str, Any]]]:
    """Rows of every corpus, read from a vaderSentiment 3.3.2 sdist (the outer .tar.gz) without unpacking it."""
    try:
        with tarfile.open(archive, "r:gz") as outer:
            member = outer.extractfile(INNER_ARCHIVE)
            if member is None:
                raise KeyError(INNER_ARCHIVE)
            inner_bytes = member.read()
        corpora: dict[str, list[dict[str, Any]]] = {}
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
            for corpus, name in CORPUS_FILES.items():
                fh = inner.extractfile(name)
                if fh is None:
                    raise KeyError(name)
                corpora[corpus] = parse_ground_truth(fh.read().decode("utf-8"), corpus)
    except KeyError as exc:
        raise VaderFormatError(
            f"{archive} is not a vaderSentiment 3.3.2 sdist: it lacks {exc.args[0]}"
        ) from None
    except (tarfile.TarError, OSError, UnicodeDecodeError) as exc:
        raise VaderFormatError(f"cannot read {archive} as a vaderSentiment 3.3.2 sdist: {exc}") from exc
    return corpora


#: Path of the sentiment lexicon inside the sdist.
LEXICON_MEMBER = "vaderSentiment-3.3.2/vaderSentiment/vader_lexicon.txt"
#: The |mean valence| (VADER's -4..+4 scale) from which a lexicon word counts as a sentiment word.
SENTIMENT_VALENCE = 1.0
#: The word list shipped with the package (``sentiment_words_text`` of the pinned sdist's lexicon).
SENTIMENT_WORDS_FILE = Path(__file__).resolve().parent / "vader_sentiment_words.txt"


def parse_lexicon(text: str) -> dict[str, float]:
    """token -> mean valence from ``vader_lexicon.txt`` (``TOKEN<TAB>MEAN<TAB>SD<TAB>RATINGS`` per line);
    VaderFormatError naming the line when one is malformed."""
    out: dict[str, float] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            out[parts[0]] = float(parts[1])
        except (IndexError, ValueError):
            raise VaderFormatError(
                f"lexicon line {lineno}: expected TOKEN<TAB>MEAN-VALENCE...; got {line!r}"
            ) from None
    return out


def read_vader_lexicon(archive: Path | str) -> dict[str, float]:
    """The lexicon (token -> mean valence) of a vaderSentiment 3.3.2 sdist, read without unpacking it."""
    try:
        with tarfile.open(archive, "r:gz") as outer:
            member = outer.extractfile(LEXICON_MEMBER)
            if member is None:
                raise KeyError(LEXICON_MEMBER)
            return parse_lexicon(member.read().decode("utf-8"))
    except KeyError as exc:
        raise VaderFormatError(
            f"{archive} is not a vaderSentiment 3.3.2 sdist: it lacks {exc.args[0]}"
        ) from None
    except (tarfile.TarError, OSError, UnicodeDecodeError) as exc:
        raise VaderFormatError(f"cannot read {archive} as a vaderSentiment 3.3.2 sdist: {exc}") from exc


def sentiment_words_text(lexicon: dict[str, float], min_valence: float = SENTIMENT_VALENCE) -> str:
    """The shipped word list's text: a comment header, then the lower-case alphabetic tokens of ``lexicon`` with
    |mean valence| >= ``min_valence``, sorted, one a line. Regenerate the file with
    ``SENTIMENT_WORDS_FILE.write_text(sentiment_words_text(read_vader_lexicon(fetch_pinned(VADER_PIN))))``."""
    words = sorted(
        w for w, v in lexicon.items() if w.isascii() and w.isalpha() and w.islower() and abs(v) >= min_valence
    )
    header = [
        f"# Sentiment words of the VADER lexicon (Hutto & Gilbert 2014; {VADER_PIN.requirement}, MIT licence):",
        f"# the lower-case alphabetic tokens of vader_lexicon.txt with |mean valence| >= {min_valence}.",
        "# Made by attnflow_core.data.vader.sentiment_words_text; one word a line.",
    ]
    return "\n".join([*header, *words]) + "\n"


def sentiment_words() -> frozenset[str]:
    """The sentiment words the package ships (``SENTIMENT_WORDS_FILE``; offline, no download)."""
    lines = SENTIMENT_WORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def _extracted_dir() -> Path:
    return cache_dir("corpora", f"vader-{VADER_PIN.version}")


def _cached_rows(corpus: str) -> list[dict[str, Any]]:
    """Rows of ``corpus`` from the extracted cache, filling it (download, verify, parse) on first use."""
    folder = _extracted_dir()
    path = folder / f"{corpus}.jsonl"
    if not path.exists():
        corpora = read_vader_archive(fetch_pinned(VADER_PIN))
        for name, rows in corpora.items():
            tmp = folder / f"{name}.jsonl.part"
            with open(tmp, "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            tmp.replace(folder / f"{name}.jsonl")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_vader(corpus: str = "movie", archive: Path | str | None = None) -> datasets.Dataset:
    """One VADER corpus as a Dataset with columns uid, sentence, label ("negative"/"positive") and score.

    Without ``archive`` the pinned sdist is downloaded once (sha256-checked) and its corpora cached as JSONL under
    the project cache; with ``archive`` (a local sdist, e.g. in tests) that file is parsed directly and nothing
    is cached.
    """
    check_corpus(corpus)
    rows = read_vader_archive(archive)[corpus] if archive is not None else _cached_rows(corpus)
    columns = {key: [row[key] for row in rows] for key in _FEATURES}
    return datasets.Dataset.from_dict(columns, features=_FEATURES)
