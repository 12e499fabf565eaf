"""AppTest over every page with the embedded models: no exceptions, the widgets exist and drive the Bokeh output.

AppTest sees each streamlit-bokeh chart as a ``bidi_component`` whose JSON holds the serialised Bokeh document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _offline_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path_factory.getbasetemp() / "attnflow-cache"))


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def open_page(page: str, **params: str) -> AppTest:
    at = app()
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def bokeh_docs(at: AppTest) -> list[dict[str, Any]]:
    """The Bokeh documents rendered on the page (one per streamlit_bokeh call)."""
    return [json.loads(json.loads(c.proto.json)["figure"]) for c in at.get("bidi_component")]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def named(doc: dict[str, Any], name: str) -> dict[str, Any]:
    for obj in walk(doc):
        if obj.get("type") == "object" and obj.get("attributes", {}).get("name") == name:
            return obj
    raise AssertionError(f"no Bokeh model named {name!r} in the figure")


def column_of(source: dict[str, Any], column: str) -> list[Any]:
    data = source["attributes"]["data"]
    entries = dict(data["entries"]) if data.get("type") == "map" else data
    return list(entries[column])


def test_every_page_renders_without_errors() -> None:
    at = app()
    at.run()
    assert not at.exception
    labels = {w.label for w in at.sidebar.selectbox} | {w.label for w in at.sidebar.slider}
    assert {
        "Task",
        "Model pair (pre-trained → fine-tuned)",
        "Layer range",
        "Threshold τ",
        "Trace from",
    } <= labels
    assert [r.label for r in at.sidebar.radio][:1] == ["Method"]
    for page in ("pages/flow.py", "pages/heads.py", "pages/overview.py", "pages/about.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])


def test_flow_figure_holds_the_trace_and_follows_the_threshold() -> None:
    at = open_page("pages/flow.py")
    (doc,) = bokeh_docs(at)
    named(doc, "flow_nodes")
    edges = named(doc, "edges")
    n_low = len(column_of(edges, "x0"))
    assert n_low > 0
    assert set(column_of(edges, "colour")) <= {"#16a085", "#8e44ad", "#e67e22"}
    caption = named(doc, "flow_caption")["attributes"]["text"]
    assert "Tracing from" in caption and "[CLS]" in caption
    assert "What is the capital of France?" in " ".join(m.value for m in at.markdown)
    at.sidebar.slider(key="_w_tau").set_value(0.4).run()
    assert not at.exception
    n_high = len(column_of(named(bokeh_docs(at)[0], "edges"), "x0"))
    assert n_high < n_low
    assert at.query_params["tau"] in ("0.4", ["0.4"])


def test_source_token_and_words_change_the_view() -> None:
    at = open_page("pages/flow.py")
    at.sidebar.selectbox(key="_w_src").set_value(1).run()
    ring = named(bokeh_docs(at)[0], "source_ring")
    assert column_of(ring, "y") == [-1]
    at.sidebar.radio(key="_w_unit").set_value("word").run()
    nodes = named(bokeh_docs(at)[0], "nodes")
    assert "France" in column_of(nodes, "label") or "france" in column_of(nodes, "label")


@pytest.mark.parametrize("method", ["rollout", "maxflow"])
def test_other_methods_render(method: str) -> None:
    at = open_page("pages/flow.py", method=method)
    assert at.sidebar.radio(key="_w_method").value == method
    sentence = named(bokeh_docs(at)[0], "sentence")
    assert sum(column_of(sentence, "sb")) == pytest.approx(1.0, abs=1e-2)


def test_head_page_selects_a_head() -> None:
    at = open_page("pages/heads.py")
    (doc,) = bokeh_docs(at)
    named(doc, "js_heatmap")
    first = column_of(named(doc, "matrix_base"), "v")
    at.selectbox(key="head_pick").set_value((1, 0)).run()
    second = column_of(named(bokeh_docs(at)[0], "matrix_base"), "v")
    assert first != second or at.selectbox(key="head_pick").value == (1, 0)


def test_url_parameters_select_task_and_settings() -> None:
    at = open_page("pages/flow.py", task="sentiment", tau="0.25", special="renormalise")
    assert at.sidebar.selectbox(key="_w_task").value == "sentiment"
    assert at.sidebar.slider(key="_w_tau").value == pytest.approx(0.25)
    assert at.sidebar.toggle(key="_w_hide_special").value is True
    assert not at.error


def test_examples_search_filter_and_custom_input() -> None:
    at = open_page("pages/examples.py")
    at.text_input(key="search").set_value("zzzz-no-such-word").run()
    assert any("No example matches" in i.value for i in at.info)
    at.text_input(key="search").set_value("").run()
    at.text_area[0].set_value("Who painted the Mona Lisa?")
    at.text_area[1].set_value("The Mona Lisa was painted by Leonardo da Vinci.")
    at.button[0].click()
    at.run()
    for b in at.button:
        if b.label == "Analyse this example":
            b.click().run()
            break
    assert not at.exception
    at.switch_page("pages/flow.py")
    at.run()
    text = " ".join(m.value for m in at.markdown)
    assert "Who painted the Mona Lisa?" in text


def test_overview_computes_a_small_overview() -> None:
    at = open_page("pages/overview.py", task="nli")
    at.number_input(key="ov_n").set_value(6).run()
    at.button(key="ov_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (doc,) = bokeh_docs(at)
    named(doc, "overview_layout")
    assert any(m.label == "Examples" and m.value == "6" for m in at.metric)
    assert any("Reading:" in m.value for m in at.markdown)
