"""A new measure is one registry entry and its function: a fake measure (not shipped) registered here flows through
the settings, the URL and the CLI, the pipeline (its residual honoured by rollout and max-flow, its single "head"
respected) and the titles, with no other change anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from attnflow_core.analysis import analyse
from attnflow_core.extract import ExampleResult, extract
from attnflow_core.flows import rollout
from attnflow_core.measures import MEASURES, Captured, Measure, measure_attention
from attnflow_core.methods import flow_scores
from attnflow_core.models import load_pair
from attnflow_core.overview import OverviewSettings
from attnflow_core.plots.flow_graph import graph_title
from attnflow_core.report import to_dict
from attnflow_core.settings import FlowSettings
from attnflow_core.urlstate import parse_choice
from tiny import make_tiny_bert_dir

KEY = "fake-residual"


def fake_contributions(captured: Captured) -> np.ndarray:
    """A made-up measure without a per-head part that already holds the residual: ½·(mean over heads) + ½·I,
    (L, H, n, n) -> (L, 1, n, n), rows summing to 1."""
    mean = np.asarray(captured.attn, dtype=np.float64).mean(axis=-3, keepdims=True)
    return (0.5 * mean + 0.5 * np.eye(mean.shape[-1])).astype(np.float32)


FAKE = Measure(
    KEY,
    label="Fake residual contributions (a test's)",
    phrase="fake residual contributions",
    short="fake contributions",
    help="Registered by a test only.",
    compute=fake_contributions,
    per_head=False,
    includes_residual=True,
)


@pytest.fixture
def registered() -> Iterator[Measure]:
    with MEASURES.registered(FAKE) as entry:
        yield entry
    assert KEY not in MEASURES


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ExampleResult:
    root: Path = tmp_path_factory.mktemp("tiny-plugin")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    return extract(
        load_pair(str(root / "base"), str(root / "tuned")), "what is the capital of france ?", "paris"
    )


def test_it_is_a_setting_a_url_value_and_an_overview_setting(registered: Measure) -> None:
    assert FlowSettings(measure=KEY).measure is registered
    assert OverviewSettings(measure=KEY).measure is registered
    assert parse_choice(KEY, MEASURES.keys()) == KEY and MEASURES.find(KEY) is registered


@pytest.mark.parametrize("method", ["rollout", "maxflow"])
def test_rollout_and_maxflow_add_no_second_residual(
    registered: Measure, result: ExampleResult, method: str
) -> None:
    """The scores are the method's over the measure with no ½·I added (``includes_residual``), which differ from
    the scores with it added; the one "head" is the measure's whole layer."""
    a = analyse(result, FlowSettings(method=method, measure=KEY, heads=(1,)))
    assert a.settings.measure is registered and a.settings.heads is None
    assert a.attn_tuned.shape[1] == 1 and a.head_diff.js.shape == (result.num_layers, 1)
    fake = measure_attention(result.captured("tuned"), KEY)
    np.testing.assert_allclose(a.scores_tuned, flow_scores(fake, method, residual=False), atol=1e-7)
    assert not np.allclose(a.scores_tuned, flow_scores(fake, method, residual=True), atol=1e-4)
    if method == "rollout":
        row = rollout(fake, residual=False)[-1, 0]
        np.testing.assert_allclose(a.scores_tuned, row / row.sum(), atol=1e-7)


def test_titles_and_exports_name_it(registered: Measure, result: ExampleResult) -> None:
    a = analyse(result, FlowSettings(method="rollout", measure=KEY))
    assert graph_title(a).startswith("Attention rollout of fake residual contributions from '[CLS]' (#0)")
    assert to_dict(result, a)["settings"]["measure"] == KEY


def test_the_cli_offers_it(registered: Measure, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from attnflow_core.__main__ import main

    make_tiny_bert_dir(tmp_path / "base", with_head=False, seed=0)
    make_tiny_bert_dir(tmp_path / "tuned", with_head=True, seed=1)
    args = ["compare", "--base", str(tmp_path / "base"), "--tuned", str(tmp_path / "tuned"), "--text", "good"]
    assert main([*args, "--method", "maxflow", "--measure", KEY, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["measure"] == KEY


def test_the_flow_page_offers_it_from_a_link(
    registered: Measure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The sidebar's radio, the URL and the view's title follow the registry; the view's heads control is disabled
    with the reason, since the measure has no per-head part (AppTest runs the page in this process)."""
    from tests.app.test_pages import named, open_page, titles, view_doc

    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("HF_DATASETS_OFFLINE", "1"),
        ("ATTNFLOW_CACHE", str(tmp_path)),
    ):
        monkeypatch.setenv(name, value)
    at = open_page("pages/flow.py", measure=KEY, method="rollout")
    assert at.sidebar.radio(key="_w_measure").value == KEY
    assert FAKE.label in at.sidebar.radio(key="_w_measure").options
    doc = view_doc(at, "flow")
    assert named(doc, "w_heads")["attributes"]["disabled"] is True
    assert "no per-head part: every head is used" in json.dumps(doc)  # the reason the view shows beside it
    # the view is first drawn at the default drawing settings (the trace) under the measure; the browser redraws
    assert any(t.startswith("Thresholded trace of fake residual contributions") for t in titles(doc))
    assert at.query_params["measure"] in (KEY, [KEY])
