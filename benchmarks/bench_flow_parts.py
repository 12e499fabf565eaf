"""Server side of one Attention flow redraw at 128 tokens, in two parts: ``analyse`` and the layout (built and
serialised as ``streamlit_bokeh`` sends it), for a τ step of the trace and for max-flow.

    python benchmarks/bench_flow_parts.py [ROOT]

``ROOT`` (default: this repository) is the tree to import, so an older commit exported with ``git archive`` can be
measured by the same script in the same session.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import json
import statistics
import time
from dataclasses import replace

from bench_browser import PASSAGE, QUESTION
from bokeh.embed import json_item

from attnflow_core.analysis import FlowSettings, analyse
from attnflow_core.extract import extract
from attnflow_core.methods import METHODS
from attnflow_core.models import get_pair_spec, load_pair
from attnflow_core.plots.flow_graph import build_flow_layout


def main() -> None:
    spec = get_pair_spec("embedded-qa")
    pair = load_pair(spec.base, spec.tuned, spec.label_names)
    result = extract(pair, QUESTION, PASSAGE + " " + PASSAGE, max_length=128)
    for method, taus in (("trace", (0.11, 0.12, 0.13, 0.14, 0.15)), ("maxflow", (0.1, 0.1, 0.1))):
        t_an, t_lay, size = [], [], 0
        for tau in taus:
            t0 = time.perf_counter()
            a = analyse(result, replace(FlowSettings(), threshold=tau, method=METHODS.get(method)))
            t1 = time.perf_counter()
            size = len(json.dumps(json_item(build_flow_layout(a))))
            t_an.append(t1 - t0)
            t_lay.append(time.perf_counter() - t1)
        total = statistics.median([x + y for x, y in zip(t_an, t_lay, strict=True)])
        print(
            f"{method:8s} analyse {statistics.median(t_an) * 1000:5.0f} ms + layout/serialise "
            f"{statistics.median(t_lay) * 1000:5.0f} ms = {total * 1000:5.0f} ms ({size / 1024:.0f} KiB)"
        )


if __name__ == "__main__":
    main()
