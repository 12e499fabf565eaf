"""Computing-or-loading a dataset overview and serialising it: the overview's disk cache, without Streamlit.

Moved out of the pages so that the app and notebooks share it. A cache entry that cannot be read (cut short by a
crash or a full disk) counts as missing: it is recomputed, never shown as an error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from attnflow_core.overview import (
    OVERVIEW_SUFFIXES,
    Overview,
    OverviewFileError,
    read_cached_overview,
    save_overview,
)

__all__ = ["overview_bytes", "read_cached"]

#: The disk cache's reader: a missing or unreadable entry reads as None (one definition, in ``overview``).
read_cached = read_cached_overview


def overview_bytes(ov: Overview, suffix: str) -> bytes:
    """The overview serialised as a file (``.json`` or ``.parquet``), the same bytes ``save_overview`` writes."""
    if suffix not in OVERVIEW_SUFFIXES:
        raise OverviewFileError(f"unknown overview file type {suffix!r}; choose one of {OVERVIEW_SUFFIXES}")
    with tempfile.TemporaryDirectory() as tmp:
        return save_overview(ov, Path(tmp) / f"overview{suffix}").read_bytes()
