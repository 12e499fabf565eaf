"""AppTest: the Examples page's uploader shows the limit the file reader applies (one constant)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from attnflow_core.data.files import MAX_UPLOAD_MB

ROOT = Path(__file__).resolve().parents[2]


def test_the_uploader_shows_the_readers_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["task"] = "sentiment"
    at.query_params["source"] = "file"
    at.switch_page("pages/examples.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (uploader,) = at.get("file_uploader")
    assert uploader.proto.max_upload_size_mb == MAX_UPLOAD_MB
