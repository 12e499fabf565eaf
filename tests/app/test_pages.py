"""AppTest over every page with the embedded models: no exceptions, the widgets exist and drive the Bokeh output.

AppTest sees each streamlit-bokeh chart as a ``bidi_component`` whose JSON holds the serialised Bokeh document. The
interactive views (Attention flow, Head differences) are ``bidi_component`` hosts whose bytes hold the packed view
(``flow_payload.pack_view``: the document, drawn at the default drawing settings, and the measured attention); the
flow view's link (another ``bidi_component``) carries the session's drawing settings to the browser, which redraws
(its figures under any settings are checked against Python's in ``tests/plots/test_flow_engine.py`` and in the
browser tests).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from attnflow_core.plots.flow_graph import FADED

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _offline_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path_factory.getbasetemp() / "attnflow-cache"))


def app(timeout: float = 120) -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)


def open_page(page: str, timeout: float = 120, **params: str) -> AppTest:
    """The app opened on ``page`` with ``params`` in the URL, run once, with no exception (shared by tests/app)."""
    at = app(timeout)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def bokeh_docs(at: AppTest) -> list[dict[str, Any]]:
    """The Bokeh documents rendered on the page (one per streamlit_bokeh call)."""
    docs = [json.loads(c.proto.json) for c in at.get("bidi_component") if c.proto.json]
    # the flow page's click bridge is a components.v2 element too, without a figure
    return [json.loads(d["figure"]) for d in docs if isinstance(d, dict) and "figure" in d]


def view_doc(at: AppTest, kind: str) -> dict[str, Any]:
    """The document of the page's interactive view of ``kind`` ("flow" or "heads"), from its host's payload."""
    from attnflow_core.plots.flow_payload import unpack_view

    for c in at.get("bidi_component"):
        if c.proto.bytes:
            header, _ = unpack_view(c.proto.bytes)
            if header["kind"] == kind:
                return json.loads(header["doc"])
    raise AssertionError(f"no {kind} view on the page")


def link_data(at: AppTest) -> dict[str, Any]:
    """What the flow page's link asks the view to show: {kind, id, settings, maxflow, fresh}."""
    for c in at.get("bidi_component"):
        if c.proto.json:
            data = json.loads(c.proto.json)
            if isinstance(data, dict) and data.get("kind") == "flow" and "settings" in data:
                return data
    raise AssertionError("no flow view link on the page")


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


def titles(doc: dict[str, Any]) -> list[str]:
    """The texts of the figures' titles in a Bokeh document."""
    return [
        str(obj["attributes"].get("text", ""))
        for obj in walk(doc)
        if obj.get("type") == "object" and obj.get("name") == "Title"
    ]


def column_of(source: dict[str, Any], column: str) -> list[Any]:
    """A column of a serialised ColumnDataSource: a JSON list, or a numpy array sent as (gzipped) base64 bytes."""
    data = source["attributes"]["data"]
    entries = dict(data["entries"]) if data.get("type") == "map" else data
    value = entries[column]
    if isinstance(value, dict) and value.get("type") == "ndarray":
        raw = base64.b64decode(value["array"]["data"])
        if raw[:2] == b"\x1f\x8b":  # Bokeh gzips larger arrays
            raw = gzip.decompress(raw)
        return np.frombuffer(raw, dtype=value["dtype"]).tolist()
    return list(value)


