"""End to end in a real browser: Debian's Chromium driven by Playwright against ``streamlit run app.py``.

The app runs offline on the embedded models (HF_HUB_OFFLINE=1, a fresh cache folder). The tests load every page,
click a token node in the flow graph with the mouse and check the linked highlight in all three views, switch
examples and tasks, and record every request the page makes: none may leave 127.0.0.1. Screenshots go to
``$ATTNFLOW_SCREENSHOTS`` (``.ci/run`` sets ``artifacts/screenshots``), else to pytest's temporary folder.

Chromium comes from Debian (``apt-get install chromium``; ``.ci/run`` installs it). Playwright's own browser
download is never used: it needs the internet.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ATTNFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TIMEOUT_MS = 120_000

if not Path(CHROMIUM).exists():  # pragma: no cover - .ci/run installs it
    pytest.fail(
        f"Chromium is missing at {CHROMIUM}: install Debian's package (`apt-get install -y chromium`) "
        "or point ATTNFLOW_CHROMIUM at a Chromium binary",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = os.environ.get("ATTNFLOW_SCREENSHOTS")
    path = Path(out) if out else tmp_path_factory.mktemp("screenshots")
    if not path.is_absolute():
        path = ROOT / path
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app.py`` on a free loopback port, offline, with an empty cache; yields its base URL."""
    yield from _running_app(tmp_path_factory)


@pytest.fixture
def cold_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own that has loaded no model yet (a cold start; the module's server is warm after the first
    test)."""
    yield from _running_app(tmp_path_factory)


def _running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "ATTNFLOW_CACHE": str(tmp_path_factory.mktemp("attnflow-cache")),
    }
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
    ]
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]


class Requests:
    """Every URL the browser asked for (HTTP and WebSocket)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def add(self, url: str) -> None:
        self.urls.append(url)

    def external(self) -> list[str]:
        out = []
        for url in self.urls:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob", "about", "chrome-error"):
                continue
            if parsed.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Requests]]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    requests = Requests()
    pg.on("request", lambda r: requests.add(r.url))
    pg.on("websocket", lambda ws: requests.add(ws.url))
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield pg, requests
    finally:
        context.close()
    assert not errors, errors
    assert not requests.external(), requests.external()


def wait_idle(pg: Any) -> None:
    """Wait until Streamlit has finished its script run (the app root says so) and stays finished for a moment."""
    idle = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    for _ in range(2):  # a run may trigger one more (st.rerun, URL sync): settle twice
        pg.wait_for_selector(idle, timeout=TIMEOUT_MS)
        pg.wait_for_timeout(700)
    pg.wait_for_selector(idle, timeout=TIMEOUT_MS)


def assert_no_exception(pg: Any) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator(
        '[data-testid="stException"]'
    ).first.inner_text()
    assert pg.locator('[data-testid="stAlertContentError"]').count() == 0, pg.locator(
        '[data-testid="stAlertContentError"]'
    ).first.inner_text()


def wait_bokeh(pg: Any, name: str) -> None:
    """Wait until BokehJS has rendered a model called ``name``."""
    pg.wait_for_function(
        """(name) => window.Bokeh && Bokeh.documents.some((d) => d.get_model_by_name(name) !== null)
                     && Bokeh.index && Object.keys(Bokeh.index).length > 0""",
        arg=name,
        timeout=TIMEOUT_MS,
    )
    pg.wait_for_timeout(500)


# Finds a model's view among all rendered Bokeh views, and converts data coordinates to page pixels.
_JS_HELPERS = """
function afViews() {
  const out = [];
  const walk = (v) => { if (!v || out.includes(v)) return; out.push(v);
    for (const c of (v.child_views ?? [])) walk(c);
    for (const r of (v.renderer_views ? v.renderer_views.values() : [])) walk(r); };
  for (const v of Object.values(Bokeh.index)) walk(v);
  return out;
}
function afModel(name) {
  for (const d of Bokeh.documents.slice().reverse()) { const m = d.get_model_by_name(name); if (m) return m; }
  return null;
}
function afPlotView(name) { const m = afModel(name); return afViews().find((v) => v.model === m); }
"""


def js(fn: str) -> str:
    """A one-argument JavaScript function ``fn`` with the helpers above in scope, for ``page.evaluate``."""
    return f"(arg) => {{ {_JS_HELPERS}\n return ({fn})(arg); }}"


def until(fn: str) -> str:
    """``js(fn)`` for ``page.wait_for_function``: false while ``fn`` throws (a view being replaced has no models for
    a moment), so the wait goes on instead of failing."""
    return f"(arg) => {{ try {{ return ({js(fn)})(arg); }} catch (e) {{ return false; }} }}"


def node_position(pg: Any, layer: int, token: int) -> tuple[float, float]:
    """Page pixel coordinates of the flow-graph node (layer, token)."""
    xy = pg.evaluate(
        js(
            """([layer, token]) => {
          const pv = afPlotView("flow_graph");
          const rect = pv.canvas_view.el.getBoundingClientRect();
          const sx = pv.frame.x_scale.compute(layer), sy = pv.frame.y_scale.compute(-token);
          return [rect.left + sx, rect.top + sy];
        }"""
        ),
        [layer, token],
    )
    return float(xy[0]), float(xy[1])


def source_data(pg: Any, name: str, column: str) -> list[Any]:
    return list(
        pg.evaluate(
            js("([n, c]) => Array.from(afModel(n).data[c])"),
            [name, column],
        )
    )


def view_value(pg: Any, name: str, prop: str = "value") -> Any:
    """A property of a model of the page's interactive views (a control such as ``w_tau``)."""
    return pg.evaluate(js("([n, p]) => { const v = afModel(n)[p]; return Array.isArray(v) ? Array.from(v) : v; }"),
                       [name, prop])  # fmt: skip


def slider_handle(pg: Any, name: str, which: int = 0) -> Any:
    """The keyboard handle of a view's slider (``w_tau``, ``w_alpha``; ``w_layers`` has two): a real control the
    person focuses and moves with the arrow keys."""
    pg.evaluate(
        js("""([n, k]) => { const v = afViews().find((x) => x.model && x.model.name === n);
                 const root = v.shadow_el || v.el; root.querySelectorAll('.noUi-handle')[k].focus(); }"""),
        [name, which],
    )  # fmt: skip
    return pg.keyboard


def redraws(pg: Any) -> int:
    """How many times the flow view has redrawn in this page (``flow_view.js`` counts)."""
    return int(pg.evaluate("() => window.attnflowDrawn || 0"))


def wait_redrawn(pg: Any, before: int) -> None:
    """Wait until the flow view has redrawn since ``before`` and the browser has painted it."""
    pg.wait_for_function("(b) => (window.attnflowDrawn || 0) > b", arg=before, timeout=TIMEOUT_MS)
    pg.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def url_param(pg: Any, name: str) -> str | None:
    """A query parameter of the page's current address (``location``: Playwright's ``page.url`` can lag behind a
    replaced history entry)."""
    return pg.evaluate("(n) => new URLSearchParams(location.search).get(n)", name)


