"""AppTest over every page with the embedded models: no exceptions, the widgets exist and drive the Bokeh output.

AppTest sees each streamlit-bokeh chart as a ``bidi_component`` whose JSON holds the serialised Bokeh document.
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
    low = column_of(edges, "y1")
    assert 0 < len(low) <= 150  # the edge budget
    # exclusive edges in the models' colours, shared ones faded (the differences emphasis is on by default)
    assert set(column_of(edges, "colour")) <= {"#16a085", "#8e44ad", FADED}
    caption = named(doc, "flow_caption")["attributes"]["text"]
    assert "Tracing from" in caption and "[CLS]" in caption
    assert "What is the capital of France?" in " ".join(m.value for m in at.markdown)
    at.sidebar.slider(key="_w_tau").set_value(0.4).run()
    assert not at.exception
    assert column_of(named(bokeh_docs(at)[0], "edges"), "y1") != low
    assert at.query_params["tau"] in ("0.4", ["0.4"])


def test_source_token_and_words_change_the_view() -> None:
    at = open_page("pages/flow.py")
    at.sidebar.selectbox(key="_w_src").set_value(1).run()
    ring = named(bokeh_docs(at)[0], "source_ring")
    assert column_of(ring, "y") == [-1]
    at.sidebar.radio(key="_w_unit").set_value("word").run()
    nodes = named(bokeh_docs(at)[0], "nodes")
    assert "France" in column_of(nodes, "label") or "france" in column_of(nodes, "label")


def test_layer_range_limits_the_graph_to_those_layers() -> None:
    """Layers 3..5: the nodes run from layer 2 (the input of layer 3) to 5, the edges lie in layers 3..5."""
    at = open_page("pages/flow.py")
    assert set(column_of(named(bokeh_docs(at)[0], "nodes"), "layer")) == set(range(0, 7))  # MiniLM: 6 layers
    at.sidebar.slider(key="_w_layers").set_value((3, 5)).run()
    assert not at.exception, [e.message for e in at.exception]
    doc = bokeh_docs(at)[0]
    assert set(column_of(named(doc, "nodes"), "layer")) == {2, 3, 4, 5}
    layers = set(column_of(named(doc, "edges"), "layer"))
    assert layers and layers <= {3, 4, 5}
    assert any("at layer 5 down" in t for t in titles(doc))
    assert at.query_params["layers"] in ("3:5", ["3:5"])  # one syntax with the CLI; "3-5" still reads


def test_head_subset_traces_fewer_edges() -> None:
    """One head instead of all twelve keeps fewer edges, and the graph's title names the heads."""
    at = open_page("pages/flow.py")
    doc = bokeh_docs(at)[0]
    n_all = len(column_of(named(doc, "edges"), "x0"))
    assert any(t.endswith("all heads") for t in titles(doc))
    at.sidebar.multiselect(key="_w_heads").set_value([0]).run()
    assert not at.exception, [e.message for e in at.exception]
    doc = bokeh_docs(at)[0]
    edges = named(doc, "edges")
    assert 0 < len(column_of(edges, "x0")) <= n_all
    assert {p.split(" ")[0] for p in column_of(edges, "perhead")} == {"h0"}
    assert any(t.endswith("heads [0]") for t in titles(doc))
    assert at.query_params["heads"] in ("0", ["0"])


def test_decay_shrinks_the_markers_of_the_lower_layers() -> None:
    """Influence is multiplied by α per layer travelled and markers grow with √(influence / the source's): with
    α = 0.5 a node k layers below the source has (size − 4) scaled by √0.5^k; the source layer is unchanged."""
    at = open_page("pages/flow.py")
    nodes = named(bokeh_docs(at)[0], "nodes")
    layer, full = column_of(nodes, "layer"), column_of(nodes, "sb")
    at.sidebar.slider(key="_w_alpha").set_value(0.5).run()
    assert not at.exception, [e.message for e in at.exception]
    nodes = named(bokeh_docs(at)[0], "nodes")
    assert column_of(nodes, "layer") == layer
    half = column_of(nodes, "sb")
    top = max(layer)
    for lay, f, h in zip(layer, full, half, strict=True):
        if f == 0:
            assert h == 0  # unreached stays unreached: α changes sizes, not which edges are kept
        else:
            assert h - 4.0 == pytest.approx((f - 4.0) * 0.5 ** ((top - lay) / 2), rel=1e-5, abs=1e-5)
    lower = [(f, h) for lay, f, h in zip(layer, full, half, strict=True) if lay < top and f > 4.0 + 1e-3]
    assert lower and all(h < f for f, h in lower)
    assert any("α = 0.5" in t for t in titles(bokeh_docs(at)[0]))


