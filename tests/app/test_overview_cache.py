"""AppTest: a half-written Dataset overview cache entry (a crash or a full disk mid-write) is treated as missing,
removed and computed again, never a traceback on the page (embedded models, a few examples)."""

from __future__ import annotations

from pathlib import Path

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
