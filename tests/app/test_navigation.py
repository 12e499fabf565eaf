"""Input and navigation on the pages (issue 12): long pastes, the About link's query string, the overview's N."""

from __future__ import annotations

import pytest

from tests.app.test_pages import app, open_page


@pytest.fixture(autouse=True)
def _offline(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path_factory.getbasetemp() / "attnflow-cache"))


def test_a_long_paste_is_accepted_and_its_truncation_shown() -> None:
    """More than 2,000 characters used to leave the box empty ("Type both parts…"): now the text is analysed and
    the header says the model reads only its first tokens."""
    at = open_page("pages/examples.py", task="sentiment")
    long_text = " ".join(["a wonderful, moving film that I would watch again"] * 60)  # ~3,000 characters
    assert len(long_text) > 2_000
    at.text_area[0].set_value(long_text)
    (submit,) = [b for b in at.button if b.label == "Analyse this example"]
    submit.click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["custom_text"] == long_text
    assert any("analyses the first" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "text" not in at.query_params  # a link cannot carry it; the session keeps it


def test_the_about_page_keeps_the_query_string() -> None:
    at = open_page("pages/flow.py", task="nli", tau="0.3")
    at.switch_page("pages/about.py")
    at.run()
    assert not at.exception
    assert at.query_params.get("task") in ("nli", ["nli"])
    assert at.query_params.get("tau") in ("0.3", ["0.3"])


def test_the_overview_default_fits_the_demo_set_and_the_speed_text_matches() -> None:
    from attnflow_core.data.sources import load_examples

    at = app()
    at.switch_page("pages/overview.py")
    at.run()
    n = at.number_input(key="ov_n").value
    assert n <= len(load_examples("qa", "demo", None))
    (info,) = [i.value for i in at.info if "Compute" in i.value]
    assert "50 examples per second" in info  # benchmarks/RESULTS.md: 51-70 rows/s on 2 cores
