"""Fixtures shared by the plot-builder tests: one tiny random-weight model pair, an example run through it, and a
harness that runs a layout's CustomJS callback in Node.js the way BokehJS would."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bokeh.model import Model
from bokeh.models import ColumnDataSource, CustomJS, LinearColorMapper
from bokeh.models.annotations import Title
from bokeh.models.widgets import Div

from attnflow_core.extract import ExampleResult, extract
from attnflow_core.models import ModelPair, load_pair
from tiny import make_tiny_bert_dir

QUESTION = "what is the capital of france ?"
ANSWER = "paris , unquestionably"


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> ModelPair:
    """A tiny encoder (2 layers × 2 heads) and a tiny classifier of the same shape, with different seeds."""
    root: Path = tmp_path_factory.mktemp("tiny-plots")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return load_pair(str(root / "base"), str(root / "tuned"))


@pytest.fixture(scope="session")
def tiny_result(tiny_pair: ModelPair) -> ExampleResult:
    """A question/answer pair run through both tiny models (16 tokens, two segments, WordPieces)."""
    return extract(tiny_pair, QUESTION, ANSWER)


def softmax_attention(rng: np.random.Generator, shape: tuple[int, ...], sharpness: float = 2.5) -> np.ndarray:
    """Random attention (..., n, n) whose rows sum to 1; larger ``sharpness`` gives peakier rows."""
    logits = sharpness * rng.standard_normal(shape)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture
def random_attention() -> Callable[..., np.ndarray]:
    """``softmax_attention(rng, shape, sharpness=2.5)`` for tests that hand-build attention arrays."""
    return softmax_attention


@pytest.fixture(scope="session")
def sharp_result(tiny_result: ExampleResult) -> ExampleResult:
    """The tiny example's tokens with hand-built peaky attention (3 layers × 3 heads, float32 like the models').

    Random-weight BERTs attend almost uniformly (every weight ≈ 1/n), so no threshold separates edges; this keeps
    the real encoding (segments, WordPieces) but gives traces that keep some edges, drop others, and differ between
    the two models.
    """
    rng = np.random.default_rng(7)
    n = tiny_result.encoding.n
    base = softmax_attention(rng, (3, 3, n, n)).astype(np.float32)
    # The "fine-tuned" attention: the same logits nudged, so the two traces share some edges and differ on others.
    tuned = softmax_attention(rng, (3, 3, n, n), sharpness=1.0) * 0.4 + base * 0.6
    return ExampleResult(
        encoding=tiny_result.encoding,
        attn_base=base,
        attn_tuned=tuned.astype(np.float32),
        prediction_tuned=None,
        prediction_base=None,
        base_ref="base",
        tuned_ref="tuned",
    )


def _arg_to_json(name: str, value: Any) -> Any:
    """One CustomJS arg as BokehJS sees it: models reduced to the properties the callbacks read and write."""
    if isinstance(value, ColumnDataSource):
        return {
            "data": {k: list(np.asarray(v).tolist()) for k, v in value.data.items()},
            "selected": {"indices": list(value.selected.indices)},
        }
    if isinstance(value, Div | Title):
        return {"text": value.text}
    if isinstance(value, LinearColorMapper):
        return {"low": value.low, "high": value.high, "palette": list(value.palette)}
    if isinstance(value, Model) and "value" in value.properties():  # a widget: its value
        return {"value": _plain(value.value)}
    if isinstance(value, Model):
        raise AssertionError(
            f"the JS harness does not know how to pass arg {name!r} of type {type(value).__name__}"
        )
    return _plain(value)


def _plain(value: Any) -> Any:
    """numpy arrays (BokehJS gets them as typed arrays) as lists, inside dicts and lists too."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_HARNESS = r"""
const fs = require("fs");
const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const names = Object.keys(spec.args);
const values = names.map((k) => spec.args[k]);
for (const [name, indices] of Object.entries(spec.select)) { spec.args[name].selected.indices = indices; }
// As BokehJS's CustomJS._compile_function: strict mode, the args by name, then cb_obj, cb_data, cb_context.
const func = new Function(...names, "cb_obj", "cb_data", "cb_context", '"use strict";\n' + spec.code);
const cb_obj = spec.select_on === null ? null : spec.args[spec.select_on].selected;
func.call(cb_obj, ...values, cb_obj, {}, {});
const plain = (key, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v);
process.stdout.write(JSON.stringify(spec.args, plain));
"""


@pytest.fixture(scope="session")
def node_binary() -> str:
    """The Node.js executable; the CustomJS tests fail (not skip) without it, since they guard the browser code."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is needed to run the layouts' CustomJS callbacks in tests: install Node.js (v18 or newer, "
            "e.g. `apt-get install nodejs`) so that `node` is on the PATH."
        )
    return node


@pytest.fixture
def run_customjs(node_binary: str, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Run a CustomJS callback in Node.js after selecting ``select`` = {arg name: indices}; returns every arg's
    state afterwards (ColumnDataSources as {data, selected}, Divs/Titles as {text}, colour mappers as {low, high})."""

    def run(callback: CustomJS, select: dict[str, list[int]]) -> dict[str, Any]:
        spec = {
            "args": {name: _arg_to_json(name, value) for name, value in callback.args.items()},
            "code": callback.code,
            "select": select,
            "select_on": next(iter(select), None),
        }
        spec_path = tmp_path / "spec.json"
        spec_path.write_text(json.dumps(spec))
        harness = tmp_path / "harness.js"
        harness.write_text(_HARNESS)
        proc = subprocess.run(
            [node_binary, str(harness), str(spec_path)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, f"the CustomJS callback failed in Node.js:\n{proc.stderr}"
        return json.loads(proc.stdout)

    return run
