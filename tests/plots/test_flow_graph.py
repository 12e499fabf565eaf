"""The Attention flow layout: the drawn edges come from ``attnflow_core.graph``, titles name method and measure, the
legend, the differences emphasis, per-head edges, the stop message, and the node click (its JS run in Node.js)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from bokeh.models import Title

from attnflow_core.analysis import Analysis, FlowSettings, analyse
from attnflow_core.extract import ExampleResult
from attnflow_core.graph import head_shares
from attnflow_core.plots import flow_graph
from attnflow_core.plots.flow_graph import FADED, build_flow_layout, flow_graph_of, graph_title
from attnflow_core.plots.theme import STATUS_COLOURS, STATUS_LABELS, natural_size


@pytest.fixture(scope="module")
def analysis(sharp_result: ExampleResult) -> Analysis:
    """The peaky example traced from 'france' (#6) with decay: edges of all three statuses."""
    a = analyse(sharp_result, FlowSettings(source=6, threshold=0.1, decay=0.8))
    assert set(flow_graph_of(a).status.tolist()) == {"shared", "base", "tuned"}
    return a


@pytest.fixture(scope="module")
def layout(analysis: Analysis) -> Any:
    return build_flow_layout(analysis, differences=False)


def _edges(root: Any) -> dict[str, list[Any]]:
    return root.select_one({"name": "edges"}).data


def test_edges_are_the_pair_graph(layout: Any, analysis: Analysis) -> None:
    """One row per drawn (layer, src, dst), coloured by who draws it, width growing with the carried flow."""
    g = flow_graph_of(analysis)
    e = _edges(layout)
    assert len(e["x0"]) == g.n_edges
    assert e["x0"] == g.layer.tolist() and e["x1"] == (g.layer - 1).tolist()
    assert e["y0"] == (-g.src).tolist() and e["y1"] == (-g.dst).tolist()
    assert e["colour"] == [STATUS_COLOURS[s] for s in g.status]
    assert e["status"] == [STATUS_LABELS[s] for s in g.status]
    np.testing.assert_allclose(e["mb"], g.mass_base, atol=1e-5)
    np.testing.assert_allclose(e["at"], g.mean_tuned, atol=1e-4)
    heaviest = int(np.argmax(np.maximum(g.mass_base, g.mass_tuned)))
    assert e["width"][heaviest] == max(e["width"]) == pytest.approx(7.8)


def test_differences_fade_the_shared_edges(analysis: Analysis) -> None:
    e = _edges(build_flow_layout(analysis, differences=True))
    for status, colour, alpha in zip(e["status"], e["colour"], e["alpha"], strict=True):
        if status == STATUS_LABELS["shared"]:
            assert colour == FADED and alpha < 0.5
        else:
            assert colour != FADED and alpha > 0.5


def test_per_head_edges_split_each_edge_into_its_heads(analysis: Analysis) -> None:
    """Per-head: each drawn trace edge becomes one segment per head whose attention passes τ."""
    g = flow_graph_of(analysis)
    root = build_flow_layout(analysis, per_head=True)
    h = root.select_one({"name": "head_edges"}).data
    expected = int((np.maximum(g.attn_base, g.attn_tuned) >= analysis.settings.threshold).sum())
    assert len(h["x0"]) == expected > g.n_edges
    assert set(h["head"]) <= set(g.heads)
    merged = build_flow_layout(
        analysis
    )  # without per-head edges: none drawn (the renderer is hidden and empty)
    assert not merged.select_one({"name": "head_edges"}).data["x0"]
    assert not merged.select_one({"name": "head_edge_lines"}).visible
    assert merged.select_one({"name": "edge_lines"}).visible


@pytest.mark.parametrize("method", ["trace", "rollout", "maxflow"])
def test_every_method_draws_its_own_graph_and_names_itself(sharp_result: ExampleResult, method: str) -> None:
    an = analyse(sharp_result, FlowSettings(method=method, source=3))
    root = build_flow_layout(an)
    title = root.select_one({"name": "flow_graph"}).title.text
    assert title == graph_title(an)
    start = {"trace": "Thresholded trace", "rollout": "Attention rollout", "maxflow": "Attention max-flow"}[
        method
    ]
    assert title.startswith(f"{start} of attention weights from '{an.labels[3]}' (#3)")
    assert ("τ = " in title) == (method == "trace")
    sentence = root.select_one({"name": "sentence_view"}).title.text
    assert start.lower() in sentence and "attention weights" in sentence


def test_switching_the_method_changes_the_graph(sharp_result: ExampleResult) -> None:
    graphs = {}
    for method in ("trace", "rollout", "maxflow"):
        e = _edges(build_flow_layout(analyse(sharp_result, FlowSettings(method=method, source=3))))
        graphs[method] = sorted(zip(e["x0"], e["y0"], e["y1"], e["mb"], strict=True))
    assert graphs["trace"] != graphs["rollout"] != graphs["maxflow"] != graphs["trace"]


def test_the_title_names_the_measure_when_the_settings_have_one(analysis: Analysis) -> None:
    """The measure setting (``FlowSettings.measure``, added elsewhere) is read through one helper."""

    class WithMeasure:
        def __init__(self, s: FlowSettings) -> None:
            self.__dict__.update(s.__dict__)
            self.measure = "norm"

    fake = replace(analysis)
    object.__setattr__(fake, "settings", WithMeasure(analysis.settings))
    assert "Thresholded trace of norm-weighted attention from 'france'" in graph_title(fake)


def test_a_stopped_trace_says_so(sharp_result: ExampleResult) -> None:
    an = analyse(sharp_result, FlowSettings(source=6, threshold=0.97))
    g = flow_graph_of(an)
    assert g.base.stopped is not None and g.tuned.stopped is not None
    root = build_flow_layout(an)
    caption = root.select_one({"name": "flow_caption"}).text
    assert f"pre-trained model's trace stops at layer {g.base.stopped}" in caption
    assert "Lower τ" in caption
    label = root.select_one({"type": Title, "name": "trace_stopped"}).text
    # the figure names both models when both stop (it named only the first before)
    assert label == (
        f"Trace stops: pre-trained at layer {g.base.stopped}, fine-tuned at layer {g.tuned.stopped} — no edge "
        "passes τ = 0.97"
    )


def test_nodes_carry_each_models_flow(layout: Any, analysis: Analysis) -> None:
    g = flow_graph_of(analysis)
    d = layout.select_one({"name": "nodes"}).data
    a, b = analysis.layer_range
    assert len(d["x"]) == (b - a + 2) * analysis.n
    for k in range(len(d["x"])):
        assert d["ib"][k] == pytest.approx(g.base.node[d["layer"][k], d["token"][k]], abs=1e-6)
        assert d["it"][k] == pytest.approx(g.tuned.node[d["layer"][k], d["token"][k]], abs=1e-6)
    top = [k for k in range(len(d["x"])) if d["layer"][k] == b and d["token"][k] == analysis.settings.source]
    assert d["sb"][top[0]] == pytest.approx(18.0)


def test_head_grids_show_each_heads_share_of_the_drawn_flow(layout: Any, analysis: Analysis) -> None:
    g = flow_graph_of(analysis)
    n_layers, n_heads = analysis.attn_base.shape[:2]
    for key in ("base", "tuned"):
        fig = layout.select_one({"name": f"head_grid_{key}"})
        src = next(r.data_source for r in fig.renderers)
        np.testing.assert_allclose(src.data["v"], head_shares(g, n_layers, n_heads, key).ravel(), atol=1e-4)
        assert sum(src.data["v"]) == pytest.approx(1.0, abs=1e-4)


def test_legend_and_colour_bars(layout: Any) -> None:
    graph = layout.select_one({"name": "flow_graph"})
    items = graph.legend[0].items
    markers = [item.label.value for item in items if hasattr(item.label, "value")]
    assert markers == ["flow reaching a token — pre-trained", "flow reaching a token — fine-tuned"]
    (edge_item,) = [item for item in items if hasattr(item.label, "field")]
    edge_src = edge_item.renderers[0].data_source.data
    assert edge_src[edge_item.label.field] == [
        f"edge: {STATUS_LABELS[k]}" for k in ("base", "tuned", "shared")
    ]
    sentence = layout.select_one({"name": "sentence_view"})
    assert [bar.title for bar in sentence.right] == ["pre-trained", "fine-tuned"]


def test_root_is_sized_to_its_content(layout: Any) -> None:
    assert (layout.width, layout.height) == natural_size(layout)


def test_128_tokens_stay_within_the_edge_budget(
    sharp_result: ExampleResult, random_attention: Callable[..., np.ndarray]
) -> None:
    """A 128-unit pair at the default settings draws at most ~150 edges (both models together)."""
    rng = np.random.default_rng(0)
    n = 128
    an = analyse(sharp_result, FlowSettings())
    big = replace(
        an,
        labels=tuple(f"t{i}" for i in range(n)),
        segments=tuple([0] * 40 + [1] * 88),
        attn_base=random_attention(rng, (6, 12, n, n)).astype(np.float32),
        attn_tuned=random_attention(rng, (6, 12, n, n)).astype(np.float32),
        scores_base=np.full(n, 1 / n),
        scores_tuned=np.full(n, 1 / n),
        graph=None,  # new attention: the plots compute the graph
    )
    for method in ("trace", "rollout"):
        object.__setattr__(big, "settings", FlowSettings(method=method))
        assert 0 < len(_edges(build_flow_layout(big))["x0"]) <= 150


# ------------------------------------------------------------------ drawing settings (the view redraws these in the
# browser with flow_engine.js, which tests/plots/test_flow_engine.py holds equal to these builders)


def test_decay_shrinks_the_markers_of_the_lower_layers(sharp_result: ExampleResult) -> None:
    """Influence is multiplied by α per layer travelled and markers grow with √(influence / the source's): with
    α = 0.5 a node k layers below the source has (size − 4) scaled by √0.5^k; the source layer is unchanged."""
    full_nodes = build_flow_layout(analyse(sharp_result, FlowSettings(threshold=0.1))).select_one(
        {"name": "nodes"}
    )
    half_root = build_flow_layout(analyse(sharp_result, FlowSettings(threshold=0.1, decay=0.5)))
    half_nodes = half_root.select_one({"name": "nodes"})
    layer, full, half = (
        list(full_nodes.data["layer"]),
        list(full_nodes.data["sb"]),
        list(half_nodes.data["sb"]),
    )
    assert list(half_nodes.data["layer"]) == layer
    top = max(layer)
    for lay, f, h in zip(layer, full, half, strict=True):
        if f == 0:
            assert h == 0  # unreached stays unreached: α changes sizes, not which edges are kept
        else:
            assert h - 4.0 == pytest.approx((f - 4.0) * 0.5 ** ((top - lay) / 2), rel=1e-5, abs=1e-5)
    lower = [(f, h) for lay, f, h in zip(layer, full, half, strict=True) if lay < top and f > 4.0 + 1e-3]
    assert lower and all(h < f for f, h in lower)
    assert "α = 0.5" in half_root.select_one({"name": "flow_graph"}).title.text


def test_a_head_subset_draws_only_those_heads(sharp_result: ExampleResult) -> None:
    """One head instead of all keeps at most as many edges, every edge's top head is that head, and the title
    names it."""
    n_all = len(_edges(build_flow_layout(analyse(sharp_result, FlowSettings(threshold=0.1))))["x0"])
    root = build_flow_layout(analyse(sharp_result, FlowSettings(threshold=0.1, heads=(0,))))
    edges = _edges(root)
    assert 0 < len(edges["x0"]) <= n_all
    assert {p.split(" ")[0] for p in edges["perhead"]} == {"h0"}
    assert root.select_one({"name": "flow_graph"}).title.text.endswith("heads [0]")


def test_a_layer_range_draws_only_those_layers(sharp_result: ExampleResult) -> None:
    """Layers 2..3: the nodes run from the input of layer 2 to layer 3, the edges lie in layers 2..3, the axis says
    "input to layer 2" (not "layer 1") and the head grids show only layers 2..3."""
    root = build_flow_layout(analyse(sharp_result, FlowSettings(threshold=0.05, layers=(2, 3))))
    assert set(root.select_one({"name": "nodes"}).data["layer"]) == {1, 2, 3}
    assert set(_edges(root)["layer"]) <= {2, 3}
    fig = root.select_one({"name": "flow_graph"})
    assert fig.xaxis[0].major_label_overrides[1] == "input to layer 2"
    assert "down to the input of layer 2" in fig.title.text
    grid = root.select_one({"name": "head_grid_base"})
    assert (grid.y_range.start, grid.y_range.end) == (1.5, 3.5)


# ------------------------------------------------------------------ one solve per settings change, readable numbers


def test_analyse_solves_max_flow_once_and_the_graph_is_reused(
    sharp_result: ExampleResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Max-flow's scores come from the graph's flow solution (no second solve), equal to ``flows.max_flow``'s; the
    page draws the analysis's own graph."""
    from attnflow_core import graph as graph_module
    from attnflow_core.methods import flow_scores, pair_graph

    settings = FlowSettings(method="maxflow", source=6, layers=(2, 3))
    real = graph_module.solve_max_flow
    solves = []

    def counted(*args: Any, **kw: Any) -> Any:
        solves.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(graph_module, "solve_max_flow", counted)
    an = analyse(sharp_result, settings)
    assert len(solves) == 2, "max-flow solved a second time"  # one solve per model
    monkeypatch.undo()
    for attn, scores in ((an.attn_base, an.scores_base), (an.attn_tuned, an.scores_tuned)):
        want = flow_scores(attn, "maxflow", source=6, layers=(2, 3))
        np.testing.assert_allclose(scores, want, atol=1e-9)
        assert scores.sum() == pytest.approx(1.0)
    assert flow_graph_of(an) is an.graph
    fresh = pair_graph(an.attn_base, an.attn_tuned, "maxflow", source=6, layers=(2, 3))
    np.testing.assert_allclose(an.graph.mass_tuned, fresh.mass_tuned)  # type: ignore[union-attr]
    # an analysis whose settings no longer match its graph (built by hand) gets a fresh one
    other = replace(an, settings=replace(an.settings, method="rollout"))
    assert flow_graph_of(other) is not an.graph and flow_graph_of(other).method == "rollout"


def test_small_flows_read_as_numbers_not_zero() -> None:
    """Tooltips use %.3g and the data keep 5 significant digits: a flow of 2.1e-05 does not read 0.0000."""
    assert flow_graph._sig(2.123456e-5) == pytest.approx(2.1235e-5)
    assert flow_graph._sig(0.291662196) == 0.29166


def test_hover_formats_are_printf(layout: Any) -> None:
    from bokeh.models import HoverTool

    hovers = layout.select({"type": HoverTool})
    rows = [(h, label, fmt) for h in hovers for label, fmt in (h.tooltips or [])]
    flows = [(h, fmt) for h, label, fmt in rows if "flow" in label or "score" in label]
    assert len(flows) == 6  # edge and node flows of both models, the sentence scores of both models
    for h, fmt in flows:
        assert "{%.3g}" in fmt and h.formatters[fmt.split("{")[0]] == "printf"


@pytest.mark.parametrize(("method", "words"), [("trace", "Tracing from"), ("rollout", "Attention rollout from"),
                                               ("maxflow", "Attention max-flow from")])  # fmt: skip
def test_the_caption_names_the_method_drawn(sharp_result: ExampleResult, method: str, words: str) -> None:
    root = build_flow_layout(analyse(sharp_result, FlowSettings(method=method, source=6)))
    assert root.select_one({"name": "flow_caption"}).text.startswith(f"<b>{words}</b>")


def test_an_empty_head_grid_says_why(sharp_result: ExampleResult) -> None:
    """At τ = 1 no edge passes in either model: both head grids say the trace stops at the top layer."""
    root = build_flow_layout(analyse(sharp_result, FlowSettings(source=6, threshold=1.0)))
    for key in ("base", "tuned"):
        title = root.select_one({"name": f"head_grid_{key}"}).title.text
        assert title.startswith("No head carries the") and title.endswith("flow: its trace stops at layer 3")
    assert "pre-trained at layer 3, fine-tuned at layer 3" in root.select_one({"name": "trace_stopped"}).text


def test_analyse_traces_each_model_once(sharp_result: ExampleResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """A τ change traces each model once: the scores, the pair trace and the drawn graph share the two traces, and
    agree with the functions computed on their own."""
    from attnflow_core import flows, methods
    from attnflow_core import graph as graph_module
    from attnflow_core.methods import pair_graph

    calls = []
    real = flows.trace

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(flows, "trace", counted)
    monkeypatch.setattr(graph_module, "trace", counted)
    an = analyse(sharp_result, FlowSettings(source=6, threshold=0.1, decay=0.8))
    assert len(calls) == 2
    monkeypatch.undo()
    for attn, scores in ((an.attn_base, an.scores_base), (an.attn_tuned, an.scores_tuned)):
        want = methods.flow_scores(attn, "trace", source=6, threshold=0.1, decay=0.8)
        np.testing.assert_allclose(scores, want)
    fresh = pair_graph(an.attn_base, an.attn_tuned, "trace", source=6, threshold=0.1, decay=0.8)
    g = flow_graph_of(an)
    assert g.layer.tolist() == fresh.layer.tolist() and g.dst.tolist() == fresh.dst.tolist()
    np.testing.assert_allclose(g.mass_base, fresh.mass_base)
    np.testing.assert_allclose(g.mass_tuned, fresh.mass_tuned)


def test_a_checkpoint_is_named_in_the_titles_legend_and_colour_bars(analysis: Analysis) -> None:
    """Issue 18: the fine-tuned side of an earlier checkpoint says which step it is, wherever it is named."""
    early = replace(analysis, tuned_checkpoint="step 113 of 339")
    root = build_flow_layout(early, differences=False)
    graph = root.select_one({"name": "flow_graph"})
    markers = [item.label.value for item in graph.legend[0].items if hasattr(item.label, "value")]
    assert markers == [
        "flow reaching a token — pre-trained",
        "flow reaching a token — fine-tuned (step 113 of 339)",
    ]
    sentence = root.select_one({"name": "sentence_view"})
    assert [bar.title for bar in sentence.right] == ["pre-trained", "fine-tuned (step 113 of 339)"]
    assert "lower fine-tuned)" in sentence.title.text  # one line: the colour bar names the checkpoint
    grid = root.select_one({"name": "head_grid_tuned"})
    assert grid.title.text.endswith("— fine-tuned (step 113 of 339)")
    assert "fine-tuned (step 113 of 339)" in next(r.data_source for r in grid.renderers).data
