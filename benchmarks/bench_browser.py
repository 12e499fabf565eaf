"""What a student feels: a control moved -> the new figure painted, timed in the browser.

    python benchmarks/bench_browser.py [--repeat 7]

Starts ``streamlit run app.py`` offline on a free port, opens the Attention flow page in Debian's headless Chromium
(Playwright) on a 128-token QA pair, and times, inside the page, from the input event (a key press on a slider, a
click; a capture-phase listener notes its time) until the view has redrawn and the browser has painted it (two
animation frames after the redraw):

- τ one step (the arrow key on the view's τ slider), the layer range one step, a head subset, a click on a token
  node, switching to rollout (all redrawn in the browser), and switching to max-flow (solved on the server);
- the sidebar's fine-tuning checkpoint slider, one step (a full run of the page: the chosen checkpoint's models,
  extraction and view; a new Bokeh document), on a checkpoint's first visit and on one visited before;
- on the Head differences page, choosing another head (a tap on a heatmap cell) and Zero (one forward pass of the
  fine-tuned model) until the new confidence shows.

It also counts the page's Bokeh documents and the flow figure's model id before and after (an in-place redraw keeps
both), and the server's CPU seconds per drawing change (psutil on the server process: the views' debounced reports
rerun a fragment). The reference, measured in the same run, is a full reload of the same view (navigation -> figure
painted): the ratios say how much faster a drawing change is than rebuilding the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from typing import Any

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

#: In the page: every key press and pointer press notes its time (capture phase, before the app sees it).
INPUT_CLOCK_JS = """(() => { if (window.__afClock) return; window.__afClock = true;
  for (const t of ["keydown", "pointerdown"]) {
    window.addEventListener(t, () => { window.__afT0 = performance.now(); }, true);
  } })()"""
#: In the page: wait until ``done()`` holds, then two animation frames (painted); ms since the last input.
SINCE_INPUT_JS = """(done) => new Promise((resolve) => {
  const check = () => { if (new Function("return " + done)()) {
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - window.__afT0)));
    } else { setTimeout(check, 2); } };
  check(); })"""
VIEW_JS = """(n) => (window.attnflowViews && attnflowViews.flow) ? attnflowViews.flow.doc.get_model_by_name(n) : null"""
FOCUS_HANDLE_JS = """([name, which]) => {
  const doc = attnflowViews.flow.doc, model = doc.get_model_by_name(name);
  const view = Object.values(Bokeh.index).flatMap(function walk(v) {
    return [v, ...(v.child_views || []).flatMap(walk)]; }).find((v) => v.model === model);
  (view.shadow_el || view.el).querySelectorAll(".noUi-handle")[which].focus(); }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(root: Path = ROOT) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "ATTNFLOW_CACHE": tempfile.mkdtemp(prefix="attnflow-bench-")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(root / "app.py"), "--server.address=127.0.0.1",
         f"--server.port={port}", "--server.headless=true", "--browser.gatherUsageStats=false"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the server did not start within 120 s")


def drawn(page: Any) -> int:
    return int(page.evaluate("() => window.attnflowDrawn || 0"))


def timed(page: Any, act: Any, done_js: str) -> float:
    """ms from the input ``act`` makes to ``done_js`` holding and the frame painted (at most the page's timeout)."""
    act()
    page.wait_for_function(done_js)
    return float(page.evaluate(SINCE_INPUT_JS, done_js))


def redrawn_after(page: Any) -> str:
    return f"(window.attnflowDrawn || 0) > {drawn(page)}"


def flow_changes(page: Any, repeat: int) -> dict[str, list[float]]:
    """Every drawing change, ``repeat`` times each (undone between, so each is a real change)."""
    out: dict[str, list[float]] = {k: [] for k in ("τ step", "layer range", "heads", "node click", "rollout")}
    kb = page.keyboard
    for k in range(repeat):
        page.evaluate(FOCUS_HANDLE_JS, ["w_tau", 0])
        out["τ step"].append(timed(page, lambda: kb.press("ArrowRight"), redrawn_after(page)))
        page.evaluate(FOCUS_HANDLE_JS, ["w_layers", 0])
        key = "ArrowRight" if k % 2 == 0 else "ArrowLeft"
        out["layer range"].append(timed(page, lambda key=key: kb.press(key), redrawn_after(page)))
        heads = ["0", "3"] if k % 2 == 0 else []
        done = redrawn_after(page)
        out["heads"].append(timed(
            page, lambda heads=heads: page.evaluate(
                "(h) => { window.__afT0 = performance.now(); attnflowViews.flow.doc.get_model_by_name('w_heads').value = h; }",
                heads), done))  # fmt: skip
        token = 3 + k
        xy = page.evaluate(
            """(t) => { const doc = attnflowViews.flow.doc, fig = doc.get_model_by_name("flow_graph");
              const view = Object.values(Bokeh.index).flatMap(function walk(v) {
                return [v, ...(v.child_views || []).flatMap(walk)]; }).find((v) => v.model === fig);
              view.el.scrollIntoView({block: "start"});
              const r = view.canvas_view.el.getBoundingClientRect();
              return [r.left + view.frame.x_scale.compute(fig.x_range.end - 1.2), r.top + view.frame.y_scale.compute(-t)]; }""",
            token,
        )  # fmt: skip
        out["node click"].append(
            timed(page, lambda xy=xy: page.mouse.click(xy[0], xy[1]), redrawn_after(page))
        )
        out["rollout"].append(timed(page, lambda: page.get_by_text("Attention rollout", exact=True).first.click(),
                                    redrawn_after(page)))  # fmt: skip
        page.get_by_text("Thresholded trace", exact=True).first.click()
        page.wait_for_function("() => attnflowViews.flow.doc.get_model_by_name('flow_graph').title.text"
                               ".startsWith('Thresholded trace')")  # fmt: skip
    return out


