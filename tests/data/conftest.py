"""Fixtures shared by the data tests: an isolated cache folder, the shared GLUE samples, synthetic archives."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the project cache at a fresh folder so tests never read or write the user's cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ATTNFLOW_CACHE", str(cache))
    return cache


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add an in-memory file to a tar archive."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


VADER_FILES = {
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}


def make_vader_sdist(path: Path, contents: dict[str, str]) -> Path:
    """A tar.gz with the vaderSentiment 3.3.2 sdist layout (outer sdist -> inner ratings tar.gz -> files)."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        for corpus, fname in VADER_FILES.items():
            add_bytes(tar, f"hutto_ICWSM_2014/{fname}", contents.get(corpus, "").encode("utf-8"))
    with tarfile.open(path, "w:gz") as tar:
        add_bytes(tar, "vaderSentiment-3.3.2/setup.py", b"")
        add_bytes(tar, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz", inner.getvalue())
    return path