def test_every_page_renders_without_errors() -> None:
    at = app()
    at.run()
    assert not at.exception
    labels = {w.label for w in at.sidebar.selectbox} | {w.label for w in at.sidebar.radio}
    assert {"Task", "Model pair (pre-trained → fine-tuned)", "Attention measure", "Units"} <= labels
    at.switch_page("pages/flow.py")
    at.run()
    doc = view_doc(at, "flow")  # the drawing controls are the view's own (redrawn in the browser)
    for name in ("w_method", "w_source", "w_tau", "w_alpha", "w_layers", "w_heads", "w_toggles"):
        named(doc, name)
    for page in ("pages/flow.py", "pages/heads.py", "pages/overview.py", "pages/about.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])


def test_flow_figure_holds_the_trace_and_follows_the_threshold() -> None:
    at = open_page("pages/flow.py")
    doc = view_doc(at, "flow")
    named(doc, "flow_nodes")
    edges = named(doc, "edges")
    low = column_of(edges, "y1")
    assert 0 < len(low) <= 150  # the edge budget
    # exclusive edges in the models' colours, shared ones faded (the differences emphasis is on by default)
    assert set(column_of(edges, "colour")) <= {"#16a085", "#8e44ad", FADED}
    caption = named(doc, "flow_caption")["attributes"]["text"]
    assert "Tracing from" in caption and "[CLS]" in caption
    assert "What is the capital of France?" in " ".join(m.value for m in at.markdown)
    assert link_data(at)["settings"]["threshold"] == pytest.approx(0.1)
    at = open_page("pages/flow.py", tau="0.4")  # the settings a link (or the view's report) brings
    assert link_data(at)["settings"]["threshold"] == pytest.approx(0.4)
    assert at.query_params["tau"] in ("0.4", ["0.4"])


def test_source_token_and_words_change_the_view() -> None:
    """A source from a link reaches the view; a units switch maps the traced token to the word that holds it (and
    back to that word's first token), with no notice (issue 19: the trace was lost with a false notice)."""
    at = open_page("pages/flow.py", src="1")
    assert link_data(at)["settings"]["source"] == 1
    at.sidebar.radio(key="_w_unit").set_value("word").run()
    assert not at.exception, [e.message for e in at.exception]
    nodes = named(view_doc(at, "flow"), "nodes")
    assert "France" in column_of(nodes, "label") or "france" in column_of(nodes, "label")
    assert link_data(at)["settings"]["source"] == 1  # "what" is word 1 too
    assert not [c.value for c in at.caption if "Ignored" in c.value or "link_off" in c.value]


def test_layer_range_limits_the_graph_to_those_layers() -> None:
    """Layers 3..5: the nodes run from layer 2 (the input of layer 3) to 5, the edges lie in layers 3..5."""
    at = open_page("pages/flow.py")
    assert set(column_of(named(view_doc(at, "flow"), "nodes"), "layer")) == set(
        range(0, 7)
    )  # MiniLM: 6 layers
    at = open_page("pages/flow.py", layers="3:5")
    assert link_data(at)["settings"]["layers"] == [3, 5]
    assert at.query_params["layers"] in ("3:5", ["3:5"])  # one syntax with the CLI; "3-5" still reads


def test_head_subset_traces_fewer_edges() -> None:
    """One head instead of all twelve keeps fewer edges, and the graph's title names the heads."""
    at = open_page("pages/flow.py")
    assert any(t.endswith("all heads") for t in titles(view_doc(at, "flow")))
    at = open_page("pages/flow.py", heads="0")
    assert link_data(at)["settings"]["heads"] == [0]
    assert at.query_params["heads"] in ("0", ["0"])


def test_decay_reaches_the_view_and_the_url() -> None:
    """α from a link reaches the view's settings (the markers' arithmetic: tests/plots/test_flow_graph.py)."""
    at = open_page("pages/flow.py", alpha="0.5")
    assert link_data(at)["settings"]["decay"] == pytest.approx(0.5)
    assert at.query_params["alpha"] in ("0.5", ["0.5"])


def test_hiding_special_tokens_changes_the_flow_and_the_url() -> None:
    """Hiding [CLS]/[SEP] (renormalised by default) drops the edges into them, which MiniLM's sink heads otherwise
    draw, and changes the sentence scores; the URL records the mode."""
    at = open_page("pages/flow.py")
    doc = view_doc(at, "flow")
    sinks = ("[CLS] #", "[SEP] #")
    assert any(t.startswith(sinks) for t in column_of(named(doc, "edges"), "to"))
    scores = column_of(named(doc, "sentence"), "sb")
    assert "special" not in at.query_params
    at.sidebar.toggle(key="_w_hide_special").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.sidebar.radio(key="_w_special_mode").value == "renormalise"
    doc = view_doc(at, "flow")
    to = column_of(named(doc, "edges"), "to")
    assert to and not any(t.startswith(sinks) for t in to)
    assert column_of(named(doc, "sentence"), "sb") != scores
    assert at.query_params["special"] in ("renormalise", ["renormalise"])


@pytest.mark.parametrize("method", ["rollout", "maxflow"])
def test_other_methods_render(method: str) -> None:
    at = open_page("pages/flow.py", method=method)
    data = link_data(at)
    assert data["settings"]["method"] == method
    # the view's method selector offers it; max-flow is solved here and sent with the link, within the budget
    assert named(view_doc(at, "flow"), "w_method")
    if method == "maxflow":
        mf = data["maxflow"]
        assert mf["settings"] == {"source": 0, "layers": [1, 6], "heads": None}
        for model in ("base", "tuned"):
            assert 0 < len(mf[model]["layer"]) <= 150
            assert sum(mf[model]["node"][: len(mf[model]["node"]) // 7]) == pytest.approx(1.0, abs=1e-3)
    else:
        assert data["maxflow"] is None  # computed in the browser


def test_a_source_in_the_url_reproduces_the_clicked_view() -> None:
    """A click sets ``src`` (the sidebar's "trace from") and the URL; opening that URL shows the same trace, and the
    per-head and differences toggles live in the URL too."""
    at = open_page("pages/flow.py", src="3", per_head="True", diff="False")
    settings = link_data(at)["settings"]
    assert (settings["source"], settings["perHead"], settings["differences"]) == (3, True, False)
    assert link_data(at)["fresh"]  # the server's settings: the view applies them
    assert at.query_params["src"] in ("3", ["3"]) and at.query_params["per_head"] in ("True", ["True"])


def test_head_page_selects_a_head() -> None:
    """Choosing another head redraws its attention matrices (the preselected head is the most changed one)."""
    at = open_page("pages/heads.py")
    doc = view_doc(at, "heads")
    named(doc, "js_heatmap")
    pick = named(doc, "head_pick")["attributes"]
    assert len(pick["options"]) == 6 * 12  # every head of MiniLM, chosen in the browser (browser test)
    for name in ("matrix_base", "matrix_diff"):  # one n × n image each
        assert named(doc, name)["attributes"]["data"]


def test_url_parameters_select_task_and_settings() -> None:
    at = open_page("pages/flow.py", task="sentiment", tau="0.25", special="renormalise")
    assert at.sidebar.selectbox(key="_w_task").value == "sentiment"
    assert link_data(at)["settings"]["threshold"] == pytest.approx(0.25)
    assert at.sidebar.toggle(key="_w_hide_special").value is True
    assert not at.error


@pytest.mark.parametrize(
    ("params", "layers"),
    [
        ({"layers": "2:4"}, (2, 4)),
        ({"layers": "2-4"}, (2, 4)),  # links shared before the one a:b syntax keep working
        ({"layers": "x:y", "heads": "--1", "src": "nan"}, (1, 6)),
        ({"heads": "1,²", "tau": "inf", "alpha": "nan"}, (1, 6)),
    ],
)
def test_url_layers_read_both_syntaxes_and_bad_values_never_raise(
    params: dict[str, str], layers: tuple
) -> None:
    at = open_page("pages/flow.py", **params)
    assert tuple(link_data(at)["settings"]["layers"]) == layers
    assert not at.error


def test_examples_search_filter_and_custom_input() -> None:
    """The search box filters the table; the form's "Analyse this example" button makes typed text the example."""
    at = open_page("pages/examples.py")
    at.text_input(key="search").set_value("zzzz-no-such-word").run()
    assert any("No example matches" in i.value for i in at.info)
    at.text_input(key="search").set_value("").run()
    at.text_area[0].set_value("Who painted the Mona Lisa?")
    at.text_area[1].set_value("The Mona Lisa was painted by Leonardo da Vinci.")
    (submit,) = [b for b in at.button if b.label == "Analyse this example"]
    submit.click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["custom_text"] == "Who painted the Mona Lisa?"
    assert at.session_state["example"] == ""
    at.switch_page("pages/flow.py")
    at.run()
    text = " ".join(m.value for m in at.markdown)
    assert "Who painted the Mona Lisa?" in text


def shown_count(at: AppTest) -> int:
    """How many examples the table's filters let through (its caption; the table shows one page of them)."""
    (caption,) = [c.value for c in at.caption if " examples · page " in c.value]
    return int(caption.split(" examples", 1)[0].replace(",", ""))


def test_examples_gold_label_filter_and_prediction_columns() -> None:
    """The gold-label filter narrows the table to that label; every row shows the fine-tuned model's prediction,
    its confidence and the verdict against the gold label."""
    from attnflow_core.data.sources import load_examples

    gold = load_examples("qa", "demo", None).to_pandas()["label"]
    at = open_page("pages/examples.py")
    (table,) = at.dataframe
    page = table.value
    assert {"prediction", "confidence", "verdict"} <= set(page.columns)
    assert set(page["prediction"]) <= {"entailment", "not_entailment"}
    assert page["confidence"].between(0.0, 1.0).all()
    right = (page["prediction"] == page["gold"]).map({True: "✓ correct", False: "✗ wrong"})
    assert (
        page["verdict"].tolist() == right.tolist()
    )  # the demo rows are all labelled: every row has a verdict
    assert shown_count(at) == len(gold)
    at.multiselect(key="label_filter").set_value(["not_entailment"]).run()
    assert not at.exception, [e.message for e in at.exception]
    narrowed = at.dataframe[0].value
    assert len(narrowed) > 0 and set(narrowed["gold"]) == {"not_entailment"}
    assert shown_count(at) == (gold == "not_entailment").sum() < len(gold)


def test_overview_computes_a_small_overview() -> None:
    at = open_page("pages/overview.py", task="nli")
    at.number_input(key="ov_n").set_value(6).run()
    at.button(key="ov_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (doc,) = bokeh_docs(at)
    named(doc, "overview_layout")
    assert any(m.label == "Examples" and m.value == "6" for m in at.metric)
    assert any("Reading:" in m.value for m in at.markdown)
    assert any(t.startswith("Cross-segment attention") for t in titles(doc))  # a pair task: A and B


def test_overview_of_a_single_sentence_task_has_no_cross_segment_figure() -> None:
    """Sentiment has no second segment: the overview renders without the cross-segment figure."""
    at = open_page("pages/overview.py", task="sentiment")
    at.number_input(key="ov_n").set_value(4).run()
    at.button(key="ov_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    (doc,) = bokeh_docs(at)
    named(doc, "overview_layout")
    assert any(m.label == "Examples" and m.value == "4" for m in at.metric)
    assert any(t.startswith("Head behaviour") for t in titles(doc))
    assert not any(t.startswith("Cross-segment") for t in titles(doc))


def test_unknown_example_id_in_the_url_warns() -> None:
    """A shared link to an example this source lacks says so (and shows the first example) instead of silently
    showing another one."""
    at = open_page("pages/flow.py", ex="nope")
    warnings = [w.value for w in at.sidebar.warning] + [w.value for w in at.warning]
    assert any("nope" in w and "not in this source" in w for w in warnings), warnings
    assert not at.error, [e.value for e in at.error]
    assert "What is the capital of France?" in " ".join(m.value for m in at.markdown)  # the first example


def test_about_page_reports_the_embedded_counterparts_accuracy() -> None:
    """The About page reads each embedded model card: one row per task with its held-out accuracy."""
    at = open_page("pages/about.py")
    frames = [df.value for df in at.dataframe]
    table = next(f for f in frames if "held-out accuracy" in f.columns)
    assert sorted(table["task"]) == ["nli", "qa", "sentiment"]
    assert all(v.endswith("%") for v in table["held-out accuracy"])
    assert "sst2_validation" in " ".join(table["other evaluation"])
