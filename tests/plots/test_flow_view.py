"""The interactive flow view (``plots/flow_view.py`` + ``flow_view.js``): its controls redraw the figures in the
browser exactly as Python draws them under the same settings, a node click traces from that node, the server's
settings apply without being reported back, max-flow asks the page for its solution, and the packed payload reads
back. The redraw runs in Node.js against stand-ins of its Bokeh models (``view_runner.js``)."""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    Div,
    GlyphRenderer,
    HoverTool,
    LinearColorMapper,
    Model,
    Title,
)
from bokeh.models.axes import Axis
from bokeh.plotting import figure as Figure
from test_flow_engine import python_view

from attnflow_core.analysis import Analysis, FlowSettings, analyse, drawn_graph
from attnflow_core.extract import ExampleResult
from attnflow_core.plots.flow_payload import (
    drawing_settings,
    maxflow_solution,
    pack_view,
    settings_from_report,
    unpack_view,
)
from attnflow_core.plots.flow_view import build_flow_view
from attnflow_core.settings import SettingsError

RUNNER = Path(__file__).with_name("view_runner.js")
WIDGET_PROPS = ("value", "active", "disabled", "title", "text", "options", "labels", "start", "end")


def _props(value: Model) -> dict[str, Any]:
    """A Bokeh model as the stand-in needs it: the properties the redraw reads and writes."""
    if isinstance(value, ColumnDataSource):
        data = {}
        for k, v in value.data.items():
            if isinstance(v, list) and v and isinstance(v[0], np.ndarray):  # the payload's arrays
                data[k] = [{"$f32": base64.b64encode(np.asarray(x, "<f4").tobytes()).decode()} for x in v]
            else:
                data[k] = np.asarray(v).tolist() if isinstance(v, np.ndarray) else list(v)
        return {"data": data, "selected": {"indices": list(value.selected.indices)}}
    if isinstance(value, Figure):
        return {
            "title": {"text": value.title.text},
            "x_range": {"start": value.x_range.start, "end": value.x_range.end},
            "y_range": {"start": value.y_range.start, "end": value.y_range.end},
        }
    if isinstance(value, Axis):
        return {"ticker": {"ticks": list(value.ticker.ticks)},
                "major_label_overrides": {str(k): v for k, v in value.major_label_overrides.items()}}  # fmt: skip
    if isinstance(value, Title):
        return {"text": value.text, "visible": value.visible}
    if isinstance(value, HoverTool):
        return {"tooltips": [list(t) for t in value.tooltips]}
    if isinstance(value, GlyphRenderer):
        return {"visible": value.visible}
    if isinstance(value, LinearColorMapper):
        return {"low": value.low, "high": value.high}
    if isinstance(value, Div):
        return {"text": value.text}
    out = {}
    for p in WIDGET_PROPS:
        if p in value.properties():
            v = getattr(value, p)
            out[p] = list(v) if isinstance(v, tuple) else v
    return out