def wait_url_param(pg: Any, name: str, value: str) -> None:
    pg.wait_for_function("([n, v]) => new URLSearchParams(location.search).get(n) === v", arg=[name, value],
                         timeout=TIMEOUT_MS)  # fmt: skip


def shoot(pg: Any, path: Path) -> None:
    """A screenshot of the whole page, not the viewport: Streamlit scrolls inside its main container, so
    ``full_page`` alone would crop; the viewport grows to the content's height for the shot, then is restored."""
    size = pg.viewport_size
    height = pg.evaluate(
        """() => Math.max(document.body.scrollHeight,
             ...Array.from(document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"],'
               + ' section.main, [data-testid="stSidebarContent"]'), (el) => el.scrollHeight))"""
    )
    pg.set_viewport_size(
        {"width": size["width"], "height": max(size["height"], min(int(height) + 40, 12_000))}
    )
    pg.wait_for_timeout(400)
    try:
        pg.screenshot(path=str(path), full_page=True)
    finally:
        pg.set_viewport_size(size)


def open_url(pg: Any, url: str) -> None:
    pg.goto(url, wait_until="domcontentloaded")
    wait_idle(pg)


def demo_row_height(task: str) -> int:
    """The pixel height of a row of the Examples table on the task's demo set, first page (the page sizes its rows
    by ``browse.table_layout``: texts wrap)."""
    from attnflow_core import browse
    from attnflow_core.data.sources import load_examples
    from attnflow_core.data.tasks import TASKS

    rows = browse.page_of(load_examples(task, "demo", None).to_pandas(), 1).rows
    table = browse.prediction_table(rows, TASKS[task], [("label", 0.5)] * len(rows))
    return browse.prediction_layout(table, TASKS[task]).row_height or 35


