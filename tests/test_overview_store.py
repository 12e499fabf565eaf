"""``attnflow_core.overview_store``: a damaged cache entry is a miss (recomputed), and serialising round-trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_one_overview_at_a_time_on_one_thread() -> None:
    """A second computation waits for the first (and says so once); the caller's torch thread count comes back."""
    import threading

    import torch

    from attnflow_core.overview_store import overview_turn

    before = torch.get_num_threads()
    order: list[str] = []
    waited: list[str] = []
    inside, release, waiting = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with overview_turn():
            order.append("first in")
            assert torch.get_num_threads() == 1
            inside.set()
            release.wait(10)
            order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    inside.wait(10)
    second = threading.Thread(target=lambda: _second(order, waited, waiting))
    second.start()
    assert waiting.wait(10)  # the second computation is waiting for the slot
    release.set()
    t.join(10)
    second.join(10)
    assert order == ["first in", "first out", "second in"] and waited == ["waited"]
    assert torch.get_num_threads() == before


def _second(order: list[str], waited: list[str], waiting: Any) -> None:
    from attnflow_core.overview_store import overview_turn

    def wait() -> None:
        waited.append("waited")
        waiting.set()

    with overview_turn(wait):
        order.append("second in")


def test_compute_and_store_writes_the_requests_cache_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attnflow_core.data.sources import Example
    from attnflow_core.models import load_pair
    from attnflow_core.overview import OverviewSettings
    from attnflow_core.overview_store import OverviewRequest, compute_and_store
    from tiny import make_tiny_bert_dir

    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path / "cache"))
    base = make_tiny_bert_dir(tmp_path / "base", with_head=False, seed=0)
    tuned = make_tiny_bert_dir(tmp_path / "tuned", with_head=True, seed=1)
    request = OverviewRequest(
        str(base), str(tuned), None, "sentiment", "demo", "", OverviewSettings(n=2, measure="attention")
    )
    assert read_cached(request.path()) is None
    examples = [Example("a", "good movie", None, "positive"), Example("b", "bad film", None, "negative")]
    ov = compute_and_store(request, load_pair(str(base), str(tuned)), examples)
    again = read_cached(request.path())
    assert again is not None and again.n_examples == ov.n_examples == 2
    assert again.examples["uid"].tolist() == ["a", "b"]


def test_a_folder_where_a_cache_entry_belongs_is_stepped_around(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 19 item 11: ``<cache>/overview/<key>.json/`` as a folder made the page apologise on every visit. The
    entry is now read as missing and stored under a spare name beside it (logged once, with what to remove); when
    every name is taken, the error names them."""
    from hand_overview import hand_made

    from attnflow_core.overview import OverviewFileError, cached_path, save_overview
    from attnflow_core.overview_store import SPARE_ENTRIES, entry_path

    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path))
    key = "0123456789abcdef01234567"
    first = cached_path(key)
    assert entry_path(key) == first
    (first / "inside").mkdir(parents=True)  # a folder, not empty, where the entry belongs
    assert read_cached(first) is None and first.is_dir()  # a miss, and nothing of the folder is removed
    with caplog.at_level("WARNING", logger="attnflow_core.overview_store"):
        spare = entry_path(key)
        assert entry_path(key) == spare  # the next visit finds the same place
    assert spare != first and spare.parent == first.parent and not spare.exists()
    assert caplog.text.count(f"rm -r '{first}'") == 1  # what to remove, said once
    save_overview(hand_made(), spare)
    back = read_cached(entry_path(key))
    assert back is not None and back.n_examples == 3
    for i in range(1, SPARE_ENTRIES + 1):
        first.with_name(f"{key}.{i}.json").unlink(missing_ok=True)
        first.with_name(f"{key}.{i}.json").mkdir()
    with pytest.raises(OverviewFileError, match=rf"{key}\.json, .*{key}\.1\.json.* remove them \(rm -r\)"):
        entry_path(key)


def test_an_overview_without_importance_stands_in_for_one_with_it() -> None:
    """Issue 19 item 8: turning head importance on keeps the overview computed without it in view."""
    from attnflow_core.overview import OverviewSettings
    from attnflow_core.overview_store import OverviewRequest

    request = OverviewRequest("b", "t", None, "qa", "demo", "", OverviewSettings(n=5, importance=True))
    (other,) = request.stand_ins()
    assert other.settings == OverviewSettings(n=5, importance=False)
    assert (other.base, other.tuned, other.task, other.source) == ("b", "t", "qa", "demo")
    assert other.stand_ins()[0] == request
