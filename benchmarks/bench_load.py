"""A class on one server: concurrent browser sessions, one of them computing a Dataset overview.

    python benchmarks/bench_load.py [--sessions 6] [--tau-moves 10] [--root APP_FOLDER]
    python benchmarks/bench_load.py --sessions 30 --no-overview

Starts ``streamlit run app.py`` (from ``--root``, default this checkout: pass an unpacked older commit to measure
"before") offline on a free loopback port, then drives ``--sessions`` headless Chromium sessions at once
(Playwright's async API: one browser, one context per session). Each session walks Examples → Attention flow
(``--tau-moves`` threshold steps with the arrow key on the view's τ slider, each timed in the page from the key
press until the redrawn figure is painted) → Head differences, on its own demo example; session 0 first starts a
Dataset overview of the demo set (Compute) and times it. Every wait is bounded (``--timeout``); a step that runs past
it is counted as a timeout. Prints the median and worst time of each kind of step, the timeouts, and the server's
resident memory (RSS) at its peak and at the end (psutil, sampled every 0.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_browser import (  # noqa: E402 - the in-page clock and the server, defined once there
    FOCUS_HANDLE_JS,
    INPUT_CLOCK_JS,
    SINCE_INPUT_JS,
    start_server,
)

CHROMIUM = os.environ.get("ATTNFLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# The newest Bokeh document holding a model called NAME (a rerun embeds a new document).
HAS_MODEL_JS = (
    """(name) => !!window.Bokeh && Bokeh.documents.some((d) => d.get_model_by_name(name) !== null)"""
)
TITLE_JS = """() => { for (const d of (window.Bokeh ? Bokeh.documents : []).slice().reverse()) {
  const m = d.get_model_by_name("flow_graph"); if (m) return m.title.text; } return ""; }"""


class Timings:
    """Step name -> seconds (None for a step that ran past the timeout)."""

    def __init__(self) -> None:
        self.steps: dict[str, list[float | None]] = defaultdict(list)

    async def time(self, name: str, action: Any, timeout_s: float) -> bool:
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(action, timeout_s)
        except Exception as err:  # noqa: BLE001 - a failed step is counted
            self.steps[name].append(None)
            print(
                f"  {name}: {err.__class__.__name__} after {time.perf_counter() - t0:.0f} s", file=sys.stderr
            )
            return False
        self.steps[name].append(time.perf_counter() - t0)
        return True


async def wait_model(page: Any, name: str) -> None:
    await page.wait_for_function(HAS_MODEL_JS, arg=name, timeout=0)
    await page.wait_for_selector(IDLE, timeout=0)


async def walk(browser: Any, url: str, index: int, args: argparse.Namespace, timings: Timings) -> None:
    context = await browser.new_context(viewport={"width": 1500, "height": 1100})
    page = await context.new_page()
    page.set_default_timeout(args.timeout * 1000)
    t = args.timeout
    try:
        if index == 0 and args.overview:
            await page.goto(f"{url}/overview?task=qa")
            await page.wait_for_selector(IDLE)
            n_input = page.get_by_label("Examples (N)")
            await n_input.fill(str(args.overview_n))
            await n_input.press("Enter")
            await page.wait_for_selector(IDLE)
            await page.get_by_role("button", name="Compute").click()
            # the overview runs while the other sessions walk; this session waits for it
            await timings.time(f"overview (N={args.overview_n})", wait_model(page, "overview_layout"), t * 4)
        example = f"demo-qa-{index % 40 + 1:02d}"
        ok = await timings.time("open Examples", _goto(page, f"{url}/?task=qa&ex={example}"), t)
        if ok:
            ok = await timings.time(
                "Examples → Attention flow", _nav(page, "Attention flow", "flow_graph"), t
            )
        tau = 0.10
        await page.evaluate(INPUT_CLOCK_JS)
        for _ in range(args.tau_moves if ok else 0):
            tau = round(tau + 0.01, 2)
            try:
                ms = await asyncio.wait_for(_tau(page, tau), t)
            except Exception as err:  # noqa: BLE001 - a failed step is counted
                timings.steps["τ move"].append(None)
                print(f"  τ move: {err.__class__.__name__}", file=sys.stderr)
                ok = False
                break
            timings.steps["τ move"].append(ms / 1000)
        if ok:
            await timings.time("→ Head differences", _nav(page, "Head differences", "js_heatmap"), t)
    finally:
        await context.close()


async def _goto(page: Any, url: str) -> None:
    await page.goto(url)
    await page.get_by_role("heading", name="Examples").first.wait_for()
    await page.wait_for_selector(IDLE)


async def _nav(page: Any, title: str, model: str) -> None:
    await page.get_by_role("link", name=title).first.click()
    await page.get_by_role("heading", name=title).first.wait_for()
    await page.wait_for_function(HAS_MODEL_JS, arg=model)
    await page.wait_for_selector(IDLE)


async def _tau(page: Any, tau: float) -> float:
    """One τ step with the arrow key on the view's slider: ms from the key press to the new figure painted."""
    await page.evaluate(FOCUS_HANDLE_JS, ["w_tau", 0])
    await page.keyboard.press("ArrowRight")
    return float(await page.evaluate(SINCE_INPUT_JS, f"({TITLE_JS})().includes('τ = {tau:g},')"))


async def run(args: argparse.Namespace, url: str) -> Timings:
    from playwright.async_api import async_playwright

    timings = Timings()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # Warm-up (not timed): the server loads the models once, as it would before a class starts.
            warm = await browser.new_page()
            await warm.goto(f"{url}/flow?task=qa")
            await warm.wait_for_function(HAS_MODEL_JS, arg="flow_graph", timeout=args.timeout * 1000)
            await warm.close()
            sessions = [walk(browser, url, i, args, timings) for i in range(args.sessions)]
            await asyncio.gather(*sessions)
        finally:
            await browser.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=6, help="concurrent browser sessions (default 6)")
    parser.add_argument("--tau-moves", type=int, default=10, help="threshold steps per session (default 10)")
    parser.add_argument(
        "--overview-n", type=int, default=44, help="examples in session 0's overview (default 44)"
    )
    parser.add_argument(
        "--no-overview", dest="overview", action="store_false", help="no session computes one"
    )
    parser.add_argument("--timeout", type=float, default=240, help="seconds one step may take (default 240)")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the app folder to serve (default this checkout)"
    )
    args = parser.parse_args()
    import threading

    import psutil

    proc, url = start_server(args.root.resolve())
    server = psutil.Process(proc.pid)
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            try:
                rss = server.memory_info().rss + sum(
                    c.memory_info().rss for c in server.children(recursive=True)
                )
            except psutil.Error:
                return
            peak[0] = max(peak[0], rss / 2**20)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        timings = asyncio.run(run(args, url))
        end_rss = server.memory_info().rss / 2**20
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=30)
    wall = time.perf_counter() - t0
    print(f"{args.sessions} sessions on {os.cpu_count()} CPUs, app from {args.root}; wall {wall:.0f} s")
    print(f"{'step':28s} {'n':>3s} {'median s':>9s} {'worst s':>8s} {'timeouts':>9s}")
    for name, values in timings.steps.items():
        done = [v for v in values if v is not None]
        med = f"{statistics.median(done):9.1f}" if done else f"{'—':>9s}"
        worst = f"{max(done):8.1f}" if done else f"{'—':>8s}"
        print(f"{name:28s} {len(values):3d} {med} {worst} {len(values) - len(done):9d}")
    print(f"server RSS: peak {peak[0]:.0f} MiB, at the end {end_rss:.0f} MiB")


if __name__ == "__main__":
    main()
