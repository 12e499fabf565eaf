"""Computing-or-loading a dataset overview, without Streamlit: the disk cache, the server's one-at-a-time policy,
and serialising an overview for download.

A request (``OverviewRequest``: the models, the data and the settings) names its cache entry. ``read_cached`` reads
an entry (one that cannot be read — cut short by a crash or a full disk — counts as missing: it is recomputed, never
shown as an error); ``compute_and_store`` computes one in this process's overview slot (one overview at a time, on
one CPU thread, so interactive sessions of the same server stay responsive) and writes it to the cache. An entry
whose name is taken by something that is not a file (a folder made there) is stored under a spare name beside it
(``entry_path``), and the log says what to remove.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from attnflow_core.overview import (
    OVERVIEW_SUFFIXES,
    Overview,
    OverviewFileError,
    OverviewSettings,
    cache_key,
    cached_path,
    compute_overview,
    read_cached_overview,
    save_overview,
)

__all__ = [
    "OverviewRequest",
    "compute_and_store",
    "entry_path",
    "overview_bytes",
    "overview_turn",
    "read_cached",
]

_LOG = logging.getLogger(__name__)
#: Spare names an entry may take (``<key>.1.json`` …) when its own is taken by a folder or another non-file.
SPARE_ENTRIES = 2
_REPORTED: set[Path] = set()  # blocked entry names already logged (once per process, not on every visit)


def read_cached(path: str | Path) -> Overview | None:
    """The cache entry at ``path``; None when it is missing, unreadable (``overview.read_cached_overview`` removes
    it) or not a file at all (a folder is left alone: ``entry_path`` stores the overview beside it)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        return None
    return read_cached_overview(path)


def entry_path(key: str) -> Path:
    """Where the cache entry ``key`` lives: ``overview.cached_path(key)``, or the first spare name beside it when
    that name is taken by something that is not a file (logged once, with the command that removes it); an
    OverviewFileError naming what to remove when every name is taken."""
    first = cached_path(key)
    names = [first, *(first.with_name(f"{key}.{i}.json") for i in range(1, SPARE_ENTRIES + 1))]
    for path in names:
        if not path.exists() or path.is_file():
            for blocked in names[: names.index(path)]:
                if blocked not in _REPORTED:
                    _REPORTED.add(blocked)
                    _LOG.warning(
                        "overview cache entry %s is not a file; using %s instead (remove it: rm -r '%s')",
                        blocked,
                        path,
                        blocked,
                    )
            return path
    raise OverviewFileError(
        "the Dataset overview cannot be cached: "
        + ", ".join(str(p) for p in names)
        + " are folders or other non-files where its cache files belong; remove them (rm -r) and press Compute "
        "again"
    )


#: One overview computation at a time in this process (every session of a Streamlit server shares it).
_SLOT = threading.Semaphore(1)


@contextmanager
def overview_turn(wait: Callable[[], Any] | None = None, threads: int = 1) -> Iterator[None]:
    """Hold this process's overview slot, computing on ``threads`` CPU threads meanwhile.

    ``wait`` is called (to say so) when another computation holds the slot. ``torch.set_num_threads`` applies to the
    calling thread (and threads started after it), so the previous value is restored afterwards.
    """
    import torch

    if not _SLOT.acquire(blocking=False):
        if wait is not None:
            wait()
        _SLOT.acquire()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(before)
        _SLOT.release()


@dataclass(frozen=True)
class OverviewRequest:
    """An overview to compute or load: the pair's references and the tuned model's label names, the task, the data
    source and split, and the settings."""

    base: str
    tuned: str
    labels: tuple[str, ...] | None
    task: str
    source: str
    split: str
    settings: OverviewSettings

    def path(self) -> Path:
        """The cache entry (``overview.cache_key``: the models' fingerprints, labels, data and settings; a spare
        name when that one is blocked, ``entry_path``)."""
        key = cache_key(self.base, self.tuned, self.task, self.source, self.split, self.settings, self.labels)
        return entry_path(key)

    def stand_ins(self) -> tuple[OverviewRequest, ...]:
        """Requests whose cached overview may be shown while this one is not computed: the same overview with head
        importance toggled (the statistics are the same; only the importance map differs), so turning importance on
        keeps the overview in view until Compute adds the map."""
        other = replace(self.settings, importance=not self.settings.importance)
        return (replace(self, settings=other),)


def compute_and_store(
    request: OverviewRequest,
    pair: Any,
    examples: Sequence[Any],
    progress: Callable[[float, str], None] | None = None,
    wait: Callable[[], Any] | None = None,
) -> Overview:
    """Compute the overview of ``request`` (``pair``: its loaded models; ``examples``: its data) in this process's
    overview slot, write it to the cache entry and return it."""
    with overview_turn(wait):
        ov = compute_overview(
            pair, examples, request.task, request.settings, request.source, request.split, progress=progress
        )
    save_overview(ov, request.path())
    return ov


def overview_bytes(ov: Overview, suffix: str) -> bytes:
    """The overview serialised as a file (``.json`` or ``.parquet``), the same bytes ``save_overview`` writes."""
    if suffix not in OVERVIEW_SUFFIXES:
        raise OverviewFileError(f"unknown overview file type {suffix!r}; choose one of {OVERVIEW_SUFFIXES}")
    with tempfile.TemporaryDirectory() as tmp:
        return save_overview(ov, Path(tmp) / f"overview{suffix}").read_bytes()
