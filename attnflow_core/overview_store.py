"""Computing-or-loading a dataset overview and serialising it: the overview's disk cache, without Streamlit.

Moved out of the pages so that the app and notebooks share it. A cache entry that cannot be read (cut short by a
crash or a full disk) counts as missing: it is recomputed, never shown as an error.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from attnflow_core.overview import Overview, load_overview, save_overview

LOG = logging.getLogger(__name__)
SUFFIXES = (".json", ".parquet")


def read_cached(path: str | Path) -> Overview | None:
    """The overview stored at ``path``; None when there is none or it cannot be read (then it is recomputed)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return load_overview(path)
    except Exception:  # noqa: BLE001 - a damaged cache entry is a miss, logged for the operator
        LOG.warning("unreadable overview cache entry %s: recomputing it", path, exc_info=True)
        return None


def overview_bytes(ov: Overview, suffix: str) -> bytes:
    """The overview serialised as a file (``.json`` or ``.parquet``), the same bytes ``save_overview`` writes."""
    if suffix not in SUFFIXES:
        raise ValueError(f"unknown overview file type {suffix!r}; choose one of {SUFFIXES}")
    with tempfile.TemporaryDirectory() as tmp:
        return save_overview(ov, Path(tmp) / f"overview{suffix}").read_bytes()