def maxflow_changes(page: Any, repeat: int) -> dict[str, list[float]]:
    """Switching to max-flow (solved on the server for the view's source; a new source each time)."""
    out: dict[str, list[float]] = {"max-flow (server)": []}
    for k in range(repeat):
        page.evaluate(
            "(s) => { attnflowViews.flow.doc.get_model_by_name('w_source').value = String(s); }", 10 + k
        )
        out["max-flow (server)"].append(timed(
            page, lambda: page.get_by_text("Attention max-flow", exact=True).first.click(),
            "(() => { const f = attnflowViews.flow.doc.get_model_by_name('flow_graph');"
            " return f.title.text.startsWith('Attention max-flow of'); })()"))  # fmt: skip
        page.get_by_text("Thresholded trace", exact=True).first.click()
        page.wait_for_function("() => attnflowViews.flow.doc.get_model_by_name('flow_graph').title.text"
                               ".startsWith('Thresholded trace')")  # fmt: skip
        page.wait_for_selector(IDLE)
    return out


#: The sidebar's fine-tuning checkpoint slider (Streamlit's <input type=range>).
CHECKPOINT_SLIDER = '[data-testid="stSidebar"] [data-testid="stSlider"] input'
#: The embedded QA counterpart's checkpoints, by step (the slider's positions; the last is the final model).
QA_STEPS = (0, 28, 57, 113, 226, 339)


def _tuned_title_is(step: int) -> str:
    """The flow view shows checkpoint ``step``: its fine-tuned head grid says so (the final one says nothing)."""
    label = "fine-tuned" if step == QA_STEPS[-1] else f"fine-tuned (step {step} of {QA_STEPS[-1]})"
    return (f"(() => {{ try {{ return ({VIEW_JS})('head_grid_tuned').title.text.endsWith('— {label}'); }}"
            " catch (e) { return false; } })()")  # fmt: skip