def run_view(node: str, view: Any, steps: list[dict[str, Any]], report: bool = True) -> dict[str, Any]:
    """Run the view's redraw in Node.js through ``steps``; returns {args, reports, drawn}."""
    callback = next(
        cb for w in view.select({"name": "w_tau"}) for cb in w.js_property_callbacks["change:value"]
    )
    assert isinstance(callback, CustomJS)
    args = {k: ({"$model": _props(v)} if isinstance(v, Model) else v) for k, v in callback.args.items()}
    triggers = [["nodes", "selected.indices"], ["maxflow", "data"], ["desired", "data"]]
    for name in ("w_method", "w_toggles"):
        triggers.append([name, "active"])
    for name in ("w_source", "w_layers", "w_tau", "w_alpha", "w_heads"):
        triggers.append([name, "value"])
    spec = {"code": callback.code, "args": args, "triggers": triggers, "report": report, "steps": steps}
    proc = subprocess.run([node, str(RUNNER)], input=json.dumps(spec), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def analysis(sharp_result: ExampleResult) -> Analysis:
    return analyse(sharp_result, FlowSettings(threshold=0.1))


@pytest.fixture(scope="module")
def view(analysis: Analysis) -> Any:
    return build_flow_view(analysis, "view-1")


def _expect(result: ExampleResult, settings: FlowSettings) -> dict[str, Any]:
    return python_view(analyse(result, settings), per_head=False, differences=True)


def test_a_threshold_step_redraws_what_python_draws(
    view: Any, sharp_result: ExampleResult, node_binary: str
) -> None:
    """τ 0.1 → 0.3 in the view: the edges, nodes, titles and caption are Python's for τ = 0.3, and the settings
    go back to the page (not urgently)."""
    out = run_view(node_binary, view, [{"set": ["w_tau", "value", 0.3]}])
    want = _expect(sharp_result, FlowSettings(threshold=0.3))
    a = out["args"]
    assert out["drawn"] == 1
    assert a["fig"]["title"]["text"] == want["graph"]["title"]
    assert a["edges"]["data"]["x0"] == want["edges"]["x0"] and a["edges"]["data"]["y1"] == want["edges"]["y1"]
    assert a["nodes"]["data"]["layer"] == want["nodes"]["layer"]
    assert a["caption"]["text"] == want["caption"]["text"]
    assert a["stop_title"]["text"] == want["graph"]["stopLabel"]
    (report,) = out["reports"]
    assert report["settings"]["threshold"] == 0.3 and report["urgent"] is False and report["id"] == "view-1"


def test_layers_heads_and_decay_redraw_like_python(
    view: Any, sharp_result: ExampleResult, node_binary: str
) -> None:
    """A layer range, a head subset and α: one redraw per animation frame, Python's figure for all three; the
    axis names the range's bottom as the input of its first layer, and the head grids keep only those layers."""
    steps = [{"set": ["w_layers", "value", [2, 3]]}, {"set": ["w_heads", "value", ["1"]]},
             {"set": ["w_alpha", "value", 0.5]}]  # fmt: skip
    out = run_view(node_binary, view, steps)
    want = _expect(sharp_result, FlowSettings(threshold=0.1, layers=(2, 3), heads=(1,), decay=0.5))
    a = out["args"]
    assert a["fig"]["title"]["text"] == want["graph"]["title"]
    assert a["x_axis"]["major_label_overrides"]["1"] == "input to layer 2"
    assert a["nodes"]["data"]["sb"] == pytest.approx(list(want["nodes"]["sb"]), rel=1e-6)
    assert a["grid_base"]["y_range"] == {"start": 1.5, "end": 3.5}
    assert a["edges"]["data"]["perhead"] == want["edges"]["perhead"]


def test_a_node_click_traces_from_that_token(
    view: Any, analysis: Analysis, sharp_result: ExampleResult, node_binary: str
) -> None:
    """Selecting a node sets the view's source (the selection is cleared), and the redraw traces from it."""
    nodes = view.select_one({"name": "nodes"}).data
    k = next(
        i
        for i, (lay, tok) in enumerate(zip(nodes["layer"], nodes["token"], strict=True))
        if tok == 3 and lay == 3
    )
    out = run_view(node_binary, view, [{"tap": ["nodes", k]}])
    a = out["args"]
    assert a["w_source"]["value"] == "3" and a["nodes"]["selected"]["indices"] == []
    assert a["ring"]["data"] == {"x": [3], "y": [-3]}
    assert (
        a["fig"]["title"]["text"]
        == _expect(sharp_result, FlowSettings(threshold=0.1, source=3))["graph"]["title"]
    )
    assert out["reports"][-1]["settings"]["source"] == 3


def test_the_servers_settings_apply_without_an_echo(
    view: Any, analysis: Analysis, sharp_result: ExampleResult, node_binary: str
) -> None:
    """``desired`` (a link, a preset): the widgets take the settings, the view redraws, and nothing is reported back;
    the method's unused controls are disabled with their reason."""
    want = FlowSettings(method="rollout", source=2, threshold=0.1, layers=(1, 2))
    desired = json.dumps(drawing_settings(want, 3, per_head=True, differences=False))
    out = run_view(node_binary, view, [{"set": ["desired", "data", {"json": [desired]}]}])
    a = out["args"]
    assert a["w_method"]["active"] == 1 and a["w_source"]["value"] == "2" and a["w_layers"]["value"] == [1, 2]
    assert a["w_toggles"]["active"] == [1]
    assert a["w_tau"]["disabled"] is True and "ignores it" in a["w_note"]["text"]
    expect = python_view(analyse(sharp_result, want), per_head=True, differences=False)
    assert a["fig"]["title"]["text"] == expect["graph"]["title"]
    assert a["head_edge_lines"]["visible"] is True and a["edge_lines"]["visible"] is False
    assert out["reports"] == []


def test_maxflow_asks_the_page_then_draws_its_solution(
    view: Any, analysis: Analysis, sharp_result: ExampleResult, node_binary: str
) -> None:
    """Max-flow is solved on the server: without a solution for these settings the view asks at once (urgent) and
    says so; with one (as the page's link delivers it) it draws exactly Python's max-flow figure."""
    asked = run_view(node_binary, view, [{"set": ["w_method", "active", 2]}])
    (report,) = asked["reports"]
    assert report["urgent"] is True and report["settings"]["method"] == "maxflow"
    assert "solved on the server" in asked["args"]["caption"]["text"]
    settings = FlowSettings(method="maxflow", threshold=0.1)
    an = analyse(sharp_result, settings)
    solution = json.dumps(maxflow_solution(drawn_graph(an), settings, 3))
    out = run_view(node_binary, view, [{"set": ["w_method", "active", 2]},
                                      {"set": ["maxflow", "data", {"json": [solution]}]}])  # fmt: skip
    want = python_view(an, per_head=False, differences=True)
    assert out["args"]["edges"]["data"]["x0"] == want["edges"]["x0"]
    assert out["args"]["fig"]["title"]["text"] == want["graph"]["title"]
    exported = run_view(node_binary, view, [{"set": ["w_method", "active", 2]}], report=False)
    assert "open the app" in exported["args"]["caption"]["text"]  # a standalone file: no server to ask


def test_reports_come_back_as_settings(analysis: Analysis) -> None:
    """The page reads a report back into settings (checked against the example), and refuses a bad one."""
    report = {**drawing_settings(replace(analysis.settings, source=2, heads=(0,)), 3, True, False), "id": "x"}
    settings, per_head, differences = settings_from_report(report, analysis.settings, 3, 3, analysis.n)
    assert (settings.source, settings.heads, per_head, differences) == (2, (0,), True, False)
    for bad in ({**report, "source": analysis.n}, {**report, "layers": [0, 9]}, {**report, "method": "magic"},
                {k: v for k, v in report.items() if k != "threshold"}):  # fmt: skip
        with pytest.raises(SettingsError):
            settings_from_report(bad, analysis.settings, 3, 3, analysis.n)


def test_the_payload_reads_back(analysis: Analysis) -> None:
    """pack_view → unpack_view: the header (id, kind, the document) and both float32 arrays, bit for bit."""
    layout = build_flow_view(analysis, "v-9", with_arrays=False)
    data = pack_view("flow", "v-9", layout, {"base": analysis.attn_base, "tuned": analysis.attn_tuned})
    header, arrays = unpack_view(data)
    assert (header["id"], header["kind"]) == ("v-9", "flow")
    assert json.loads(header["doc"])["root_id"] == layout.id
    np.testing.assert_array_equal(arrays["base"], analysis.attn_base.ravel())
    np.testing.assert_array_equal(arrays["tuned"], analysis.attn_tuned.ravel())
    assert len(data) == 4 + len(json.dumps(header).encode()) + 4 * 2 * analysis.attn_base.size
