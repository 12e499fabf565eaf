"""End to end in a real browser: Debian's Chromium driven by Playwright against ``streamlit run app.py``.

The app runs offline on the embedded models (HF_HUB_OFFLINE=1, a fresh cache folder). The tests load every page,
click a token node in the flow graph with the mouse and check the linked highlight in all three views, switch
examples and tasks, and record every request the page makes: none may leave 127.0.0.1. Screenshots go to
``$ATTNFLOW_SCREENSHOTS`` (``.ci/run`` sets ``artifacts/screenshots``), else to pytest's temporary folder.

Chromium comes from Debian (``apt-get install chromium``; ``.ci/run`` installs it). Playwright's own browser
download is never used: it needs the internet.
"""

from __future__ import annotations

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
    for title in ("Examples", "Attention flow", "Head differences", "Dataset overview", "About"):
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
    pg.wait_for_function(js("(t) => afModel('source_ring').data.y[0] === -t"), arg=what, timeout=60_000)
    wait_idle(pg)
    # the server redrew the view: every edge at the deepest layer starts from "what"
    x0, y0 = source_data(pg, "edges", "x0"), source_data(pg, "edges", "y0")
    top_edges = [yy for xx, yy in zip(x0, y0, strict=True) if xx == top]
    assert top_edges and set(top_edges) == {-what}
    for col in ("sb", "st"):
        assert sum(source_data(pg, "sentence", col)) == pytest.approx(1.0, abs=1e-3)
    caption = pg.evaluate(js("() => afModel('flow_caption').text"))
    assert "what" in caption and f"(#{what})" in caption
    # the sidebar and the URL hold the clicked token
    box = pg.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Trace from")
    # the chosen option shows as the input's value or as text beside it, depending on the Streamlit version
    shown = box.evaluate(
        "el => el.innerText + ' ' + Array.from(el.querySelectorAll('input')).map((i) => i.value).join(' ')"
    )
    assert f"what  (#{what})" in shown or f"what (#{what})" in shown, shown
    assert f"src={what}" in pg.url
    pg.mouse.move(5, 5)  # away from the graph: no tooltip over the screenshot
    pg.wait_for_timeout(300)
    shoot(pg, screenshots / "2b-attention-flow-clicked-what.png")
    # a reload (or the shared link) shows the same trace
    open_url(pg, pg.url)
    wait_bokeh(pg, "flow_graph")
    assert source_data(pg, "source_ring", "y") == [-what]
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
    pg.wait_for_function(js("() => afModel('flow_graph').title.text.startsWith('Attention rollout of')"))
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
    box = grid.bounding_box()
    assert box is not None
    # The row-selection checkboxes sit in the grid's first column; the header and each row are 35 px high.
    pg.mouse.click(box["x"] + 16, box["y"] + 35 + 35 * 2 + 17)
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
    slider = pg.get_by_role("slider", name="Threshold τ")
    tau = slider.first.get_attribute("aria-valuenow") if slider.count() else ""
    return heading, tau or ""


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
    thumb = pg.get_by_role("slider", name="Threshold τ")
    for expected in ("0.11", "0.12"):
        thumb.focus()
        thumb.press("ArrowRight")
        pg.wait_for_function(
            "(t) => new URLSearchParams(location.search).get('tau') === t", arg=expected, timeout=TIMEOUT_MS
        )
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
    pg.get_by_role("slider", name="Threshold τ").focus()
    for _ in range(10):
        pg.keyboard.press("ArrowRight")
        pg.wait_for_timeout(150)
    pg.wait_for_function(
        js("() => afModel('flow_graph').title.text.includes('τ = 0.2,')"), timeout=TIMEOUT_MS
    )
    wait_idle(pg)
    assert "τ = 0.2," in pg.evaluate(js("() => afModel('flow_graph').title.text"))
    assert "tau=0.2" in pg.url


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
    pg.get_by_text("Agreement is evidence that a flow follows").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(pg)
    assert_no_exception(pg)
    wait_bokeh(pg, "saliency_row")
    text = pg.get_by_text("Best per measure").first.inner_text()
    assert "raw attention weights" in text and "norm-weighted" in text, text
    pg.get_by_text("Token saliency and agreement").first.scroll_into_view_if_needed()
    pg.mouse.move(5, 5)
    shoot(pg, screenshots / "2e-saliency-agreement.png")


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
    """The flow view under ALTI (no per-head part): the title names the measure, the heads control is disabled
    with the reason. Screenshots for the README's table."""
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
    assert " of ALTI contributions from " in title, title
    assert pg.get_by_text("have no per-head part").count() > 0
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