def checkpoint_changes(page: Any, repeat: int) -> tuple[dict[str, list[float]], bool]:
    """The checkpoint slider, one step (an arrow key) at a time: first down from the final checkpoint to step 0
    (each a first visit: the checkpoint loaded, both models run, its view built), back up (each visited before),
    then ``repeat`` moves between the final checkpoint and the one before it (visited). Also whether the view's
    drawing settings (the graph title's settings part) survived every move."""
    out: dict[str, list[float]] = {"checkpoint, first visit": [], "checkpoint, visited": []}
    settings = page.evaluate(f"() => ({VIEW_JS})('flow_graph').title.text.split(' — ')[1]")
    kept = True
    slider = page.locator(CHECKPOINT_SLIDER)
    at = len(QA_STEPS) - 1
    moves = ["ArrowLeft"] * at + ["ArrowRight"] * at + ["ArrowLeft", "ArrowRight"] * ((repeat + 1) // 2)
    for k, key in enumerate(moves):
        at += -1 if key == "ArrowLeft" else 1
        slider.focus()
        ms = timed(page, lambda key=key: page.keyboard.press(key), _tuned_title_is(QA_STEPS[at]))
        out["checkpoint, first visit" if k < len(QA_STEPS) - 1 else "checkpoint, visited"].append(ms)
        page.wait_for_selector(IDLE)
        page.wait_for_function(f"() => ({VIEW_JS})('flow_graph').title.text.split(' — ')[1] === {settings!r}")
        kept = (
            kept and page.evaluate(f"() => ({VIEW_JS})('flow_graph').title.text.split(' — ')[1]") == settings
        )
    if at != len(QA_STEPS) - 1:
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(_tuned_title_is(QA_STEPS[-1]))
        page.wait_for_selector(IDLE)
    return out, kept


def head_changes(page: Any, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"head tap": [], "Zero → confidence (server)": []}
    for k in range(repeat):
        cell = (k * 7 + 5) % 72
        xy = page.evaluate(
            """(k) => { const doc = attnflowViews.heads.doc, fig = doc.get_model_by_name("js_heatmap");
              const view = Object.values(Bokeh.index).flatMap(function walk(v) {
                return [v, ...(v.child_views || []).flatMap(walk)]; }).find((v) => v.model === fig);
              view.el.scrollIntoView({block: "center"});
              const r = view.canvas_view.el.getBoundingClientRect();
              return [r.left + view.frame.x_scale.compute(k % 12), r.top + view.frame.y_scale.compute(Math.floor(k / 12) + 1)]; }""",
            cell,
        )  # fmt: skip
        out["head tap"].append(timed(page, lambda xy=xy: page.mouse.click(xy[0], xy[1]),
                                     f"window.attnflowHeadShown === {cell}"))  # fmt: skip
        page.wait_for_selector(IDLE)
        shown = page.locator('[data-testid="stMetricValue"]').count()
        button = page.get_by_role("button", name="Zero in the fine-tuned model")
        button.scroll_into_view_if_needed()
        out["Zero → confidence (server)"].append(timed(
            page, button.click,
            f"document.querySelectorAll('[data-testid=\"stMetricValue\"]').length > {shown}"
            f" && document.querySelector('[data-testid=\"stApp\"]').dataset.testScriptState === 'notRunning'"))  # fmt: skip
        page.get_by_role("button", name="Start from the 3 most changed heads").click()
        page.wait_for_selector(IDLE)
    return out


def main() -> None:
    import psutil
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    proc, base = start_server()
    server = psutil.Process(proc.pid)
    query = urllib.parse.urlencode({"task": "qa", "text": QUESTION, "text_pair": PASSAGE + " " + PASSAGE})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(120_000)
            page.add_init_script(INPUT_CLOCK_JS)
            page.goto(f"{base}/flow?{query}")  # warm: loads the models, extracts, builds the view
            page.wait_for_function("() => (window.attnflowDrawn || 0) >= 1")
            page.wait_for_selector(IDLE)
            reloads = []
            for _ in range(3):  # the reference: the same view rebuilt by a full reload
                t0 = time.perf_counter()
                page.reload()
                page.wait_for_function("() => (window.attnflowDrawn || 0) >= 1")
                page.evaluate(
                    "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
                )
                reloads.append((time.perf_counter() - t0) * 1000)
                page.wait_for_selector(IDLE)
            n_tokens = page.evaluate(f"() => ({VIEW_JS})('sentence').data.text.length")
            docs = page.evaluate("() => Bokeh.documents.length")
            fig_id = page.evaluate(f"() => ({VIEW_JS})('flow_graph').id")
            cpu0 = server.cpu_times()
            print("timing the flow view's drawing changes …", file=sys.stderr)
            changes = flow_changes(page, args.repeat)
            page.wait_for_timeout(1500)  # the last debounced report
            page.wait_for_selector(IDLE)
            cpu1 = server.cpu_times()
            n_changes = sum(len(v) for v in changes.values())
            print("timing max-flow …", file=sys.stderr)
            changes |= maxflow_changes(page, args.repeat)
            docs_after = page.evaluate("() => Bokeh.documents.length")
            same_fig = page.evaluate(f"() => ({VIEW_JS})('flow_graph').id") == fig_id
            page.wait_for_timeout(1500)  # the last debounced report (the switch back to the trace)
            page.wait_for_selector(IDLE)
            print("timing the checkpoint slider …", file=sys.stderr)
            checkpoints, settings_kept = checkpoint_changes(page, args.repeat)
            page.goto(f"{base}/heads?{query}")
            page.wait_for_function("() => window.attnflowHeadShown !== undefined")
            page.wait_for_selector(IDLE)
            print("timing the head page …", file=sys.stderr)
            heads = head_changes(page, args.repeat)
            rss = server.memory_info().rss / 2**20
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ref = statistics.median(reloads)
    print(
        f"{n_tokens} tokens, embedded QA pair, {os.cpu_count()} CPUs; medians of {args.repeat}, input -> painted:"
    )
    print(f"  reference: full reload of the view {ref:.0f} ms")
    for name, values in {**changes, **checkpoints, **heads}.items():
        med = statistics.median(values)
        print(f"  {name:28s} {med:7.0f} ms  (min {min(values):.0f}, max {max(values):.0f}; "
              f"reload / this = {ref / med:.0f}x)")  # fmt: skip
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) * 1000 / max(n_changes, 1)
    print(
        f"  server CPU per drawing change (in-browser changes; their debounced reports included): {cpu:.0f} ms"
    )
    print(
        f"  Bokeh documents in the page: {docs} before, {docs_after} after; flow figure kept its id: {same_fig}"
    )
    print(f"  the view's drawing settings survived every checkpoint move: {settings_kept}")
    print(f"  server RSS at the end: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
