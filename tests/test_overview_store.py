"""``attnflow_core.overview_store``: a damaged cache entry is a miss (recomputed), and serialising round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnflow_core.overview_store import overview_bytes, read_cached


def test_missing_and_truncated_entries_are_misses(tmp_path: Path) -> None:
    """A cache file cut short (a crash or a full disk mid-write) must read as missing, not raise."""
    assert read_cached(tmp_path / "absent.json") is None
    cut = tmp_path / "cut.json"
    cut.write_text('{"task": "qa", "examples": [{"uid": "a"')
    assert read_cached(cut) is None
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    assert read_cached(empty) is None


def test_unknown_suffix_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"\.json"):
        overview_bytes(None, ".csv")  # type: ignore[arg-type]