def test_hiding_special_tokens_changes_the_flow_and_the_url() -> None:
    """Hiding [CLS]/[SEP] (renormalised by default) drops the edges into them, which MiniLM's sink heads otherwise
    draw, and changes the sentence scores; the URL records the mode."""
    at = open_page("pages/flow.py")
    doc = bokeh_docs(at)[0]
    sinks = ("[CLS] #", "[SEP] #")
    assert any(t.startswith(sinks) for t in column_of(named(doc, "edges"), "to"))
    scores = column_of(named(doc, "sentence"), "sb")
    assert "special" not in at.query_params
    at.sidebar.toggle(key="_w_hide_special").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.sidebar.radio(key="_w_special_mode").value == "renormalise"
    doc = bokeh_docs(at)[0]
    to = column_of(named(doc, "edges"), "to")
    assert to and not any(t.startswith(sinks) for t in to)
    assert column_of(named(doc, "sentence"), "sb") != scores
    assert at.query_params["special"] in ("renormalise", ["renormalise"])


@pytest.mark.parametrize("method", ["rollout", "maxflow"])
def test_other_methods_render(method: str) -> None:
    at = open_page("pages/flow.py", method=method)
    assert at.sidebar.radio(key="_w_method").value == method
    doc = bokeh_docs(at)[0]
    sentence = named(doc, "sentence")
    assert sum(column_of(sentence, "sb")) == pytest.approx(1.0, abs=1e-2)
    # each method draws its own graph, named in the title
    name = {"rollout": "Attention rollout of", "maxflow": "Attention max-flow of"}[method]
    assert any(t.startswith(name) for t in titles(doc))
    assert 0 < len(column_of(named(doc, "edges"), "x0")) <= 150


def test_a_source_in_the_url_reproduces_the_clicked_view() -> None:
    """A click sets ``src`` (the sidebar's "trace from") and the URL; opening that URL shows the same trace, and the
    per-head and differences toggles live in the URL too."""
    at = open_page("pages/flow.py", src="3", per_head="True", diff="False")
    assert at.sidebar.selectbox(key="_w_src").value == 3
    doc = bokeh_docs(at)[0]
    assert column_of(named(doc, "source_ring"), "y") == [-3]
    assert set(column_of(named(doc, "edges"), "y0")) >= {-3}
    assert len(column_of(named(doc, "head_edges"), "x0")) > 0
    assert FADED not in column_of(named(doc, "edges"), "colour")
    assert at.query_params["src"] in ("3", ["3"]) and at.query_params["per_head"] in ("True", ["True"])


def test_head_page_selects_a_head() -> None:
    """Choosing another head redraws its attention matrices (the preselected head is the most changed one)."""
    at = open_page("pages/heads.py")
    (doc,) = bokeh_docs(at)
    named(doc, "js_heatmap")
    preselected = at.selectbox(key="head_pick").value
    other = (1, 0) if preselected != (1, 0) else (1, 1)  # another head: its own attention pattern
    first = column_of(named(doc, "matrix_base"), "v")
    at.selectbox(key="head_pick").set_value(other).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="head_pick").value == other
    second = column_of(named(bokeh_docs(at)[0], "matrix_base"), "v")
    assert len(second) == len(first)  # same tokens, same matrix size
    assert second != first


def test_url_parameters_select_task_and_settings() -> None:
    at = open_page("pages/flow.py", task="sentiment", tau="0.25", special="renormalise")
    assert at.sidebar.selectbox(key="_w_task").value == "sentiment"
    assert at.sidebar.slider(key="_w_tau").value == pytest.approx(0.25)
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
    assert tuple(at.sidebar.slider(key="_w_layers").value) == layers
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
