"""The browser's flow engine (``flow_engine.js``) against the Python definitions it ports: ``flows``, ``graph`` and
the Attention flow view's figure data (``plots.flow_graph``, read back from the Bokeh layout it builds).

Cases: hand-worked golden ones (3 tokens, 2 layers, 2 heads, exact dyadic values; uniform attention, all ties), the
tiny models' example and the peaky ``sharp_result`` (max-flow too: the server's edges merged and drawn by the
engine), and 36 seeded random ones (n 3..40, up to 6 layers and 6 heads, both methods, τ, α, layer ranges, head
subsets, per-head edges, differences, the residual flag, special-token modes, word units, both measures). All run in
one Node.js process (``engine_runner.js``). Integers, edge sets, orderings, statuses and strings must be identical,
floats equal to 1e-9 relative, values Python rounds equal to the rounding unit; the masses, on which the edge
budget's ties depend, bit for bit.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from bokeh.models import HoverTool, Rect
from bokeh.palettes import Greys256, RdBu11, Viridis256
from conftest import softmax_attention

from attnflow_core import flows, graph, methods
from attnflow_core.analysis import Analysis, FlowSettings, analyse, drawn_graph
from attnflow_core.encoding import Encoding
from attnflow_core.extract import ExampleResult
from attnflow_core.graph import PairGraph, head_shares
from attnflow_core.plots.flow_graph import build_flow_layout
from attnflow_core.plots.flow_payload import (
    ENGINE_JS_PATH,
    engine_payload,
    engine_settings,
    engine_vocab,
    maxflow_edges,
)
from attnflow_core.plots.theme import BASE, DARK_TEXT, LIGHT_TEXT, TUNED, mapped_colour, ramp, text_on

RUNNER = Path(__file__).with_name("engine_runner.js")
TAUS = (0.0, 0.01, 0.05, 0.1, 0.3, 0.9)
N_RANDOM = 36

# ------------------------------------------------------------------ building examples and cases


def make_example(
    tokens: list[str],
    segments: list[int],
    attn_base: np.ndarray,
    attn_tuned: np.ndarray,
    vnorms: tuple[np.ndarray, np.ndarray] | None = None,
) -> ExampleResult:
    """An ExampleResult built by hand: [CLS]/[SEP] are special, a '##' piece joins the word before it."""
    word_index, words, word_segments = [], [], []
    for t, (tok, seg) in enumerate(zip(tokens, segments, strict=True)):
        if tok.startswith("##") and t > 0 and tokens[t - 1] not in ("[CLS]", "[SEP]"):
            words[-1] += tok[2:]
        else:
            words.append(tok)
            word_segments.append(seg)
        word_index.append(len(words) - 1)
    n = len(tokens)
    enc = Encoding(input_ids=tuple(range(n)), tokens=tuple(tokens), segment_ids=tuple(segments),
                   special_positions=tuple(i for i, t in enumerate(tokens) if t in ("[CLS]", "[SEP]")),
                   word_index=tuple(word_index), words=tuple(words), word_segments=tuple(word_segments), text="",
                   text_pair=None, truncated=False, n_untruncated=n)  # fmt: skip
    vb, vt = vnorms if vnorms is not None else (None, None)
    return ExampleResult(encoding=enc, attn_base=attn_base.astype(np.float32),
                         attn_tuned=attn_tuned.astype(np.float32), prediction_tuned=None, prediction_base=None,
                         base_ref="base", tuned_ref="tuned", vnorm_base=vb, vnorm_tuned=vt)  # fmt: skip


_RESIDUAL_ATTENTION = flows.residual_attention


def _mean_rownorm(
    attn: np.ndarray, heads: tuple[int, ...] | list[int] | None = None, residual: bool = True
) -> np.ndarray:
    """``flows.residual_attention(..., residual=False)``: what the engine's ``residual: false`` means (for a measure
    that already includes the residual): (L, H, n, n) -> (L, n, n)."""
    return _RESIDUAL_ATTENTION(attn, heads, residual=False)


@contextmanager
def residual_mode(residual: bool) -> Iterator[None]:
    """Python's definitions with (default) or without the rollout's ½·I residual."""
    if residual:
        yield
        return
    with (
        mock.patch.object(flows, "residual_attention", _mean_rownorm),
        mock.patch.object(graph, "residual_attention", _mean_rownorm),
    ):
        yield


@dataclass
class Case:
    """One engine run: an analysed example, the view toggles, and the function-level calls to check too."""

    analysis: Analysis
    per_head: bool = False
    differences: bool = True
    residual: bool = True
    ops: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)  # (op, args, Python's answer)
    view: dict[str, Any] = field(default_factory=dict)  # Python's figure data
    graph: PairGraph | None = None


def _tokens(rng: np.random.Generator, n: int) -> tuple[list[str], list[int]]:
    """n tokens: [CLS] A [SEP] (B [SEP] from 5 tokens on), some '##' pieces, labels with HTML and non-BMP text."""
    pool = ["the", "capital", "paris", "<b>", "&", "é", "😀", "x", "unquestionably", "?", ","]
    body = n - 3 if n >= 5 else n - 2
    first = max(1, body // 2) if n >= 5 else body

    def words(k: int) -> list[str]:
        out: list[str] = []
        for _ in range(k):
            piece = str(rng.choice(pool))
            out.append("##" + piece if out and rng.random() < 0.3 else piece)
        return out

    tokens = ["[CLS]", *words(first), "[SEP]"]
    segments = [0] * len(tokens)
    if n >= 5:
        tokens += [*words(body - first), "[SEP]"]
        segments += [1] * (body - first + 1)
    return tokens, segments


def random_case(k: int) -> Case:
    """Random case k (seeded): both methods, all τ and α values, per-head and differences in every combination."""
    rng = np.random.default_rng(1000 + k)
    n = 3 if k == 0 else 40 if k == 1 else int(rng.integers(3, 41))
    n_layers, n_heads = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    tokens, segments = _tokens(rng, n)
    sharp = float(rng.choice([1.0, 2.5, 4.0]))
    base = softmax_attention(rng, (n_layers, n_heads, n, n), sharp)
    tuned = 0.6 * base + 0.4 * softmax_attention(rng, (n_layers, n_heads, n, n), sharp)
    vn = rng.uniform(0.2, 2.0, (2, n_layers, n_heads, n)).astype(np.float32)
    result = make_example(tokens, segments, base, tuned, (vn[0], vn[1]))
    unit = "word" if k % 3 == 2 else "token"
    n_units = len(result.encoding.words) if unit == "word" else n
    layers = None
    if rng.random() < 0.6:
        a = int(rng.integers(1, n_layers + 1))
        layers = (a, int(rng.integers(a, n_layers + 1)))
    heads = None
    if rng.random() < 0.5:
        size = int(rng.integers(1, n_heads + 1))
        heads = tuple(sorted(int(h) for h in rng.choice(n_heads, size=size, replace=False)))
    settings = FlowSettings(method=("trace", "rollout")[k % 2], source=int(rng.integers(0, n_units)),
                            threshold=TAUS[k % 6], layers=layers, heads=heads, decay=(1.0, 0.5)[(k // 6) % 2],
                            special=("keep", "exclude", "renormalise")[k % 3], unit=unit,
                            measure=("attention", "norm")[(k // 3) % 2])  # fmt: skip
    residual = k % 4 != 3
    with residual_mode(residual):
        an = analyse(result, settings)
    return Case(an, per_head=bool((k // 2) % 2), differences=bool((k // 4) % 2), residual=residual)


def golden_attention() -> tuple[np.ndarray, np.ndarray]:
    """3 tokens, 2 layers, 2 heads, dyadic values (every sum below is exact). attn[l-1, h, j, i]."""
    layer1 = [
        [[0.5, 0.5, 0], [0.25, 0.75, 0], [0, 0.5, 0.5]],
        [[1, 0, 0], [0.5, 0.25, 0.25], [0.125, 0.125, 0.75]],
    ]
    layer2 = [[[0.625, 0.375, 0], [0.5, 0.5, 0], [0, 0, 1]], [[0.25, 0, 0.75], [1, 0, 0], [0.5, 0, 0.5]]]
    base = np.array([layer1, layer2], dtype=np.float32)
    tuned = base.copy()
    tuned[1, 1, 0] = [0.5, 0, 0.5]
    return base, tuned


def golden_result() -> ExampleResult:
    return make_example(["[CLS]", "paris", "[SEP]"], [0, 0, 0], *golden_attention())


def uniform_result() -> ExampleResult:
    """8 tokens, every weight 1/8 in both models: every mass ties, every head ties (0.125 formats as '0.12')."""
    a = np.full((2, 3, 8, 8), 0.125, dtype=np.float32)
    return make_example(["[CLS]", "a", "b", "c", "[SEP]", "d", "e", "[SEP]"], [0] * 5 + [1] * 3, a, a)


def tied_heads_result() -> ExampleResult:
    """3 tokens, 1 layer, 12 heads: [CLS] gives head h the weight v_h on itself, with v = 0.5 on 8 heads — ties
    that numpy's (unstable, SIMD) argsort may list in another order than head order."""
    v = np.array([0.5, 0.25, 0.5, 0.25, 0.5, 0.125, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    a = np.tile(np.array([0.25, 0.5, 0.25]), (1, 12, 3, 1))
    a[0, :, 0] = np.stack([v, 1 - v, np.zeros(12)], axis=1)
    return make_example(["[CLS]", "paris", "[SEP]"], [0, 0, 0], a, a)


def _tiny_cases(tiny: ExampleResult, sharp: ExampleResult) -> dict[str, Case]:
    """The tiny models' example (real attention, value norms, WordPieces) and the peaky one, max-flow included."""
    specs: dict[str, tuple[ExampleResult, FlowSettings, bool, bool]] = {
        "tiny-trace-norm": (tiny, FlowSettings(source=3, threshold=0.05), False, True),
        "tiny-trace-words": (
            tiny,
            FlowSettings(source=2, threshold=0.1, decay=0.5, unit="word", special="renormalise"),
            True,
            False,
        ),
        "tiny-rollout-head1": (
            tiny,
            FlowSettings(method="rollout", source=5, heads=(1,), measure="attention"),
            True,
            True,
        ),
        "tiny-rollout-top-layer": (
            tiny,
            FlowSettings(method="rollout", layers=(2, 2), special="exclude"),
            False,
            False,
        ),
        "tiny-maxflow-words": (tiny, FlowSettings(method="maxflow", source=4, unit="word"), True, True),
        "sharp-trace": (sharp, FlowSettings(source=6, threshold=0.1, decay=0.8), False, False),
        "sharp-trace-stops": (sharp, FlowSettings(source=6, threshold=0.97), True, True),
        "sharp-trace-range": (
            sharp,
            FlowSettings(source=1, threshold=0.01, layers=(2, 3), heads=(0, 2)),
            True,
            True,
        ),
        "sharp-rollout": (sharp, FlowSettings(method="rollout", source=6, decay=0.5), True, True),
        "sharp-maxflow": (sharp, FlowSettings(method="maxflow", source=3), False, True),
        "sharp-maxflow-range": (
            sharp,
            FlowSettings(method="maxflow", source=8, layers=(2, 3), heads=(0, 2)),
            True,
            False,
        ),
    }
    return {k: Case(analyse(r, s), per_head=p, differences=d) for k, (r, s, p, d) in specs.items()}


def _golden_cases() -> dict[str, Case]:
    golden, uniform = golden_result(), uniform_result()
    specs: dict[str, tuple[ExampleResult, FlowSettings, bool, bool]] = {
        "golden-trace": (golden, FlowSettings(threshold=0.3, measure="attention"), True, False),
        "golden-rollout": (golden, FlowSettings(method="rollout", measure="attention"), True, True),
        "golden-rollout-no-residual": (
            golden,
            FlowSettings(method="rollout", measure="attention"),
            False,
            False,
        ),
        "golden-maxflow": (golden, FlowSettings(method="maxflow", measure="attention"), True, True),
        "uniform-trace": (uniform, FlowSettings(source=2, threshold=0.1, measure="attention"), True, True),
        "uniform-rollout": (
            uniform,
            FlowSettings(method="rollout", source=5, measure="attention"),
            True,
            False,
        ),
        "tied-heads": (tied_heads_result(), FlowSettings(method="rollout", measure="attention"), True, False),
    }
    out = {}
    for key, (result, settings, per_head, differences) in specs.items():
        residual = not key.endswith("no-residual")
        with residual_mode(residual):
            out[key] = Case(analyse(result, settings), per_head, differences, residual)
    return out


GOLDEN_IDS = ["golden-trace", "golden-rollout", "golden-rollout-no-residual", "golden-maxflow", "uniform-trace",
              "uniform-rollout", "tied-heads"]  # fmt: skip
TINY_IDS = ["tiny-trace-norm", "tiny-trace-words", "tiny-rollout-head1", "tiny-rollout-top-layer",
            "tiny-maxflow-words", "sharp-trace", "sharp-trace-stops", "sharp-trace-range", "sharp-rollout",
            "sharp-maxflow", "sharp-maxflow-range"]  # fmt: skip
RANDOM_IDS = [f"random-{k:02d}" for k in range(N_RANDOM)]
CASE_IDS = GOLDEN_IDS + TINY_IDS + RANDOM_IDS

# ------------------------------------------------------------------ Python's answers


def python_view(an: Analysis, per_head: bool, differences: bool) -> dict[str, Any]:
    """The figure data the Bokeh layout holds, in the engine's shape (``figureData``)."""
    root = build_flow_layout(an, per_head=per_head, differences=differences)
    named = {m.name: m for m in root.references() if getattr(m, "name", None)}  # one walk: select() is slow
    fig, sentence, caption = named["flow_graph"], named["sentence_view"], named["flow_caption"]
    data = [r.data_source.data for r in fig.renderers]
    stop = named.get("trace_stopped")
    hover = next(t for t in fig.tools if isinstance(t, HoverTool) and t.tooltips[0][0] == "edge")
    axis = fig.xaxis[0]
    rects = [r for r in sentence.renderers if isinstance(r.glyph, Rect)]
    ring = named["sentence_mark"].data
    head_edges = named["head_edges"] if per_head else None

    def grid(key: str) -> dict[str, Any]:
        g = named[f"head_grid_{key}"]
        cells = g.renderers[0]
        return {"title": g.title.text, "data": dict(cells.data_source.data),
                "high": cells.glyph.fill_color.transform.high, "yRange": [g.y_range.start, g.y_range.end],
                "ticks": list(g.yaxis[0].ticker.ticks)}  # fmt: skip

    return {
        "graph": {
            "title": fig.title.text,
            "xRange": [fig.x_range.start, fig.x_range.end],
            "yRange": [fig.y_range.start, fig.y_range.end],
            "height": fig.height,
            "ticks": list(axis.ticker.ticks),
            "tickLabels": {str(k): v for k, v in axis.major_label_overrides.items()},
            "stopLabel": stop.text if stop is not None else "",
            "flowName": hover.tooltips[2][0].removesuffix(" pre-trained"),
            "legend": next(d for d in data if "colour" in d and "label" in d),
            "tokenLabels": next(d for d in data if "xl" in d),
            "ring": named["source_ring"].data,
        },
        "edges": named["edges"].data,
        "headEdges": head_edges.data if head_edges is not None else None,
        "nodes": {k: np.asarray(v).tolist() for k, v in named["nodes"].data.items()},
        "caption": {"text": caption.text, "height": caption.height},
        "sentence": {
            "data": named["sentence"].data,
            "title": sentence.title.text,
            "height": sentence.height,
            "yRange": [sentence.y_range.start, sentence.y_range.end],
            "high": rects[0].glyph.fill_color.transform.high,
            "highlight": {"x": ring["x"][0], "y": ring["y"][0], "w": ring["w"][0]},
        },
        "grids": {"base": grid("base"), "tuned": grid("tuned")},
    }


def _ops(case: Case) -> list[tuple[str, dict[str, Any], Any]]:
    """Function-level checks on a random case: trace, residual attention, rollout and both methods' scores."""
    an = case.analysis
    s = an.settings
    kw = {
        "source": s.source,
        "threshold": s.threshold,
        "layers": s.layers,
        "heads": s.heads,
        "decay": s.decay,
    }
    opts = {**kw, "layers": list(s.layers) if s.layers else None, "heads": list(s.heads) if s.heads else None}
    a, b = an.layer_range
    with residual_mode(case.residual):
        return [
            ("trace", {"attn": "base", "opts": opts}, flows.trace(an.attn_base, **kw)),
            (
                "residualAttention",
                {"attn": "tuned", "heads": opts["heads"], "layers": [a, b], "residual": case.residual},
                flows.residual_attention(an.attn_tuned[a - 1 : b], s.heads),
            ),
            (
                "rollout",
                {"attn": "base", "heads": opts["heads"], "residual": case.residual},
                flows.rollout(an.attn_base, s.heads),
            ),
            (
                "flowScores",
                {"attn": "base", "method": "trace", "opts": opts},
                methods.flow_scores(an.attn_base, "trace", **kw),
            ),
            (
                "flowScores",
                {"attn": "tuned", "method": "rollout", "opts": {**opts, "residual": case.residual}},
                methods.flow_scores(an.attn_tuned, "rollout", **kw),
            ),
        ]


def _encode(value: Any) -> Any:
    """numpy arrays as tagged base64 (exact and compact), inside dicts and lists too."""
    if isinstance(value, np.ndarray):
        tag = {"f": "$f64", "i": "$i32"}[value.dtype.kind] if value.dtype != np.float32 else "$f32"
        dtype = {"$f32": "<f4", "$f64": "<f8", "$i32": "<i4"}[tag]
        return {tag: base64.b64encode(np.ascontiguousarray(value, dtype=dtype).tobytes()).decode("ascii")}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def run_engine(node: str, vocab: dict[str, Any], cases: list[dict[str, Any]]) -> dict[str, Any]:
    """All cases through ``engine_runner.js`` in one Node.js process: {case id: {"figure": …, "ops": [...]}}."""
    text = json.dumps(_encode({"vocab": vocab, "cases": cases}))
    proc = subprocess.run([node, str(RUNNER)], input=text, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the engine runner failed in Node.js:\n{proc.stderr[-4000:]}"
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def engine_case(case_id: str, case: Case) -> dict[str, Any]:
    """The runner's input for one case: payload, settings and (max-flow) the server's edges."""
    an = case.analysis
    out = {
        "id": case_id,
        "payload": engine_payload(an, measure_includes_residual=not case.residual),
        "settings": engine_settings(an, case.per_head, case.differences),
        "ops": [{"op": op, "args": args} for op, args, _ in case.ops],
    }
    if an.settings.method == "maxflow":
        out["maxflow"] = maxflow_edges(drawn_graph(an))
    return out


@pytest.fixture(scope="module")
def cases(tiny_result: ExampleResult, sharp_result: ExampleResult) -> dict[str, Case]:
    """Every case, with Python's figure data (built under the case's residual mode) and pair graph."""
    out = {**_golden_cases(), **_tiny_cases(tiny_result, sharp_result)}
    for k in range(N_RANDOM):
        case = random_case(k)
        case.ops = _ops(case)
        out[f"random-{k:02d}"] = case
    for case in out.values():
        with residual_mode(case.residual):
            case.view = python_view(case.analysis, case.per_head, case.differences)
            case.graph = drawn_graph(case.analysis)
    assert sorted(out) == sorted(CASE_IDS)
    return out


@pytest.fixture(scope="module")
def engine(cases: dict[str, Case], node_binary: str) -> dict[str, Any]:
    """The engine's output for every case (one Node.js process), plus the extra checks' batches."""
    batch = [engine_case(k, c) for k, c in cases.items()]
    batch += [{"id": k, "ops": [{"op": op, "args": args} for op, args, _ in ops]} for k, ops in EXTRA.items()]
    return run_engine(node_binary, engine_vocab(), batch)


# ------------------------------------------------------------------ comparisons


def _sig_unit(v: float, digits: int = 5) -> float:
    return 10.0 ** (np.floor(np.log10(abs(v))) - digits + 1) if v else 0.0


def assert_rounded(
    js: list[float], py: list[float], unit: float | Callable[[float], float], what: str
) -> None:
    """Values Python rounds: equal to the rounding unit (a fixed unit, or one per value)."""
    assert len(js) == len(py), what
    for k, (x, y) in enumerate(zip(js, py, strict=True)):
        u = unit(y) if callable(unit) else unit
        assert abs(x - y) <= u * (1 + 1e-9), f"{what}[{k}]: engine {x!r}, Python {y!r}"


def assert_close(js: Any, py: Any, what: str, rtol: float = 1e-9) -> None:
    np.testing.assert_allclose(np.asarray(js, dtype=np.float64), np.asarray(py, dtype=np.float64), rtol=rtol,
                               atol=0, err_msg=what)  # fmt: skip


def assert_exact(js: dict[str, Any], py: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    for key in keys:
        assert list(js[key]) == list(py[key]), f"{what}.{key}"


def _per_head_ok(js: str, py: str, wb: np.ndarray, wt: np.ndarray, heads: tuple[int, ...]) -> bool:
    """The top-heads text: identical, or (numpy's argsort is not stable) the same heads up to the order of ties."""
    if js == py:
        return True
    top = {h: float(max(wb[c], wt[c])) for c, h in enumerate(heads)}
    text = {h: f"h{h} {wb[c]:.2f}→{wt[c]:.2f}" for c, h in enumerate(heads)}
    js_e, py_e = js.split(", "), py.split(", ")
    js_h = [int(e.split(" ")[0][1:]) for e in js_e]
    py_h = [int(e.split(" ")[0][1:]) for e in py_e]
    return (
        len(js_h) == len(py_h)
        and all(e == text[h] for e, h in zip(js_e, js_h, strict=True))
        and sorted(top[h] for h in js_h) == sorted(top[h] for h in py_h)
        and all(top[x] >= top[y] for x, y in zip(js_h, js_h[1:], strict=False))
    )


def assert_view_equal(js: dict[str, Any], py: dict[str, Any], g: PairGraph) -> None:
    """The engine's figure data equals the Bokeh layout's, column by column."""
    jg, pg = js["graph"], py["graph"]
    for key in (
        "title",
        "xRange",
        "yRange",
        "height",
        "ticks",
        "tickLabels",
        "stopLabel",
        "flowName",
        "ring",
    ):
        assert jg[key] == pg[key], f"graph.{key}"
    assert jg["legend"] == pg["legend"] and jg["tokenLabels"] == pg["tokenLabels"]
    assert js["caption"] == py["caption"]
    je, pe = js["edges"], py["edges"]
    assert_exact(je, pe, ("x0", "y0", "x1", "y1", "colour", "alpha", "status", "from", "to", "layer", "xm", "ym"),
                 "edges")  # fmt: skip
    assert_rounded(je["width"], pe["width"], 0.01, "edges.width")
    for key in ("mb", "mt", "ab", "at"):
        assert_rounded(je[key], pe[key], _sig_unit, f"edges.{key}")
    for k, (x, y) in enumerate(zip(je["perhead"], pe["perhead"], strict=True)):
        assert _per_head_ok(x, y, g.attn_base[k], g.attn_tuned[k], g.heads), (
            f"edges.perhead[{k}]: {x!r} vs {y!r}"
        )
    if py["headEdges"] is None:
        assert js["headEdges"] is None
    else:
        jh, ph = js["headEdges"], py["headEdges"]
        assert_exact(jh, ph, ("x0", "x1", "colour", "alpha", "head"), "headEdges")
        for key in ("y0", "y1"):
            assert_close(jh[key], ph[key], f"headEdges.{key}")
        assert_rounded(jh["width"], ph["width"], 0.01, "headEdges.width")
        assert_rounded(jh["w"], ph["w"], 1e-4, "headEdges.w")
    jn, pn = js["nodes"], py["nodes"]
    assert_exact(jn, pn, ("x", "y", "layer", "token", "label", "xb", "xt"), "nodes")
    for key in ("ib", "it", "sb", "st"):  # float32 columns: to float32's rounding unit
        assert_close(jn[key], pn[key], f"nodes.{key}", rtol=2.0**-23)
    js_s, py_s = js["sentence"], py["sentence"]
    for key in ("title", "height", "yRange", "highlight"):
        assert js_s[key] == py_s[key], f"sentence.{key}"
    assert_close([js_s["high"]], [py_s["high"]], "sentence.high")
    assert_exact(js_s["data"], py_s["data"], ("x", "yb", "yt", "y", "w", "text", "tc"), "sentence")
    for key in ("sb", "st"):
        assert_rounded(js_s["data"][key], py_s["data"][key], _sig_unit, f"sentence.{key}")
    for key in ("base", "tuned"):
        jd, pd = js["grids"][key], py["grids"][key]
        assert jd["title"] == pd["title"], f"grids.{key}.title"
        assert_close([jd["high"]], [pd["high"]], f"grids.{key}.high")
        assert set(jd["data"]) == set(pd["data"])
        assert_exact(jd["data"], pd["data"], ("layer", "head"), f"grids.{key}")
        for col in ("v", "pre-trained", "fine-tuned"):
            assert_rounded(jd["data"][col], pd["data"][col], 1e-4, f"grids.{key}.{col}")


def assert_pair_equal(js: dict[str, Any], g: PairGraph, n_layers: int, n: int) -> None:
    """The merged graph: same edges in the same order, statuses, masses, per-head attention and node flows."""
    assert js["nEdges"] == g.n_edges
    for key, arr in (("layer", g.layer), ("src", g.src), ("dst", g.dst), ("status", g.status)):
        assert js[key] == arr.tolist(), f"pair.{key}"
    assert js["heads"] == list(g.heads)
    nh = len(g.heads)
    for key, arr in (("massBase", g.mass_base), ("massTuned", g.mass_tuned), ("meanBase", g.mean_base),
                     ("meanTuned", g.mean_tuned)):  # fmt: skip
        assert_close(js[key], arr, f"pair.{key}")
    assert_close(np.reshape(js["attnBase"], (-1, nh)), g.attn_base.reshape(-1, nh), "pair.attnBase")
    assert_close(np.reshape(js["attnTuned"], (-1, nh)), g.attn_tuned.reshape(-1, nh), "pair.attnTuned")
    for key, e in (("base", g.base), ("tuned", g.tuned)):
        je = js[key]
        assert je["stopped"] == e.stopped, f"{key}.stopped"
        for col in ("layer", "src", "dst"):
            assert je[col] == getattr(e, col).tolist(), f"{key}.{col}"
        assert_close(je["mass"], e.mass, f"{key}.mass")
        assert_close(np.reshape(je["node"], (n_layers + 1, n)), e.node, f"{key}.node")


# ------------------------------------------------------------------ the tests: every case


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_the_view_equals_pythons(case_id: str, cases: dict[str, Case], engine: dict[str, Any]) -> None:
    """figureData: every column, title, caption, range and tick label of the flow view, as the Bokeh layout has it."""
    js = engine[case_id]["figure"]
    assert "error" not in js, js.get("error")
    case = cases[case_id]
    assert case.graph is not None
    assert_view_equal(js, case.view, case.graph)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_the_graph_and_scores_equal_pythons(
    case_id: str, cases: dict[str, Case], engine: dict[str, Any]
) -> None:
    """The merged pair graph, both models' method edges, the head shares and the sentence's flow scores."""
    js = engine[case_id]["figure"]
    case = cases[case_id]
    an, g = case.analysis, case.graph
    assert g is not None
    n_layers, n_heads = an.attn_base.shape[:2]
    assert_pair_equal(js["pair"], g, n_layers, an.n)
    for key in ("base", "tuned"):
        assert_close(js["shares"][key], head_shares(g, n_layers, n_heads, key).ravel(), f"shares.{key}")
    assert_close(js["scores"]["base"], an.scores_base, "scores.base")
    assert_close(js["scores"]["tuned"], an.scores_tuned, "scores.tuned")


@pytest.mark.parametrize("case_id", [k for k in CASE_IDS if "maxflow" not in k])
def test_masses_are_identical_to_the_bit(
    case_id: str, cases: dict[str, Case], engine: dict[str, Any]
) -> None:
    """Trace and rollout masses and node flows equal numpy's bit for bit (same order of additions, numpy's pairwise
    sums): the budget's ties (``m >= kth``, mass order) then break the same way in both."""
    js = engine[case_id]["figure"]["pair"]
    g = cases[case_id].graph
    assert g is not None
    assert js["massBase"] == g.mass_base.tolist() and js["massTuned"] == g.mass_tuned.tolist()
    assert js["base"]["node"] == g.base.node.ravel().tolist()
    assert js["tuned"]["node"] == g.tuned.node.ravel().tolist()


@pytest.mark.parametrize("case_id", RANDOM_IDS)
def test_the_flow_functions_equal_pythons(
    case_id: str, cases: dict[str, Case], engine: dict[str, Any]
) -> None:
    """trace (edges, influence, input scores), residual attention, full rollout and both methods' flow scores."""
    ops = engine[case_id]["ops"]
    expected = [want for _, _, want in cases[case_id].ops]
    t, want_t = ops[0], expected[0]
    assert t["nEdges"] == want_t.n_edges
    for key in ("layer", "head", "src", "dst"):
        assert t[key] == getattr(want_t, key).tolist(), f"trace.{key}"
    assert t["weight"] == want_t.weight.tolist()
    assert t["influence"] == want_t.influence.ravel().tolist()
    assert_close(t["inputScores"], want_t.input_scores, "trace.input_scores")
    assert ops[1] == expected[1].ravel().tolist()  # residual attention: bit for bit
    assert_close(ops[2], expected[2].ravel(), "rollout")  # numpy multiplies with BLAS: to 1e-9
    assert_close(ops[3], expected[3], "flow_scores trace")
    assert_close(ops[4], expected[4], "flow_scores rollout")


# ------------------------------------------------------------------ golden values worked by hand

# trace from [CLS] at τ = 0.3 (module docstring of flows): influence per layer, and the merged masses of the edges
# the budget keeps (each reached token keeps its 2 strongest incoming edges, ties included).
GOLDEN_TRACE = {
    "base": {
        "influence": [[0.28125, 0.2421875, 0.234375], [0.3125, 0.1875, 0.375], [1, 0, 0]],
        "scores": [36 / 97, 31 / 97, 30 / 97],
        "edges": {
            (2, 0, 0): 0.3125,
            (2, 0, 1): 0.1875,
            (2, 0, 2): 0.375,
            (1, 0, 0): 0.234375,
            (1, 0, 1): 0.078125,
            (1, 1, 0): 0.046875,
            (1, 2, 1): 0.09375,
            (1, 2, 2): 0.234375,
        },
    },
    "tuned": {
        "influence": [[0.46875, 0.2734375, 0.15625], [0.5625, 0.1875, 0.25], [1, 0, 0]],
        "scores": [12 / 23, 7 / 23, 4 / 23],
        "edges": {
            (2, 0, 0): 0.5625,
            (2, 0, 1): 0.1875,
            (2, 0, 2): 0.25,
            (1, 0, 0): 0.421875,
            (1, 0, 1): 0.140625,
            (1, 1, 0): 0.046875,
            (1, 1, 1): 0.0703125,
            (1, 2, 2): 0.15625,
        },
    },
}
# rollout from [CLS]: r_1 = Â_2[0], r_0 = r_1 · Â_1 (Â = ½·mean_h(A) + ½·I; rows already sum to 1)
GOLDEN_ROLLOUT = [[0.65234375, 0.189453125, 0.158203125], [0.71875, 0.09375, 0.1875], [1, 0, 0]]
# without the residual (a measure that includes it): Â = mean_h(A)
GOLDEN_ROLLOUT_NO_RESIDUAL = [[0.421875, 0.3203125, 0.2578125], [0.4375, 0.1875, 0.375], [1, 0, 0]]


def test_golden_trace_worked_by_hand(cases: dict[str, Case], engine: dict[str, Any]) -> None:
    js = engine["golden-trace"]["figure"]
    g = cases["golden-trace"].graph
    assert g is not None
    for key, e in (("base", g.base), ("tuned", g.tuned)):
        want = GOLDEN_TRACE[key]
        assert js["pair"][key]["node"] == np.ravel(want["influence"]).tolist() == e.node.ravel().tolist()
        assert js["scores"][key] == pytest.approx(want["scores"], rel=1e-15)
        drawn = {(lay, j, i): m for lay, j, i, m in zip(js["pair"][key]["layer"], js["pair"][key]["src"],
                                                          js["pair"][key]["dst"], js["pair"][key]["mass"],
                                                          strict=True)}  # fmt: skip
        assert drawn == want["edges"]
    # both keep the 3 top edges; below, the pre-trained model keeps 2 → 1 (its 0.09375 beats 1 → 1's 0.0703125),
    # the fine-tuned 1 → 1 (0.0703125 beats 2 → 1's 0.0625)
    statuses = dict(zip(zip(js["pair"]["layer"], js["pair"]["src"], js["pair"]["dst"], strict=True),
                        js["pair"]["status"], strict=True))  # fmt: skip
    assert statuses == {(2, 0, 0): "shared", (2, 0, 1): "shared", (2, 0, 2): "shared", (1, 0, 0): "shared",
                        (1, 0, 1): "shared", (1, 1, 0): "shared", (1, 1, 1): "tuned", (1, 2, 1): "base",
                        (1, 2, 2): "shared"}  # fmt: skip
    assert js["edges"]["status"] == [engine_vocab()["statusLabels"][s] for s in js["pair"]["status"]]


@pytest.mark.parametrize(("case_id", "want"), [("golden-rollout", GOLDEN_ROLLOUT),
                                                ("golden-rollout-no-residual", GOLDEN_ROLLOUT_NO_RESIDUAL)])  # fmt: skip
def test_golden_rollout_worked_by_hand(case_id: str, want: list[list[float]], engine: dict[str, Any]) -> None:
    js = engine[case_id]["figure"]
    assert js["pair"]["base"]["node"] == np.ravel(want).tolist()
    assert js["scores"]["base"] == want[0]
    # the rollout keeps every layer's mass: each layer's drawn masses sum to at most that layer's flow (1)
    top = [
        m for lay, m in zip(js["pair"]["base"]["layer"], js["pair"]["base"]["mass"], strict=True) if lay == 2
    ]
    assert top == [want[1][0], want[1][1], want[1][2]]


def test_uniform_attention_breaks_every_tie_like_python(
    cases: dict[str, Case], engine: dict[str, Any]
) -> None:
    """All masses equal: the budget keeps the per-node ties and orders by (src, dst); 0.125 prints as '0.12'."""
    js = engine["uniform-trace"]["figure"]
    g = cases["uniform-trace"].graph
    assert g is not None
    assert js["pair"]["layer"] == g.layer.tolist() and js["pair"]["src"] == g.src.tolist()
    assert js["pair"]["dst"] == g.dst.tolist()
    # layer 2: 8 edges from the source (2, all tied); layer 1: the per-layer budget (75 // 2) in (src, dst) order
    assert g.n_edges == 8 + 37
    assert js["edges"]["perhead"][0] == "h0 0.12→0.12, h1 0.12→0.12, h2 0.12→0.12"


def test_tied_heads_are_listed_in_head_order(cases: dict[str, Case], engine: dict[str, Any]) -> None:
    """The hover's top heads: among equal attention, the engine lists heads in order (a stable sort); Python's
    ``np.argsort`` is not stable (numpy 2 sorts with SIMD) and may not — the view test accepts either order."""
    js = engine["tied-heads"]["figure"]
    g = cases["tied-heads"].graph
    assert g is not None
    k = [(lay, j, i) for lay, j, i in zip(g.layer, g.src, g.dst, strict=True)].index((1, 0, 0))
    assert js["edges"]["perhead"][k] == "h0 0.50→0.50, h2 0.50→0.50, h4 0.50→0.50, h6 0.50→0.50"


# ------------------------------------------------------------------ the building blocks


def _budget_masses() -> dict[int, np.ndarray]:
    """Three layers of 4 × 4 masses with ties at the per-node cut and in the per-layer order."""
    m3 = np.array([[0, 0, 0, 0], [0.25, 0.25, 0.125, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]])
    m2 = np.array([[0.5, 0.25, 0, 0], [0.25, 0.25, 0.25, 0], [0.25, 0.25, 0.25, 0.125], [0.125, 0, 0, 0.5]])
    m1 = np.array([[0.125, 0.125, 0, 0], [0, 0.5, 0, 0], [0.125, 0.125, 0.125, 0], [0.5, 0, 0, 0.25]])
    return {3: m3, 2: m2, 1: m1}


BUDGETS = [(75, 2), (6, 2), (3, 1), (9, 1), (2, 3), (75, 4)]  # (max_edges, per_node)
FORMAT_VALUES = [0.0, 0.125, 0.375, 0.625, 0.875, 2.675, 1.125, 0.00390625, 1e-5, 1.5e-05, 0.05, 0.1, 0.3, 0.9,
                 0.97, 0.5, 1.0, 123456.0, 1234567.0, 0.000123456789, 12345.5, 12344.5, 0.015625, 7.8, 0.1234565,
                 1 / 3, 2 / 3, 0.99999999, 5e-324, 1e300]  # fmt: skip
SUM_ROWS = [np.random.default_rng(n).random(n) * 10.0 ** np.random.default_rng(n + 1).integers(-8, 8, n)
            for n in (1, 2, 7, 8, 9, 15, 16, 17, 100, 127, 128, 129, 130, 255, 256, 257, 300, 513, 1000)]  # fmt: skip
_PALETTE = ramp(TUNED)
#: Values for the colour mapper: inside, on and outside the ranges below, NaN and ±inf.
MAPPED_VALUES = np.array([-2.0, -1.0, -0.5, 0.0, 1e-9, 0.0149, 0.015, 0.03, 0.5, 0.999, 1.0, 1.5, np.nan, np.inf,
                          -np.inf])  # fmt: skip
#: Cells one label is written on: every shade of both models' ramps and of the palettes the app draws, alone, and
#: the sentence strip's pairs (each pre-trained shade with each k-th fine-tuned one).
TEXT_FILLS = [[c] for c in (*ramp(BASE), *ramp(TUNED), *Greys256[::5], *Viridis256[::5], *RdBu11)]
TEXT_FILL_PAIRS = [[b, t] for b in ramp(BASE)[::3] for t in ramp(TUNED)[::3]]

EXTRA: dict[str, list[tuple[str, dict[str, Any], Any]]] = {
    "budget": [
        (
            "budget",
            {"masses": _budget_masses(), "n": 4, "source": 1, "layers": [1, 3], "maxEdges": m, "perNode": p},
            graph.budget(_budget_masses(), 1, (1, 3), m, p),
        )
        for m, p in BUDGETS
    ],
    "numerics": [
        ("sum", {"rows": SUM_ROWS}, [float(r.sum()) for r in SUM_ROWS]),
        ("format", {"fn": "sig", "values": FORMAT_VALUES}, [float(f"{v:.5g}") for v in FORMAT_VALUES]),
        ("format", {"fn": "fmtG", "values": FORMAT_VALUES}, [f"{v:g}" for v in FORMAT_VALUES]),
        ("format", {"fn": "fixed2", "values": FORMAT_VALUES}, [f"{v:.2f}" for v in FORMAT_VALUES]),
        ("format", {"fn": "pyRound2", "values": FORMAT_VALUES}, [round(v, 2) for v in FORMAT_VALUES]),
        ("format", {"fn": "pyRound4", "values": FORMAT_VALUES}, [round(v, 4) for v in FORMAT_VALUES]),
        (
            "format",
            {"fn": "npRound2", "values": FORMAT_VALUES},
            [float(round(np.float64(v), 2)) for v in FORMAT_VALUES],
        ),
        (
            "format",
            {"fn": "npRound4", "values": FORMAT_VALUES},
            np.round(np.array(FORMAT_VALUES), 4).tolist(),
        ),
    ],
    "colours": [
        (
            "mappedColour",
            {"palette": _PALETTE, "values": MAPPED_VALUES, "low": low, "high": high},
            [mapped_colour(_PALETTE, v, low, high) for v in MAPPED_VALUES.tolist()],
        )
        for low, high in ((0.0, 1.0), (-1.0, 1.0), (0.0, 0.03), (1.0, 1.0), (1.0, 0.0))
    ]
    + [
        ("textOn", {"fills": fills, "dark": DARK_TEXT, "light": LIGHT_TEXT}, [text_on(*f) for f in fills])
        for fills in (TEXT_FILLS, TEXT_FILL_PAIRS)
    ],  # fmt: skip
    "errors": [
        ("selectHeads", {"H": 4, "heads": []}, "select at least one head"),
        ("selectHeads", {"H": 4, "heads": [1, 4]}, "heads must be in 0..3"),
        ("selectHeads", {"H": 4, "heads": [3, 1, 3]}, [1, 3]),
    ],
}


def test_the_budget_keeps_pythons_ties(engine: dict[str, Any]) -> None:
    """graph.budget on hand-made masses full of ties, for several budgets: the same edges in the same order."""
    for (op, _, want), got in zip(EXTRA["budget"], engine["budget"]["ops"], strict=True):
        assert op == "budget"
        assert [tuple(e) for e in got] == want
    assert len(engine["budget"]["ops"][0]) > len(engine["budget"]["ops"][2])  # ties kept at per_node = 2


def test_sums_and_formatting_are_pythons(engine: dict[str, Any]) -> None:
    """numpy's pairwise sums bit for bit; Python's rounding and formatting, exact ties (0.125 → '0.12') included."""
    for (_, args, want), got in zip(EXTRA["numerics"], engine["numerics"]["ops"], strict=True):
        assert got == want, args.get("fn", "sum")


def test_colours_are_pythons(engine: dict[str, Any]) -> None:
    """theme.mapped_colour (NaN, ±inf and empty ranges included) and theme.text_on (WCAG contrast, over one fill and
    over both halves of a sentence cell): the engine's colours are Python's."""
    for (op, args, want), got in zip(EXTRA["colours"], engine["colours"]["ops"], strict=True):
        assert got == want, (op, args.get("low"), args.get("high"))
    assert {LIGHT_TEXT, DARK_TEXT} <= {c for (_, _, want) in EXTRA["colours"][-2:] for c in want}


def test_bad_settings_are_refused(engine: dict[str, Any]) -> None:
    for (_, _, want), got in zip(EXTRA["errors"], engine["errors"]["ops"], strict=True):
        if isinstance(want, str):
            assert want in got["error"]
        else:
            assert got == want


def test_no_wording_is_written_twice() -> None:
    """Titles, labels and colours reach the engine through ``engine_vocab`` only: none is spelled in the JS."""
    source = ENGINE_JS_PATH.read_text(encoding="utf-8")
    vocab = engine_vocab()
    words = [*vocab["methodTitles"].values(), *vocab["measureTitles"].values(), *vocab["statusLabels"].values(),
             *vocab["statusColours"].values(), vocab["faded"], vocab["highlight"]]  # fmt: skip
    for word in words:
        assert word not in source, word
