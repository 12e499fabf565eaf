"""End-to-end latency of a settings change as the student sees it: slider moved -> new flow graph drawn.

    python benchmarks/bench_browser.py [--repeat 5]

Starts ``streamlit run app.py`` offline on a free port, opens the Attention flow page in Debian's headless Chromium
(Playwright) on a 128-token QA pair, then moves the threshold slider with the keyboard (one step = 0.01) and times
until BokehJS has drawn the new figure (its title shows the new τ); then the same for switching the method to
max-flow and back. The reference, measured in the same run, is what the server computes for such a change
(``analyse`` + building and serialising the layout, in this process): the ratio is the cost of Streamlit's
rerun, the transfer and BokehJS's drawing on top of the computation.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import replace

from bokeh.embed import json_item

from attnflow_core.analysis import FlowSettings, analyse
from attnflow_core.extract import extract
from attnflow_core.methods import METHODS
from attnflow_core.models import get_pair_spec, load_pair
from attnflow_core.plots.flow_graph import build_flow_layout

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Which ship carried the first settlers to the colony?"
PASSAGE = (
    "The Mayflower, a merchant ship that had carried wine and cloth across the Channel for years, left Plymouth in "
    "September with about one hundred passengers, many of them seeking religious freedom, and after a hard crossing "
    "of more than two months it anchored off Cape Cod, where the passengers signed a compact before going ashore "
    "to find a place to build their first houses before the winter came and the cold sea froze along the coast."
)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# The newest document that holds the model (a rerun embeds a new document; older ones may linger in the list).
TITLE_JS = """() => { for (const d of (window.Bokeh ? Bokeh.documents : []).slice().reverse()) {
  const m = d.get_model_by_name("flow_graph"); if (m) return m.title.text; } return ""; }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_side(tau: float, method: str) -> float:
    """Seconds the server spends on one such change (analyse + flow layout + JSON), measured here."""
    spec = get_pair_spec("embedded-qa")
    pair = load_pair(spec.base, spec.tuned, spec.label_names)
    result = extract(pair, QUESTION, PASSAGE + " " + PASSAGE, max_length=128)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        a = analyse(result, replace(FlowSettings(), threshold=tau, method=METHODS.get(method)))
        json.dumps(json_item(build_flow_layout(a)))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "ATTNFLOW_CACHE": tempfile.mkdtemp(prefix="attnflow-bench-")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address=127.0.0.1",
         f"--server.port={port}", "--server.headless=true", "--browser.gatherUsageStats=false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        # Twice the passage: more than 128 tokens, which the app truncates to its limit of 128.
        query = urllib.parse.urlencode({"task": "qa", "text": QUESTION, "text_pair": PASSAGE + " " + PASSAGE})
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(180_000)
            page.goto(f"{base}/flow?{query}")
            page.wait_for_function(f"() => ({TITLE_JS})().includes('τ = 0.1,')")
            page.wait_for_selector(IDLE)
            n_tokens = page.evaluate("""() => { for (const d of Bokeh.documents) {
                const m = d.get_model_by_name("sentence"); if (m) return m.data.text.length; } return 0; }""")
            slider = page.get_by_role("slider", name="Threshold τ")
            tau_times = []
            tau = 0.10
            for _ in range(args.repeat):
                slider.focus()
                tau = round(tau + 0.01, 2)
                t0 = time.perf_counter()
                page.keyboard.press("ArrowRight")
                page.wait_for_function(f"() => ({TITLE_JS})().includes('τ = {tau:g},')")
                tau_times.append(time.perf_counter() - t0)
                page.wait_for_selector(IDLE)
            method_times = []
            for _ in range(args.repeat):
                for label, needle in (
                    ("Attention max-flow", "Attention max-flow of"),
                    ("Trace (paper: thresholded edges)", "Thresholded trace of"),
                ):
                    t0 = time.perf_counter()
                    page.get_by_text(label, exact=True).click()
                    # the flow graph's title names the method (each method draws its own graph)
                    page.wait_for_function(f"() => ({TITLE_JS})().startsWith('{needle}')")
                    if needle.startswith("Attention max-flow"):
                        method_times.append(time.perf_counter() - t0)
                    page.wait_for_selector(IDLE)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ref_tau, ref_mf = server_side(tau, "trace"), server_side(tau, "maxflow")
    t_tau, t_mf = statistics.median(tau_times), statistics.median(method_times)
    print(
        f"{n_tokens} tokens, embedded QA pair; medians of {args.repeat} changes, slider/click to figure drawn:"
    )
    print(f"  threshold τ one step: {t_tau * 1000:.0f} ms (server's own computation {ref_tau * 1000:.0f} ms; "
          f"ratio {t_tau / ref_tau:.1f}x)")  # fmt: skip
    print(f"  method -> max-flow:   {t_mf * 1000:.0f} ms (server's own computation {ref_mf * 1000:.0f} ms; "
          f"ratio {t_mf / ref_mf:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
