"""The app's device choice (ATTNFLOW_DEVICE) is shown on the About page, and a wrong one is a message."""

from __future__ import annotations

import pytest
import torch
from test_pages import open_page

from attnflow_core.device import ENV_VAR


def _about_text(monkeypatch: pytest.MonkeyPatch, value: str | None) -> str:
    if value is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, value)
    at = open_page("pages/about.py")
    return " ".join(m.value for m in at.markdown)


def test_about_page_shows_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _about_text(monkeypatch, None)
    assert "The models run on **cpu**" in text and f"`{ENV_VAR}=cpu`" in text
    text = _about_text(monkeypatch, "auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"The models run on **{expected}" in text and f"`{ENV_VAR}=auto`" in text


def test_about_page_names_a_wrong_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _about_text(monkeypatch, "gpu")
    assert "device setting is wrong" in text and "auto, cpu, cuda" in text
