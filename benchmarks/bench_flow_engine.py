"""The browser's flow engine against the server's redraw, on the 128-token QA pair (6 layers × 12 heads).

    python benchmarks/bench_flow_engine.py [--repeat 21]

For each drawing setting (trace at τ = 0.05 and 0.1, rollout, a head subset, a layer range, per-head edges), the
median time of ``AttnflowEngine.figureData`` in Node.js (``bench_flow_engine.js``: everything a redraw needs, from
the measured attention to the figure columns) beside what the server does for the same change today, measured in
the same run: ``analyse`` + building and serialising the Attention flow layout (as ``streamlit_bokeh`` sends it).
Also prints the size of the payload the browser would receive once per example.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import base64
import json
import shutil
import statistics
import subprocess
import time
from typing import Any

import numpy as np
from bench_browser import PASSAGE, QUESTION
from bokeh.embed import json_item

from attnflow_core.analysis import FlowSettings, analyse
from attnflow_core.extract import extract
from attnflow_core.methods import METHODS
from attnflow_core.models import get_pair_spec, load_pair
from attnflow_core.plots.flow_graph import build_flow_layout
from attnflow_core.plots.flow_payload import engine_payload, engine_settings, engine_vocab

SCENARIOS: dict[str, tuple[FlowSettings, bool]] = {
    "trace tau 0.05": (FlowSettings(threshold=0.05), False),
    "trace tau 0.1": (FlowSettings(threshold=0.1), False),
    "rollout": (FlowSettings(method=METHODS.get("rollout")), False),
    "trace heads 0-5": (FlowSettings(heads=(0, 1, 2, 3, 4, 5)), False),
    "trace layers 2-5": (FlowSettings(layers=(2, 5)), False),
    "rollout heads 0-5, layers 2-5": (
        FlowSettings(method=METHODS.get("rollout"), heads=(0, 1, 2, 3, 4, 5), layers=(2, 5)),
        False,
    ),
    "trace tau 0.05, per-head edges": (FlowSettings(threshold=0.05), True),
}


def python_redraw(result: Any, settings: FlowSettings, per_head: bool, repeat: int) -> tuple[float, Any]:
    """Median seconds of analyse + the layout built and serialised; and the last analysis."""
    times, an = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        an = analyse(result, settings)
        json.dumps(json_item(build_flow_layout(an, result, per_head=per_head)))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), an


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21, help="timed runs of the engine per setting")
    parser.add_argument("--python-repeat", type=int, default=5, help="timed runs of the server's redraw")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        raise SystemExit("Node.js is needed: install it so that `node` is on the PATH")
    spec = get_pair_spec("embedded-qa")
    pair = load_pair(spec.base, spec.tuned, spec.label_names)
    result = extract(pair, QUESTION, PASSAGE + " " + PASSAGE, max_length=128)
    py_ms, scenarios, payload = {}, [], None
    for name, (settings, per_head) in SCENARIOS.items():
        seconds, an = python_redraw(result, settings, per_head, args.python_repeat)
        py_ms[name] = seconds * 1000
        scenarios.append({"name": name, "settings": engine_settings(an, per_head, differences=True)})
        payload = payload or engine_payload(an)  # measure, specials and units are the same in every scenario
    assert payload is not None
    raw = payload["attnBase"].nbytes + payload["attnTuned"].nbytes
    for key in ("attnBase", "attnTuned"):
        payload[key] = base64.b64encode(np.ascontiguousarray(payload[key]).tobytes()).decode("ascii")
    text = json.dumps(
        {"payload": payload, "vocab": engine_vocab(), "scenarios": scenarios, "repeat": args.repeat}
    )
    script = str(Path(__file__).with_suffix(".js"))
    proc = subprocess.run([node, script], input=text, capture_output=True, text=True, check=True)
    js = json.loads(proc.stdout)
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"tokens: {result.encoding.n}; layers x heads: {result.num_layers} x {result.num_heads}; Node.js {version}"
    )
    print(
        f"payload, once per example: {raw / 2**20:.1f} MiB of float32 attention ({len(text) / 2**20:.1f} MiB as JSON)"
    )
    for name in SCENARIOS:
        r = js[name]
        print(
            f"{name:32s} engine figureData {r['median_ms']:6.1f} ms (min {r['min_ms']:5.1f}; {r['edges']:3d} edges"
            f"{', ' + str(r['head_edges']) + ' head edges' if r['head_edges'] else ''}) | server analyse + layout "
            f"{py_ms[name]:6.0f} ms -> {py_ms[name] / r['median_ms']:5.0f}x"
        )


if __name__ == "__main__":
    main()
