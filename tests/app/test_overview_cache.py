"""AppTest: a half-written Dataset overview cache entry (a crash or a full disk mid-write) is treated as missing,
removed and computed again, never a traceback on the page (embedded models, a few examples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def overview_page(n: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["task"] = "sentiment"
    at.switch_page("pages/overview.py")
    at.run()
    at.number_input(key="ov_n").set_value(n).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_truncated_cache_entry_is_recomputed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path))
    at = overview_page(3)
    at.button(key="ov_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (entry,) = (tmp_path / "overview").glob("*.json")
    assert not list((tmp_path / "overview").glob(".*.tmp"))  # the atomic write left no temporary behind
    entry.write_bytes(entry.read_bytes()[:100])  # cut short, as a full disk would

    at = overview_page(3)
    assert not at.exception and not at.error, [e.message for e in at.exception] + [e.value for e in at.error]
    assert not entry.exists()  # removed: this visit offers to compute it again
    assert any(b.label == "Compute" for b in at.button)
    at.button(key="ov_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert entry.exists() and any(m.label == "Examples" and m.value == "3" for m in at.metric)


def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path))


def _computed(tmp_path: Path, n: int) -> tuple[AppTest, Path]:
    """The overview page after Compute over ``n`` demo examples, and its cache entry."""
    at = overview_page(n)
    at.button(key="ov_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (entry,) = (tmp_path / "overview").glob("*.json")
    return at, entry


def _fine(at: AppTest) -> None:
    assert not at.exception and not at.error, [e.message for e in at.exception] + [e.value for e in at.error]


def test_a_folder_where_the_cache_entry_belongs_does_not_break_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 item 11: a folder at ``<cache>/overview/<key>.json/`` made the page apologise on every visit. Now
    the page offers Compute, stores the overview beside the folder (which it leaves alone), and shows it again on
    the next visit."""
    _offline(tmp_path, monkeypatch)
    _, entry = _computed(tmp_path, 3)
    entry.unlink()
    (entry / "someone's file").mkdir(parents=True)
    at = overview_page(3)
    _fine(at)
    assert any(b.label == "Compute" for b in at.button)
    at.button(key="ov_run").click().run()
    _fine(at)
    assert any(m.label == "Examples" and m.value == "3" for m in at.metric)
    assert (entry / "someone's file").is_dir()
    at = overview_page(3)  # the next visit: shown from the spare entry, nothing to compute
    _fine(at)
    assert any(m.label == "Examples" and m.value == "3" for m in at.metric)
    assert not any(b.label == "Compute" for b in at.button)


def test_a_large_overview_sends_one_page_of_its_ranking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 item 10: the ranked table of an overview of many examples is sent a page at a time (a million
    examples made Streamlit refuse a 1,580 MB message); the page input walks the ranking."""
    from hand_overview import hand_made

    from attnflow_core.browse import PAGE_SIZE
    from attnflow_core.overview import save_overview

    _offline(tmp_path, monkeypatch)
    _, entry = _computed(tmp_path, 3)
    big = hand_made(5_000)
    save_overview(big, entry)  # the same entry, now 5,000 examples
    at = overview_page(3)
    _fine(at)
    assert any(m.label == "Examples" and m.value == "5000" for m in at.metric)
    (table,) = [d for d in at.dataframe if "shift" in d.value.columns]
    assert len(table.value) == PAGE_SIZE
    top = big.examples["shift"].sort_values(ascending=False).to_numpy()
    np.testing.assert_allclose(table.value["shift"], top[:PAGE_SIZE], atol=1e-9)  # JSON keeps 10 digits
    at.number_input(key="ov_page").set_value(250).run()
    _fine(at)
    (table,) = [d for d in at.dataframe if "shift" in d.value.columns]
    np.testing.assert_allclose(table.value["shift"], top[-PAGE_SIZE:], atol=1e-9)


def test_turning_on_head_importance_keeps_the_overview_in_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 item 8: turning on "Also head importance" used to clear the overview until Compute was pressed; the
    overview without importance stays, with Compute offered to add the map."""
    _offline(tmp_path, monkeypatch)
    at, _ = _computed(tmp_path, 3)
    at.toggle(key="ov_importance").set_value(True).run()
    _fine(at)
    assert any(m.label == "Examples" and m.value == "3" for m in at.metric)
    assert any("without head importance" in i.value for i in at.info)
    at.button(key="ov_run").click().run()
    _fine(at)
    assert any("Head change vs head importance" in h.value for h in at.subheader)
    assert not any("without head importance" in i.value for i in at.info)
