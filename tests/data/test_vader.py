"""VADER corpus parsing from a synthetic sdist with the real layout, and the sha256 pin of downloads."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
from conftest import add_bytes, make_vader_sdist

from attnflow_core.data import fetch
from attnflow_core.data.fetch import ChecksumMismatch, PinnedFile, fetch_pinned, verify_sha256
from attnflow_core.data.vader import VaderFormatError, load_vader, parse_ground_truth

MOVIE = (
    "1\t2.26666666667\tThe Rock is destined to be a  star.\r\n"
    "2\t-1.5\tEffective but too tepid biopic\r\n"
    "3\t0.0\tA snippet nobody felt anything about.\r\n"
    "4\t0.3\tNot bad at all."
)
TWEETS = "1\t1.2\tWe were 17 deep &amp; loving it\r\n2\t-0.4\tMeh."


def test_parse_ground_truth_labels_by_sign_and_drops_zero() -> None:
    rows = parse_ground_truth(MOVIE, "movie")
    assert [r["uid"] for r in rows] == ["vader-movie-1", "vader-movie-2", "vader-movie-4"]
    assert [r["label"] for r in rows] == ["positive", "negative", "positive"]
    assert rows[0]["sentence"] == "The Rock is destined to be a star."  # whitespace runs collapsed
    assert rows[1]["score"] == -1.5


def test_parse_ground_truth_rejects_malformed_lines() -> None:
    with pytest.raises(VaderFormatError, match="line 2: expected ID, rating and text"):
        parse_ground_truth("1\t0.5\tok\nbroken line", "movie")
    with pytest.raises(VaderFormatError, match="rating is not a number"):
        parse_ground_truth("1\tgood\ttext", "movie")


def test_load_vader_from_synthetic_sdist(tmp_path: Path) -> None:
    archive = make_vader_sdist(tmp_path / "vaderSentiment-3.3.2.tar.gz", {"movie": MOVIE, "tweets": TWEETS})
    ds = load_vader("movie", archive=archive)
    assert ds.column_names == ["uid", "sentence", "label", "score"]
    assert len(ds) == 3
    tweets = load_vader("tweets", archive=archive)
    assert tweets["sentence"][0] == "We were 17 deep & loving it"
    assert tweets["label"] == ["positive", "negative"]
    assert len(load_vader("nyt", archive=archive)) == 0


def test_load_vader_unknown_corpus_and_bad_archive(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="unknown VADER corpus 'imdb'; choose one of movie, amazon, nyt, tweets"
    ):
        load_vader("imdb", archive=tmp_path / "x.tar.gz")
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        add_bytes(tar, "something/else.txt", b"x")
    with pytest.raises(VaderFormatError, match="not a vaderSentiment 3.3.2 sdist: it lacks"):
        load_vader("movie", archive=bad)


def test_verify_sha256_mismatch_deletes_file(tmp_path: Path) -> None:
    f = tmp_path / "file.bin"
    f.write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match="expected 00+; the file was deleted"):
        verify_sha256(f, "0" * 64)
    assert not f.exists()


def test_fetch_pinned_downloads_verifies_and_caches(tmp_path: Path, isolated_cache: Path) -> None:
    src = tmp_path / "pkg-1.0.tar.gz"
    src.write_bytes(b"release bytes")
    good = hashlib.sha256(b"release bytes").hexdigest()
    pin = PinnedFile("pkg", "1.0", "pkg-1.0.tar.gz", src.as_uri(), good, 13)
    path = fetch_pinned(pin, use_pip=False)
    assert path.read_bytes() == b"release bytes"
    assert path.parent == isolated_cache / "downloads"
    src.unlink()  # the cached copy is used from now on
    assert fetch_pinned(pin, use_pip=False) == path


def test_fetch_pinned_sha_mismatch_raises_and_removes(tmp_path: Path) -> None:
    src = tmp_path / "pkg-1.0.tar.gz"
    src.write_bytes(b"not what was pinned")
    pin = PinnedFile("pkg", "1.0", "pkg-1.0.tar.gz", src.as_uri(), "a" * 64, 19)
    with pytest.raises(ChecksumMismatch, match=r"pkg-1\.0\.tar\.gz has sha256 [0-9a-f]{64}, expected a{64}"):
        fetch_pinned(pin, use_pip=False)
    assert not (fetch.downloads_dir() / "pkg-1.0.tar.gz").exists()


def test_fetch_pinned_unreachable_names_the_manual_fix(tmp_path: Path) -> None:
    pin = PinnedFile("pkg", "1.0", "pkg-1.0.tar.gz", (tmp_path / "missing").as_uri(), "a" * 64, 1)
    with pytest.raises(fetch.DownloadError, match=r"could not download pkg-1\.0\.tar\.gz .*place the file"):
        fetch_pinned(pin, use_pip=False)


LEXICON = "$:\t-1.5\t0.8\t[-1]\ngreat\t3.1\t0.5\t[3]\nok\t0.9\t0.5\t[1]\nterrible\t-2.1\t0.5\t[-2]\nNo\t-1.2\t0.1\t[-1]\n"


def test_sentiment_words_from_the_lexicon_of_an_sdist(tmp_path: Path) -> None:
    from attnflow_core.data.vader import (
        LEXICON_MEMBER,
        parse_lexicon,
        read_vader_lexicon,
        sentiment_words_text,
    )

    archive = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_bytes(tar, LEXICON_MEMBER, LEXICON.encode())
    lexicon = read_vader_lexicon(archive)
    assert lexicon == {"$:": -1.5, "great": 3.1, "ok": 0.9, "terrible": -2.1, "No": -1.2}
    words = [w for w in sentiment_words_text(lexicon).splitlines() if not w.startswith("#")]
    assert words == ["great", "terrible"]  # alphabetic, lower-case, |valence| >= 1
    with pytest.raises(VaderFormatError, match="lexicon line 2"):
        parse_lexicon("good\t1.9\nbroken")
    with pytest.raises(VaderFormatError, match="lacks"):
        read_vader_lexicon(make_vader_sdist(tmp_path / "other.tar.gz", {}))