def click_table_row(pg: Any, grid: Any, task: str, index: int) -> None:
    """Click the selection box of row ``index`` (0-based) of the Examples table (a canvas: by its position)."""
    box = grid.bounding_box()
    assert box is not None
    row = demo_row_height(task)
    # The row-selection boxes sit in the grid's first column, under a 35-px header.
    pg.mouse.click(box["x"] + 16, box["y"] + 35 + row * index + row // 2)


#: Everything in the main area that does not fit the window: an element (visible, outside the hover toolbars) past
#: the main area's content box, a text cut short with an ellipsis, a table that scrolls sideways. Panels (Bokeh
#: layouts and figures, Streamlit's element boxes, anywhere in the main area) may not pass it by more than 1 px; any
#: other element by 2 px (a pixel of sub-pixel text is not a panel off the page).
_UNFIT_JS = r"""() => {
  const block = document.querySelector('[data-testid="stMainBlockContainer"]');
  const main = document.querySelector('[data-testid="stMain"]');
  const PANELS = '.bk-Figure, .bk-Column, .bk-Row, [data-testid="stElementContainer"]';
  const style = getComputedStyle(block), r = block.getBoundingClientRect();
  const left = r.left + parseFloat(style.paddingLeft), right = r.right - parseFloat(style.paddingRight);
  const name = (el) => {
    const box = el.closest('[data-testid="stElementContainer"]');
    const id = box && box.firstElementChild ? box.firstElementChild.getAttribute('data-testid') : el.tagName;
    return `${id} "${(box || el).innerText.trim().slice(0, 40).replace(/\s+/g, ' ')}"`;
  };
  const out = [];
  for (const el of new Set([...block.querySelectorAll('*'), ...main.querySelectorAll(PANELS)])) {
    if (el.closest('[data-testid="stElementToolbar"]')) continue;  // floats at a corner on hover
    const s = getComputedStyle(el), b = el.getBoundingClientRect();
    if (s.cursor.endsWith('-resize') && !el.childElementCount) continue;  // a table's empty corner resize handle
    if (b.width === 0 || b.height === 0 || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) continue;
    const slack = el.matches(PANELS) ? 1 : 2;
    if (b.right > right + slack || b.left < left - slack) {
      out.push(`${name(el)} spans ${Math.round(b.left)}-${Math.round(b.right)} px; the main area ${left}-${right}`);
    }
    if (s.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth + 1) {
      out.push(`${name(el)} cuts its text "${el.innerText.slice(0, 50)}"`);
    }
  }
  for (const sc of block.querySelectorAll('.dvn-scroller')) {
    if (sc.scrollWidth > sc.clientWidth + 1) out.push(`a table scrolls sideways (${sc.scrollWidth} px in ${sc.clientWidth})`);
  }
  return Array.from(new Set(out));
}"""
#: The narrowest and the walk's window widths: every panel must fit both (issue 19).
FIT_WIDTHS = (1280, 1500)


def unfit_panels(pg: Any, widths: tuple[int, ...] = FIT_WIDTHS) -> dict[int, list[str]]:
    """{window width: what does not fit} for each of ``widths`` (the page is resized in place, then restored);
    empty lists when every panel of the main area fits. For any page: Examples, Dataset overview and About, the
    Attention flow and Head differences pages (the page's window already one of ``widths`` for a page loaded at
    that width)."""
    size = pg.viewport_size
    found = {}
    try:
        for width in widths:
            pg.set_viewport_size({"width": width, "height": size["height"]})
            pg.wait_for_timeout(800)  # the grid and the layout settle
            found[width] = list(pg.evaluate(_UNFIT_JS))
    finally:
        pg.set_viewport_size(size)
    return found


def test_a_shared_link_opens_inside_the_app_on_a_fresh_server(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """The server's very first request is a sub-page link: it must still run inside app.py's navigation
    (Streamlit's old pages/ discovery would list every file in pages/, common.py included)."""
    pg, _ = page
    open_url(pg, f"{server}/heads?task=sentiment&tau=0.2")
    wait_bokeh(pg, "js_heatmap")
    assert_no_exception(pg)
    nav = pg.locator('[data-testid="stSidebarNav"]').inner_text()
    for title in (
        "Examples",
        "Attention flow",
        "Head differences",
        "Dataset overview",
        "Fine-tuning trajectory",
        "About",
    ):
        assert title in nav
    assert "common" not in nav and "app" not in nav.split()
    pg.get_by_role("heading", name="Head differences").first.wait_for()
    assert "tau=0.2" in pg.url


def test_every_page_loads_offline_with_no_external_request(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    pg, requests = page
    open_url(pg, server)
    pg.wait_for_selector("text=Examples")
    wait_idle(pg)
    assert_no_exception(pg)
    shoot(pg, screenshots / "1-examples.png")
    for slug, title, shot in (
        ("flow", "Attention flow", "2-attention-flow.png"),
        ("heads", "Head differences", "3-head-differences.png"),
        ("overview", "Dataset overview", "4-dataset-overview.png"),
        ("about", "About", "5-about.png"),
    ):
        pg.get_by_role("link", name=title).first.click()
        pg.wait_for_url(f"**/{slug}*")
        wait_idle(pg)
        pg.get_by_role("heading", name=title).first.wait_for()
        if slug in ("flow", "heads"):
            wait_bokeh(pg, "flow_graph" if slug == "flow" else "js_heatmap")
        if slug == "overview":  # compute a small overview of the demo set with the page's own button
            n_input = pg.get_by_label("Examples (N)")
            n_input.fill("24")
            n_input.press("Enter")
            wait_idle(pg)
            pg.get_by_role("button", name="Compute").click()
            wait_bokeh(pg, "overview_layout")
            wait_idle(pg)
            pg.get_by_text("Examples ranked").wait_for()
        assert_no_exception(pg)
        shoot(pg, screenshots / shot)
    assert requests.urls, "the browser made no requests at all"
    assert any(urlparse(u).path.startswith("/_stcore/stream") for u in requests.urls)


def test_clicking_a_token_node_retraces_and_highlights_in_all_views(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """The paper's teaser: on the QA pair, click the question word "what" at the deepest layer. A click is state:
    the sidebar's "trace from" and the URL follow, and the reloaded URL shows the same trace."""
    pg, _ = page
    open_url(pg, f"{server}/flow?task=qa")
    wait_bokeh(pg, "flow_graph")
    assert_no_exception(pg)
    labels = source_data(pg, "sentence", "text")
    assert "what" in labels, labels
    what = labels.index("what")
    layers = source_data(pg, "nodes", "layer")
    top = max(layers)
    edges_before = source_data(pg, "edges", "y0")
    assert 0 < len(edges_before) <= 150 and max(edges_before) == 0  # the trace starts at [CLS] (row 0)
    caption = pg.evaluate(js("() => afModel('flow_caption').text"))
    assert "[CLS]" in caption

    x, y = node_position(pg, top, what)
    pg.mouse.click(x, y)
    pg.wait_for_function(until("(t) => afModel('source_ring').data.y[0] === -t"), arg=what, timeout=60_000)
    wait_idle(pg)
    # the browser redrew the view: every edge at the deepest layer starts from "what"
    x0, y0 = source_data(pg, "edges", "x0"), source_data(pg, "edges", "y0")
    top_edges = [yy for xx, yy in zip(x0, y0, strict=True) if xx == top]
    assert top_edges and set(top_edges) == {-what}
    for col in ("sb", "st"):
        assert sum(source_data(pg, "sentence", col)) == pytest.approx(1.0, abs=1e-3)
    caption = pg.evaluate(js("() => afModel('flow_caption').text"))
    assert "what" in caption and f"(#{what})" in caption
    # the view's "Trace from" and the URL hold the clicked token
    assert view_value(pg, "w_source") == str(what)
    wait_url_param(pg, "src", str(what))
    pg.mouse.move(5, 5)  # away from the graph: no tooltip over the screenshot
    pg.wait_for_timeout(300)
    shoot(pg, screenshots / "2b-attention-flow-clicked-what.png")
    # a reload (or the shared link) shows the same trace
    open_url(pg, pg.evaluate("location.href"))
    wait_bokeh(pg, "flow_graph")
    pg.wait_for_function(
        until("(t) => afModel('source_ring').data.y[0] === -t"), arg=what, timeout=TIMEOUT_MS
    )
    assert "from 'what'" in pg.evaluate(js("() => afModel('flow_graph').title.text"))


def _special_share(pg: Any, column: str) -> float:
    """The sentence view's flow score on [CLS]/[SEP] in one model (column ``sb`` or ``st``)."""
    text, score = source_data(pg, "sentence", "text"), source_data(pg, "sentence", column)
    return sum(v for t, v in zip(text, score, strict=True) if t in ("[CLS]", "[SEP]"))


def test_the_presets_open_from_their_links(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """The teaser and the findings, each opened from its link at the default settings: the teaser traces from
    *what* under norms within the edge budget; rollout ends more on [CLS]/[SEP] with weights than with norms in both
    models; the last-layers preset opens the head differences. Their screenshots go to the README."""
    from attnflow_core.presets import PRESETS, TEASER_SOURCE_TOKEN

    presets = {p.key: p for p in PRESETS}

    pg, _ = page
    open_url(pg, server + presets["teaser"].url())
    wait_bokeh(pg, "flow_graph")
    assert_no_exception(pg)
    title = pg.evaluate(js("() => afModel('flow_graph').title.text"))
    assert title.startswith("Thresholded trace of norm-weighted attention from 'what' (#1)"), title
    assert source_data(pg, "source_ring", "y") == [-TEASER_SOURCE_TOKEN]
    assert 0 < len(source_data(pg, "edges", "y0")) <= 150
    pg.mouse.move(5, 5)
    shoot(pg, screenshots / "2-attention-flow-teaser.png")

    shares = {}
    for key, shot, measure in (
        ("sinks-weights", "2c-sinks-weights.png", "attention weights"),
        ("sinks-norms", "2d-sinks-norms.png", "norm-weighted attention"),
    ):
        open_url(pg, server + presets[key].url())
        wait_bokeh(pg, "flow_graph")
        assert_no_exception(pg)
        title = pg.evaluate(js("() => afModel('flow_graph').title.text"))
        assert title.startswith(f"Attention rollout of {measure} from '[CLS]'"), title
        shares[key] = (_special_share(pg, "sb"), _special_share(pg, "st"))
        pg.mouse.move(5, 5)
        shoot(pg, screenshots / shot)
    for model in (0, 1):  # [CLS]/[SEP] are sinks in weights, not in norms
        assert shares["sinks-norms"][model] < 0.5 * shares["sinks-weights"][model], shares

    open_url(pg, server + presets["last-layers"].url())
    wait_bokeh(pg, "js_heatmap")
    assert_no_exception(pg)
    pg.get_by_role("heading", name="Head differences").first.wait_for()
    pg.mouse.move(5, 5)
    shoot(pg, screenshots / "3b-last-layers.png")


def test_switching_the_method_changes_the_graph(server: str, page: tuple[Any, Requests]) -> None:
    pg, _ = page
    open_url(pg, f"{server}/flow?task=qa")
    wait_bokeh(pg, "flow_graph")
    before = source_data(pg, "edges", "y1")
    pg.get_by_text("Attention rollout", exact=True).click()
    pg.wait_for_function(until("() => afModel('flow_graph').title.text.startsWith('Attention rollout of')"))
    wait_idle(pg)
    after = source_data(pg, "edges", "y1")
    assert after != before and 0 < len(after) <= 150


def test_switching_examples_and_tasks_updates_the_views(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    pg, _ = page
    open_url(pg, f"{server}/?task=nli")
    assert_no_exception(pg)
    # the examples table: choose the third row with the mouse
    grid = pg.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    chosen_md = pg.locator('[data-testid="stMarkdownContainer"]', has_text="Hypothesis:")
    assert "The street is completely empty." not in chosen_md.first.inner_text()
    click_table_row(pg, grid, "nli", 2)
    pg.wait_for_function("() => new URLSearchParams(location.search).get('ex') !== null")
    chosen = pg.evaluate("() => new URLSearchParams(location.search).get('ex')")
    assert chosen == "demo-nli-03"
    # the chosen example's pair is shown under "Chosen example", with the prediction beside the gold label
    chosen_md.filter(has_text="The street is completely empty.").first.wait_for()
    wait_idle(pg)
    assert_no_exception(pg)
    pg.get_by_role("link", name="Attention flow").first.click()
    pg.wait_for_url("**/flow*")
    wait_bokeh(pg, "flow_graph")
    assert_no_exception(pg)
    assert f"ex={chosen}" in pg.url
    premise = source_data(pg, "sentence", "text")
    assert "[SEP]" in premise and premise.count("[SEP]") == 2  # a premise/hypothesis pair
    shoot(pg, screenshots / "2c-attention-flow-nli.png")

    # sentiment, then back: the shared link reproduces the same view
    open_url(pg, f"{server}/flow?task=sentiment&tau=0.3")
    wait_bokeh(pg, "flow_graph")
    assert_no_exception(pg)
    labels = source_data(pg, "sentence", "text")
    assert labels.count("[SEP]") == 1
    assert "τ = 0.3" in pg.evaluate(js("() => afModel('flow_graph').title.text"))


def test_markdown_and_html_in_a_linked_text_are_shown_literally_and_fetch_nothing(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """A link whose text holds a Markdown image and link (and HTML): shown as typed, no request to their host."""
    pg, _ = page
    hits: list[str] = []

    def refuse(route: Any) -> None:
        hits.append(route.request.url)
        route.abort()

    pg.route("http://127.0.0.1:9/**", refuse)
    text = "![x](http://127.0.0.1:9/t.png) [phish](http://127.0.0.1:9/login)"
    pair = "<img src='http://127.0.0.1:9/h.png'> it is"
    from urllib.parse import urlencode

    open_url(pg, f"{server}/flow?{urlencode({'task': 'qa', 'text': text, 'text_pair': pair})}")
    wait_bokeh(pg, "flow_graph")
    assert_no_exception(pg)
    pg.get_by_text("[phish]", exact=False).first.wait_for()  # shown as typed (plus invisible word joiners)
    links = pg.locator('a[href*="127.0.0.1:9"]')
    assert links.count() == 0, [links.nth(i).evaluate("(e) => e.outerHTML") for i in range(links.count())]
    assert pg.locator('img[src*="127.0.0.1:9"]').count() == 0
    pg.wait_for_timeout(500)
    assert not hits, hits
    assert not [u for u in requests_of(page) if ":9/" in u]


def requests_of(page: tuple[Any, Requests]) -> list[str]:
    return page[1].urls


def _view(pg: Any) -> tuple[str, str]:
    """What the person sees: the page's heading and the threshold slider's value (when the page has one)."""
    heading = pg.locator("h1").first.inner_text().strip()
    return heading, url_param(pg, "tau") or ""


def test_back_walks_the_pages_and_every_press_changes_the_view(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """Examples → Attention flow → τ moved twice → Head differences, then Back: every press changes the view and
    Examples is reached within 5 presses (setting changes replace the history entry instead of pushing one)."""
    pg, _ = page
    open_url(pg, server)
    pg.get_by_role("heading", name="Examples").first.wait_for()
    pg.get_by_role("link", name="Attention flow").first.click()
    pg.wait_for_url("**/flow*")
    wait_bokeh(pg, "flow_graph")
    wait_idle(pg)
    for expected in ("0.11", "0.12"):
        slider_handle(pg, "w_tau").press("ArrowRight")
        wait_url_param(pg, "tau", expected)
        wait_idle(pg)
    pg.get_by_role("link", name="Head differences").first.click()
    pg.wait_for_url("**/heads*")
    wait_bokeh(pg, "js_heatmap")
    wait_idle(pg)
    views = [_view(pg)]
    for _ in range(5):
        pg.go_back()
        wait_idle(pg)
        pg.wait_for_timeout(500)
        views.append(_view(pg))
        assert views[-1] != views[-2], f"Back changed nothing: {views}"
        if views[-1][0] == "Examples":
            break
    assert views[-1][0] == "Examples", views
    assert_no_exception(pg)


def test_quick_arrow_key_steps_on_the_threshold_are_not_lost(server: str, page: tuple[Any, Requests]) -> None:
    """Ten ArrowRight presses 150 ms apart, faster than the reruns: τ must end at 0.10 + 10 × 0.01 (it ended at
    0.18 or 0.19 when every run pushed the slider's stored value back to the browser)."""
    pg, _ = page
    open_url(pg, f"{server}/flow?task=qa")
    wait_bokeh(pg, "flow_graph")
    keys = slider_handle(pg, "w_tau")
    for _ in range(10):
        keys.press("ArrowRight")
        pg.wait_for_timeout(150)
    pg.wait_for_function(
        until("() => afModel('flow_graph').title.text.includes('τ = 0.2,')"), timeout=TIMEOUT_MS
    )
    wait_url_param(pg, "tau", "0.2")
    wait_idle(pg)
    assert "τ = 0.2," in pg.evaluate(js("() => afModel('flow_graph').title.text"))


def heatmap_cell(pg: Any, layer: int, head: int) -> tuple[float, float]:
    """Page pixel coordinates of the Head differences page's JS heatmap cell (layer 1-based, head 0-based)."""
    xy = pg.evaluate(
        js(
            """([layer, head]) => {
          const pv = afPlotView("js_heatmap");
          const rect = pv.canvas_view.el.getBoundingClientRect();
          return [rect.left + pv.frame.x_scale.compute(head), rect.top + pv.frame.y_scale.compute(layer)];
        }"""
        ),
        [layer, head],
    )
    return float(xy[0]), float(xy[1])


#: The Head differences page's multiselect of heads to zero or patch (the sidebar has a "Heads" one too).
_PICKED = '[data-testid="stMain"] [data-testid="stMultiSelect"]'


def _picked_heads(pg: Any) -> str:
    return str(pg.locator(_PICKED).first.inner_text())


def _metrics(pg: Any) -> list[str]:
    """The intervention's three metrics (before, after, label after): the last on the page (the example header
    shows the models' predictions as metrics too)."""
    return [t.strip() for t in pg.locator('[data-testid="stMetricValue"]').all_inner_texts()][-3:]


def test_tapping_heads_then_zeroing_or_patching_changes_the_confidence(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """Issue 10: tap heatmap cells to pick heads (a second tap removes one), then zero them, then patch them: the
    shown confidence of the fine-tuned model's label changes each time."""
    pg, _ = page
    open_url(pg, f"{server}/heads?task=qa")
    wait_bokeh(pg, "js_heatmap")
    assert_no_exception(pg)
    pg.get_by_text("Zero removes the chosen heads").first.wait_for()
    pg.get_by_text("Patch gives the chosen heads").first.wait_for()
    # L1 H0 is tapped twice in a row: in, then out again
    for layer, head in ((3, 9), (1, 0), (1, 0), (3, 8), (2, 3)):
        pg.evaluate(js("() => afPlotView('js_heatmap').el.scrollIntoView({block: 'center'})"))
        pg.wait_for_timeout(300)
        x, y = heatmap_cell(pg, layer, head)
        before = _picked_heads(pg)
        pg.mouse.click(x, y)
        pg.wait_for_function(
            """([sel, old]) => { const el = document.querySelector(sel); return el && el.innerText !== old; }""",
            arg=[_PICKED, before],
            timeout=TIMEOUT_MS,
        )
        wait_idle(pg)
        wait_bokeh(pg, "js_heatmap")
    picked = _picked_heads(pg)
    for name in ("L3 H9", "L3 H8", "L2 H3"):
        assert name in picked, picked
    assert "L1 H0" not in picked, picked
    # the last tapped head is also the one shown below
    assert "Layer 2, head 3" in pg.evaluate(js("() => afModel('head_caption').text"))

    shown = {}
    for mode, button in (
        ("zeroed", "Zero in the fine-tuned model"),
        ("patched", "Patch with pre-trained pattern"),
    ):
        pg.get_by_role("button", name=button).click()
        pg.get_by_text(f"After ({mode}").first.wait_for(timeout=TIMEOUT_MS)
        wait_idle(pg)
        assert_no_exception(pg)
        before, after, label = _metrics(pg)
        assert before.endswith("%") and after.endswith("%") and label
        assert before != after, (mode, before, after)
        shown[mode] = after
        pg.get_by_text("How the flow changes").first.wait_for()
        if mode == "zeroed":
            pg.mouse.move(5, 5)
            shoot(pg, screenshots / "3b-head-ablation.png")
    assert shown["zeroed"] != shown["patched"], shown


def test_saliency_row_and_agreement_over_both_measures(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """The flow page's lazy saliency row: on demand, with the agreement table over every method × both measures."""
    pg, _ = page
    open_url(pg, f"{server}/flow?task=sentiment")
    wait_bokeh(pg, "flow_graph")
    from attnflow_core.saliency import SALIENCY_METHODS

    pg.get_by_text("Token saliency and agreement (computed on demand)").first.click()
    methods = ", ".join(m.short for m in SALIENCY_METHODS)  # the button names the registry's methods
    pg.get_by_role("button", name=f"Compute saliency ({methods})").click()
    # issue 19 item 7: the progress names the method running (the slowest, IG, first), then says what each took
    pg.get_by_text("Integrated Gradients (1 of").first.wait_for(state="attached", timeout=TIMEOUT_MS)
    pg.get_by_text("Agreement is evidence that a flow follows").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(pg)
    assert_no_exception(pg)
    assert "Integrated Gradients" in pg.get_by_text("Computed in").first.inner_text()
    wait_bokeh(pg, "saliency_row")
    _saliency_labels_read(pg)
    text = pg.get_by_text("Best per measure").first.inner_text()
    assert "raw attention weights" in text and "norm-weighted" in text, text
    pg.get_by_text("Token saliency and agreement").first.scroll_into_view_if_needed()
    pg.mouse.move(5, 5)
    shoot(pg, screenshots / "2e-saliency-agreement.png")


def _saliency_labels_read(pg: Any) -> None:
    """Issue 19 item 7: every label of the saliency row fits its cell as drawn (no two run together: the cells do
    not overlap) and reads on it (WCAG contrast ≥ 4.5 between its colour and its cell's)."""
    from attnflow_core.plots.theme import contrast

    cells = pg.evaluate(
        js(
            """() => {
          const pv = afPlotView("saliency_row"), d = afModel("saliency_row").renderers[0].data_source.data;
          const ctx = document.createElement("canvas").getContext("2d");
          ctx.font = "11px helvetica";
          const px = pv.frame.x_scale.compute(1) - pv.frame.x_scale.compute(0);
          return Array.from(d.text, (t, i) => [t, ctx.measureText(t).width, d.w[i] * px, d.x[i], d.y[i], d.w[i],
                                               d.ink[i], d.fill[i]]);
        }"""
        )
    )
    assert cells
    for text, text_px, cell_px, *_ in cells:
        assert text_px <= cell_px, (text, text_px, cell_px)
    for row in {c[4] for c in cells}:
        spans = sorted((x - w / 2, x + w / 2) for _, _, _, x, y, w, *_ in cells if y == row)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), row
    for text, *_, ink, fill in cells:
        assert contrast(ink, fill) >= 4.5, (text, ink, fill)


def test_overview_with_head_importance(server: str, page: tuple[Any, Requests], screenshots: Path) -> None:
    """The Dataset overview with "Also head importance": the importance map beside the change map, their scatter
    with ρ, and the Reading's sentence on whether fine-tuning changed the heads that matter (N = 20 QA rows)."""
    pg, _ = page
    open_url(pg, f"{server}/overview?task=qa")
    n_box = pg.get_by_label("Examples (N)")
    n_box.fill("20")
    n_box.press("Enter")
    wait_idle(pg)
    pg.get_by_text("Also head importance").first.click()
    wait_idle(pg)
    pg.get_by_role("button", name="Compute").click()
    pg.get_by_text("Head change vs head importance").first.wait_for(timeout=3 * TIMEOUT_MS)
    wait_idle(pg)
    wait_bokeh(pg, "importance_scatter")
    assert_no_exception(pg)
    assert pg.get_by_text("Did fine-tuning change the heads that matter?").count() > 0
    pg.mouse.move(5, 5)
    shoot(pg, screenshots / "4b-overview-importance.png")


def _view_state(pg: Any) -> dict[str, Any]:
    """The flow view's drawing settings as its controls hold them, and the graph's title."""
    return {
        "method": view_value(pg, "w_method", "active"),
        "source": view_value(pg, "w_source"),
        "tau": view_value(pg, "w_tau"),
        "layers": view_value(pg, "w_layers"),
        "heads": view_value(pg, "w_heads"),
        "title": pg.evaluate(js("() => afModel('flow_graph').title.text")),
    }


def test_a_sequence_of_drawing_changes_redraws_in_place_and_a_reload_shows_the_same(
    server: str, page: tuple[Any, Requests], screenshots: Path, tmp_path: Path
) -> None:
    """Issue 16: τ, the layer range, a head subset, a node click and the method, each redrawn in the browser in the
    same Bokeh document (its figure keeps its id, no document is added); the URL and the exports follow; a reload of
    the URL shows the same view."""
    pg, _ = page
    open_url(pg, f"{server}/flow?task=qa&ex=qnli-val-31")
    wait_bokeh(pg, "flow_graph")
    pg.wait_for_function("() => (window.attnflowDrawn || 0) >= 1", timeout=TIMEOUT_MS)
    docs = pg.evaluate("() => Bokeh.documents.length")
    fig_id = pg.evaluate(js("() => afModel('flow_graph').id"))
    before = redraws(pg)
    slider_handle(pg, "w_tau").press("ArrowRight")  # τ 0.10 -> 0.11
    wait_redrawn(pg, before)
    before = redraws(pg)
    slider_handle(pg, "w_layers", 0).press("ArrowRight")  # layers 2..6
    wait_redrawn(pg, before)
    before = redraws(pg)
    pg.evaluate(js("() => { afModel('w_heads').value = ['0', '3']; }"))
    wait_redrawn(pg, before)
    labels = source_data(pg, "sentence", "text")
    what = labels.index("what")
    before = redraws(pg)
    x, y = node_position(pg, 6, what)
    pg.mouse.click(x, y)
    wait_redrawn(pg, before)
    before = redraws(pg)
    pg.get_by_text("Attention rollout", exact=True).first.click()
    wait_redrawn(pg, before)
    state = _view_state(pg)
    assert state["title"].startswith(
        f"Attention rollout of norm-weighted attention from 'what' (#{what}) at layer 6"
    )
    assert "down to the input of layer 2" in state["title"] and state["title"].endswith("heads [0, 3]")
    assert pg.evaluate("() => Bokeh.documents.length") == docs  # redrawn in place: no new document
    assert pg.evaluate(js("() => afModel('flow_graph').id")) == fig_id
    for name, value in (("method", "rollout"), ("src", str(what)), ("tau", "0.11"), ("layers", "2:6"),
                        ("heads", "0,3")):  # fmt: skip
        wait_url_param(pg, name, value)
    wait_idle(pg)
    pg.get_by_text("As drawn now: attention rollout").first.wait_for()
    with pg.expect_download() as got:
        pg.get_by_role("button", name="Everything (JSON)").click()
    exported = json.loads(Path(got.value.path()).read_text())["settings"]
    assert (exported["method"], exported["source"], exported["layers"], exported["heads"]) == (
        "rollout", what, [2, 6], [0, 3])  # fmt: skip
    assert exported["threshold"] == pytest.approx(0.11)
    open_url(pg, pg.evaluate("location.href"))
    wait_bokeh(pg, "flow_graph")
    pg.wait_for_function(
        until("(t) => afModel('flow_graph').title.text === t"), arg=state["title"], timeout=TIMEOUT_MS
    )
    assert _view_state(pg) == state


def test_a_units_switch_keeps_the_traced_token_and_says_nothing(
    server: str, page: tuple[Any, Requests]
) -> None:
    """Issue 19: trace from "jacksonvillians"'s second piece, switch to whole words: the view traces from the word that holds
    it; hiding [CLS]/[SEP] keeps it; back to WordPiece tokens: the word's first piece. No notice about a link."""
    pg, _ = page
    open_url(pg, f"{server}/flow?task=qa&ex=qnli-val-31")
    wait_bokeh(pg, "flow_graph")
    tokens = source_data(pg, "sentence", "text")
    piece = tokens.index("##vill")  # jackson ##vill ##ians
    before = redraws(pg)
    pg.evaluate(js("(t) => { afModel('w_source').value = String(t); }"), piece)  # as a click on its node does
    wait_redrawn(pg, before)
    wait_url_param(pg, "src", str(piece))
    wait_idle(pg)
    pg.locator('[data-testid="stSidebar"]').get_by_text("Whole words").click()
    pg.wait_for_function(
        until("() => afModel('sentence')?.data.text.includes('Jacksonvillians')"), timeout=TIMEOUT_MS
    )
    wait_idle(pg)
    words = source_data(pg, "sentence", "text")
    word = words.index("Jacksonvillians")
    pg.wait_for_function(
        until("(w) => afModel('w_source')?.value === String(w)"), arg=word, timeout=TIMEOUT_MS
    )
    assert f"'Jacksonvillians' (#{word})" in pg.evaluate(js("() => afModel('flow_graph').title.text"))
    pg.locator('[data-testid="stSidebar"]').get_by_text("Hide [CLS]/[SEP] attention").click()
    wait_idle(pg)
    wait_bokeh(pg, "flow_graph")
    pg.wait_for_function(
        until("(w) => afModel('w_source')?.value === String(w)"), arg=word, timeout=TIMEOUT_MS
    )
    pg.locator('[data-testid="stSidebar"]').get_by_text("WordPiece tokens").click()
    pg.wait_for_function(until("() => afModel('sentence')?.data.text.includes('##vill')"), timeout=TIMEOUT_MS)
    first_piece = tokens.index("jackson")
    pg.wait_for_function(
        until("(t) => afModel('w_source')?.value === String(t)"), arg=first_piece, timeout=TIMEOUT_MS
    )
    wait_idle(pg)
    assert pg.get_by_text("Ignored the link").count() == 0
    assert_no_exception(pg)


@pytest.mark.parametrize("width", [1280, 1500])
def test_the_flow_and_head_panels_fit_the_window(server: str, browser: Any, width: int) -> None:
    """Issue 19: every panel of the Attention flow and Head differences pages (the head difference matrix included)
    lies inside a 1,280-px and a 1,500-px window."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        for slug, model in (("flow", "flow_graph"), ("heads", "matrix_diff")):
            open_url(pg, f"{server}/{slug}?task=qa&ex=qnli-val-31")
            wait_bokeh(pg, model)
            assert unfit_panels(pg, (width,)) == {width: []}, slug
    finally:
        context.close()


# ---------------------------------------------------------------- issue 19: what a new student still tripped over


def test_every_panel_of_examples_overview_and_about_fits_1280_and_1500(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """Issue 19 items 1 and 6: no panel of these pages passes the main area at a 1,280 px or a 1,500 px window, no
    table scrolls sideways, no label is cut short; the tables show the texts (wrapped) and keep the id last."""
    pg, _ = page
    open_url(pg, f"{server}/?task=nli")
    grid = pg.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    assert_no_exception(pg)
    headers = pg.locator('[data-testid="stDataFrame"] [role="columnheader"]').all_inner_texts()
    assert headers[-3:] == ["premise", "hypothesis", "id"], headers
    assert unfit_panels(pg) == {w: [] for w in FIT_WIDTHS}

    open_url(pg, f"{server}/overview?task=qa")
    n_input = pg.get_by_label("Examples (N)")
    n_input.fill("12")
    n_input.press("Enter")
    wait_idle(pg)
    if pg.get_by_role("button", name="Compute").count():
        pg.get_by_role("button", name="Compute").click()
    wait_bokeh(pg, "overview_layout")
    pg.get_by_text("Examples ranked").wait_for()
    wait_idle(pg)
    assert_no_exception(pg)
    headers = pg.locator('[data-testid="stDataFrame"] [role="columnheader"]').all_inner_texts()
    assert headers[0] == "attention shift" and headers[-3:] == ["question", "sentence", "id"], headers
    assert unfit_panels(pg) == {w: [] for w in FIT_WIDTHS}

    pg.get_by_role("link", name="About").first.click()
    pg.wait_for_url("**/about*")
    wait_idle(pg)
    pg.get_by_role("heading", name="About Attention Flows").first.wait_for()
    assert unfit_panels(pg) == {w: [] for w in FIT_WIDTHS}


def test_a_task_switch_starts_at_the_first_example_on_every_page(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """Issue 19 item 8: a task switch kept the table's row position on Examples (choosing the new task's third
    example) but reset to example 01 on the flow page. One rule now: the new task's first example, everywhere. The
    example header's confidence carries no arrow (an "↑" read as an increase)."""
    from attnflow_core.data.sources import load_examples
    from attnflow_core.data.tasks import TASKS

    def switch_task(name: str) -> None:
        pg.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Task").click()
        pg.get_by_role("option", name=TASKS[name].title).click()
        pg.wait_for_function(
            "(t) => new URLSearchParams(location.search).get('task') === t || t === 'qa'", arg=name
        )
        wait_idle(pg)

    first = {t: load_examples(t, "demo", None).to_pandas().iloc[0] for t in ("sentiment", "nli")}
    pg, _ = page
    open_url(pg, f"{server}/?task=nli")
    grid = pg.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    click_table_row(pg, grid, "nli", 2)
    pg.wait_for_function("() => new URLSearchParams(location.search).get('ex') === 'demo-nli-03'")
    wait_idle(pg)
    assert pg.locator('[data-testid="stMetricDelta"]').filter(has_text="confidence").count() == 1
    assert pg.locator('[data-testid="stMetricDelta"] svg').count() == 0  # no arrow
    switch_task("sentiment")
    assert "ex=" not in pg.url
    pg.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text=first["sentiment"]["sentence"]
    ).first.wait_for()
    assert_no_exception(pg)

    pg.get_by_role("link", name="Attention flow").first.click()
    pg.wait_for_url("**/flow*")
    wait_bokeh(pg, "flow_graph")
    switch_task("nli")
    wait_bokeh(pg, "flow_graph")
    assert "ex=" not in pg.url
    pg.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text=first["nli"]["hypothesis"]
    ).first.wait_for()
    assert_no_exception(pg)


def test_the_presets_are_readable_buttons_none_looking_chosen(
    server: str, page: tuple[Any, Requests]
) -> None:
    """Issue 19 item 8: the sidebar's presets were page links cut to one line ("trace from w", "the last laye"),
    and on the flow page the three flow presets looked highlighted. Each reads in full, all look alike, and a
    press opens its view."""
    from attnflow_core.presets import PRESETS

    pg, _ = page
    open_url(pg, f"{server}/flow?task=qa")
    wait_bokeh(pg, "flow_graph")
    pg.get_by_text("Presets: the paper's teaser").click()
    titles = [p.title.replace("*", "") for p in PRESETS]  # Markdown: *what* is shown in italics
    buttons = [pg.locator('[data-testid="stSidebar"] button').filter(has_text=t) for t in titles]
    looks = set()
    for p, button in zip(PRESETS, buttons, strict=True):
        button.first.wait_for()
        cut = button.first.evaluate(
            """(b) => Array.from(b.querySelectorAll('*')).some((e) => e.scrollWidth > e.clientWidth + 1
                       || getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth)"""
        )
        assert not cut, p.title
        assert button.first.inner_text().strip() == p.title.replace("*", "")  # in full
        looks.add(
            button.first.evaluate("(b) => getComputedStyle(b).backgroundColor + getComputedStyle(b).color")
        )
    assert len(looks) == 1, looks
    sinks = next(b for p, b in zip(PRESETS, buttons, strict=True) if p.key == "sinks-norms")
    sinks.first.click()
    pg.wait_for_function(
        until("() => afModel('flow_graph').title.text.startsWith('Attention rollout of norm')")
    )
    wait_idle(pg)
    assert "method=rollout" in pg.url and "preset" not in pg.url


def test_a_cold_start_shows_the_title_and_what_is_loading(cold_server: str, browser: Any) -> None:
    """Issue 19 item 8: a session's first run left the main area blank while the sidebar loaded the models. Now the
    page's title and what is loading come first, before the sidebar's controls, and go when the page is drawn."""
    from pages.ui.loading import LOADING_TEXT

    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    context.add_init_script(
        """window.__seen = {};
        new MutationObserver(() => {
          const t = performance.now(), s = window.__seen;
          if (!s.title && document.querySelector('[data-testid="stMain"] h1')) s.title = t;
          if (!s.loading && document.body && document.body.textContent.includes('Loading the models')) s.loading = t;
          if (!s.sidebar && document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"]'))
            s.sidebar = t;
        }).observe(document, {subtree: true, childList: true, characterData: true});"""
    )
    try:
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        open_url(pg, f"{cold_server}/?task=nli")
        pg.locator('[data-testid="stDataFrame"]').first.wait_for()
        seen = pg.evaluate("() => window.__seen")
        assert "title" in seen and "loading" in seen and "sidebar" in seen, seen
        assert seen["title"] <= seen["loading"] < seen["sidebar"], seen
        assert pg.locator('[data-testid="stMain"] h1').all_inner_texts() == ["Examples"]
        assert LOADING_TEXT not in pg.locator('[data-testid="stMain"]').inner_text()
        assert_no_exception(pg)
    finally:
        context.close()


@pytest.mark.parametrize(
    ("shot", "query"),
    [
        ("2f-alti-teaser.png", "teaser"),  # the teaser preset's link, its measure switched to ALTI
        ("2g-alti-sentiment.png", "task=sentiment&measure=alti&method=rollout"),
        ("2h-alti-nli.png", "task=nli&measure=alti"),
    ],
)
def test_alti_flows_say_they_have_no_heads(
    server: str, page: tuple[Any, Requests], screenshots: Path, shot: str, query: str
) -> None:
    """The flow view under ALTI (no per-head part): the title names the measure and whole layers (not "all heads"),
    the grids are layers, the heads control is disabled with the reason and there is no per-head-edges toggle.
    Screenshots for the README's table."""
    from urllib.parse import urlencode

    from attnflow_core.presets import PRESETS

    if query == "teaser":
        teaser = next(p for p in PRESETS if p.key == "teaser")
        query = urlencode({**teaser.query_dict, "measure": "alti"})
    pg, _ = page
    open_url(pg, f"{server}/flow?{query}")
    wait_bokeh(pg, "flow_graph")
    assert_no_exception(pg)
    title = pg.evaluate(js("() => afModel('flow_graph').title.text"))
    assert " of ALTI contributions from " in title and title.endswith("whole layers"), title
    assert pg.get_by_text("have no per-head part").count() > 0
    assert view_value(pg, "w_heads", "disabled") is True
    assert view_value(pg, "w_toggles", "labels") == ["Emphasise differences"]
    grid = pg.evaluate(js("() => afModel('head_grid_tuned').title.text"))
    assert grid.startswith(("Whole layers in the", "No layer carries")), grid
    pg.mouse.move(5, 5)
    shoot(pg, screenshots / shot)


def test_faithfulness_table_on_demand(server: str, page: tuple[Any, Requests], screenshots: Path) -> None:
    """The flow page's faithfulness table, computed when its button is pressed, with its sentence."""
    pg, _ = page
    open_url(pg, f"{server}/flow?task=sentiment")
    wait_bokeh(pg, "flow_graph")
    pg.get_by_text("Which ranking is faithful, in each model?").first.click()
    pg.get_by_role("button", name="Compute the faithfulness table").click()
    pg.get_by_text("Most faithful to the fine-tuned decision").first.wait_for(timeout=5 * TIMEOUT_MS)
    wait_idle(pg)
    assert_no_exception(pg)
    pg.get_by_text("Which ranking is faithful, in each model?").first.scroll_into_view_if_needed()
    pg.mouse.move(5, 5)
    shoot(pg, screenshots / "2i-faithfulness.png")


# ---------------------------------------------------------------- issue 18: the fine-tuning trajectory


def test_the_trajectory_page_says_which_heads_changed_first_and_fits_the_window(
    server: str, page: tuple[Any, Requests], screenshots: Path
) -> None:
    """The Fine-tuning trajectory of the QA pair (the shipped one: the demo set at the default settings): the
    sentence names the heads that changed first and orders attention against accuracy; every panel fits 1,280 and
    1,500 px."""
    import re

    pg, _ = page
    open_url(pg, f"{server}/trajectory?task=qa")
    pg.get_by_role("heading", name="Fine-tuning trajectory").first.wait_for()
    for name in ("trajectory_curves", "trajectory_change_maps", "trajectory_importance_maps"):
        wait_bokeh(pg, name)
    wait_idle(pg)
    assert_no_exception(pg)
    sentence = pg.locator('[data-testid="stMarkdownContainer"]', has_text="Reading.").first.inner_text()
    assert re.search(r"The heads that changed first \(.*\): L\d H\d+", sentence), sentence
    assert re.search(r"Attention changed (before|after|and the held-out accuracy rose between)", sentence), (
        sentence
    )
    assert unfit_panels(pg) == {w: [] for w in FIT_WIDTHS}
    pg.mouse.move(5, 5)
    shoot(pg, screenshots / "4c-fine-tuning-trajectory.png")


# ---------------------------------------------------------------- issue 18: the fine-tuning checkpoint slider


def checkpoint_slider(pg: Any) -> Any:
    """The sidebar's checkpoint slider: Streamlit's <input type=range> inside its [data-testid=stSlider]."""
    return pg.locator(
        '[data-testid="stSidebar"] [data-testid="stSlider"]', has_text="Fine-tuning checkpoint"
    ).locator("input")


@pytest.mark.parametrize(
    ("slug", "figure", "title_js"),
    [
        ("flow", "head_grid_tuned", "() => afModel('head_grid_tuned').title.text"),
        ("heads", "matrix_tuned_figure", "() => afModel('matrix_tuned_figure').title.text"),
    ],
)
def test_the_checkpoint_slider_moves_the_view_and_the_url_and_a_reload_reproduces_it(
    server: str, page: tuple[Any, Requests], screenshots: Path, slug: str, figure: str, title_js: str
) -> None:
    """Issue 18: one step left on the checkpoint slider (the final checkpoint, step 339, to step 226): the view's
    fine-tuned title names the step, the URL carries ``step=226``, the flow view keeps its drawing settings (a τ
    step made before), and a reload shows the same; the panels still fit 1,280 and 1,500 px."""
    pg, _ = page
    open_url(pg, f"{server}/{slug}?task=qa&ex=qnli-val-31")
    wait_bokeh(pg, figure)
    assert_no_exception(pg)
    assert pg.evaluate(js(title_js)).endswith("fine-tuned")
    slider = checkpoint_slider(pg)
    assert slider.get_attribute("aria-valuetext") == "step 339"
    assert pg.get_by_text("step 339 (end of training) · held-out 0.81").count() == 1  # the caption
    tau = None
    if slug == "flow":  # a drawing setting made in the view survives the switch of checkpoint
        before = redraws(pg)
        slider_handle(pg, "w_tau").press("ArrowRight")
        wait_redrawn(pg, before)
        tau = "0.11"  # 0.1 + one step
        assert "τ = 0.11," in pg.evaluate(js("() => afModel('flow_graph').title.text"))
        wait_url_param(pg, "tau", tau)
    slider.focus()
    pg.keyboard.press("ArrowLeft")
    wait_url_param(pg, "step", "226")
    pg.wait_for_function(
        until(f"() => ({title_js})().endsWith('fine-tuned (step 226 of 339)')"), timeout=TIMEOUT_MS
    )
    wait_idle(pg)
    assert_no_exception(pg)
    assert checkpoint_slider(pg).get_attribute("aria-valuetext") == "step 226"
    if slug == "flow":
        assert "lower fine-tuned)" in pg.evaluate(js("() => afModel('sentence_view').title.text"))
        assert (
            "τ = 0.11," in pg.evaluate(js("() => afModel('flow_graph').title.text"))
            and url_param(pg, "tau") == tau
        )
        shoot(pg, screenshots / "2f-attention-flow-checkpoint.png")
    assert unfit_panels(pg) == {1280: [], 1500: []}
    pg.reload(wait_until="domcontentloaded")
    wait_idle(pg)
    wait_bokeh(pg, figure)
    pg.wait_for_function(
        until(f"() => ({title_js})().endsWith('fine-tuned (step 226 of 339)')"), timeout=TIMEOUT_MS
    )
    assert url_param(pg, "step") == "226"
    assert checkpoint_slider(pg).get_attribute("aria-valuetext") == "step 226"
    if slug == "flow":
        pg.wait_for_function(
            until("(t) => String(afModel('w_tau').value) === t"), arg=tau, timeout=TIMEOUT_MS
        )
