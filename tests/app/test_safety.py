"""Hostile links (issue 12): every query value is parsed defensively, texts are shown literally, and a link cannot
make the server load a model it does not offer."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from attnflow_core.models import EMBEDDED_BASE, embedded_adapter_dir
from attnflow_core.urlstate import URL_PARAMS
from pages.ui.boundary import WORD_JOINER, md_escape
from tests.app.test_pages import app

PAGES = ("pages/examples.py", "pages/flow.py", "pages/heads.py", "pages/overview.py", "pages/trajectory.py")
PARAMS = sorted({p.param for p in URL_PARAMS} | {"special"})
HOSTILE = [
    "--1",
    "1,²",
    "nan",
    "inf",
    "-1e999",
    "9" * 60,
    "x" * 3_000,
    "<script>alert(1)</script>",
    "%00\x00",
]
PHISH = "![x](http://127.0.0.1:9/t.png) [phish](http://127.0.0.1:9/login)"


@pytest.fixture(autouse=True)
def _offline(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path_factory.getbasetemp() / "attnflow-cache"))


def run_page(page: str, params: dict[str, str]) -> AppTest:
    at = app()
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page)
    at.run()
    return at


def texts(at: AppTest) -> list[str]:
    """Every Markdown-rendered text on the page: markdown, captions, titles, alerts, metrics."""
    found: list[Any] = [
        *at.markdown,
        *at.caption,
        *at.title,
        *at.subheader,
        *at.warning,
        *at.info,
        *at.error,
        *at.success,
    ]
    out = [str(e.value) for e in found]
    out += [f"{m.label} {m.value}" for m in at.metric]
    return out


def assert_no_bug(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    bugs = [e.value for e in at.error if "Something went wrong" in str(e.value)]
    assert not bugs, bugs


@pytest.mark.parametrize("page", PAGES)
def test_hostile_values_in_every_query_key_never_show_a_traceback(page: str) -> None:
    """Each hostile value in every URL key at once, then the issue's own examples, on every page with a sidebar."""
    for value in HOSTILE:
        at = run_page(page, dict.fromkeys(PARAMS, value))
        assert_no_bug(at)
    for params in ({"heads": "--1"}, {"heads": "1,²"}, {"src": "nan"}, {"tau": "inf"}, {"layers": "3-1"}):
        at = run_page(page, params)
        assert_no_bug(at)
        assert not at.error, [e.value for e in at.error]
        (key,) = params
        assert any(f"`{key}`" in c.value for c in at.caption), (params, "no notice")


def test_a_100k_example_id_answers_quickly_with_a_notice() -> None:
    start = time.perf_counter()
    at = run_page("pages/flow.py", {"ex": "x" * 100_000})
    seconds = time.perf_counter() - start
    assert_no_bug(at)
    assert any("`ex`" in c.value and "longer than" in c.value for c in at.caption), "no notice"
    assert seconds < 30, seconds  # a warm server answers in ~2 s; AppTest's first run loads the models too


def test_markdown_in_a_linked_text_is_shown_literally() -> None:
    """The issue's link: the image and the link must stay text (escaped), in every element that shows the text."""
    at = run_page(
        "pages/flow.py", {"text": PHISH, "text_pair": "<img src=http://127.0.0.1:9/x.png> **bold**"}
    )
    assert_no_bug(at)
    shown = texts(at)
    assert any("phish" in t for t in shown), shown
    unescaped = re.compile(r"(?<!\\)(\]\(|<img|\*\*bold)")  # Markdown or HTML syntax without its backslash
    for t in shown:
        assert not unescaped.search(t), t


def test_md_escape_keeps_every_character_visible() -> None:
    """Escaping adds backslashes only: removing them gives the text back, and no Markdown syntax survives."""
    text = "![x](http://a) [b](c) *i* _u_ `code` # h <b> $x$ :red[y] 1. item www.example.com a@b.c"
    escaped = md_escape(text)
    assert escaped.replace("\\", "").replace(WORD_JOINER, "") == text
    for syntax in ("![", "](", "*i*", "`code`", ":red[", "$x$", "<b>", "www.", "a@b", "http:"):
        assert syntax not in escaped, syntax
    assert md_escape("line 1\nline 2") == "line 1  \nline 2"


def test_a_link_naming_a_folder_loads_nothing_until_confirmed() -> None:
    at = run_page("pages/flow.py", {"pair": "custom", "base": "/etc", "tuned": "/tmp"})
    assert_no_bug(at)
    assert not at.error, [e.value for e in at.error]  # nothing was opened, so nothing failed
    assert not at.get("bidi_component"), "a figure was drawn from unconfirmed models"
    confirm = at.button(key="confirm_custom")
    assert confirm.label == "Load these models"
    confirm.click().run()
    assert_no_bug(at)
    assert at.error, "after confirming, the (non-model) folder is opened and refused with a message"


def _adapter_naming_another_base(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the embedded sentiment adapter whose attnflow.json names a base folder elsewhere."""
    adapter, elsewhere = tmp_path / "adapter", tmp_path / "elsewhere"
    shutil.copytree(embedded_adapter_dir("sentiment"), adapter)
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text("{}")
    meta = json.loads((adapter / "attnflow.json").read_text())
    (adapter / "attnflow.json").write_text(json.dumps({**meta, "base": str(elsewhere)}))
    return adapter, elsewhere


def _shown(at: AppTest) -> str:
    return " ".join(texts(at)).replace("\\", "").replace(WORD_JOINER, "")


def test_an_adapters_own_base_folder_is_named_before_anything_loads(tmp_path: Path) -> None:
    """Issue 20: an adapter whose attnflow.json names another base folder loaded that folder although the confirm
    box named only the adapter. The box names it now, even after the two typed references were confirmed."""
    adapter, elsewhere = _adapter_naming_another_base(tmp_path)
    at = run_page("pages/flow.py", {"pair": "custom", "base": EMBEDDED_BASE, "tuned": str(adapter)})
    assert_no_bug(at)
    assert str(elsewhere) in _shown(at), "the adapter's base folder is not named"
    assert at.button(key="confirm_custom").label == "Load these models" and not at.get("bidi_component")
    at = app()
    at.query_params.update(pair="custom", base=EMBEDDED_BASE, tuned=str(adapter))
    at.session_state["custom_confirmed"] = [
        EMBEDDED_BASE,
        str(adapter),
    ]  # what typing both references confirms
    at.switch_page("pages/flow.py")
    at.run()
    assert_no_bug(at)
    assert str(elsewhere) in _shown(at) and [b for b in at.button if b.key == "confirm_custom"]
    at.button(key="confirm_custom").click().run()
    assert_no_bug(at)
    assert at.error, "after confirming, the (non-model) base folder is opened and refused with a message"


@pytest.mark.parametrize("value", ["0", "disabled"])  # issue 20: an unrecognised value fails closed
def test_custom_references_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ATTNFLOW_ALLOW_CUSTOM_MODELS", value)
    at = run_page("pages/flow.py", {"pair": "custom", "base": "/etc", "tuned": "/tmp"})
    assert_no_bug(at)
    assert "custom" not in at.sidebar.selectbox[1].options
    assert not [b for b in at.button if b.key == "confirm_custom"]
    assert at.get("bidi_component"), "the registered pair is shown instead"
    assert any("`pair`" in c.value for c in at.caption)
