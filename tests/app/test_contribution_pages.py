"""AppTest for the contribution measures and the faithfulness table on the pages (embedded models, offline): a
measure without a per-head part from a link (heads control and per-head edges disabled with the reason, titles),
value zeroing with its bound, the on-demand faithfulness table on the flow page, and the overview under ALTI with
the faithfulness table."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from test_pages import _offline_cache, link_data, named, open_page, titles, view_doc, walk  # noqa: F401 - autouse offline fixture

from attnflow_core.measures import MEASURES


def _text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("measure", ["alti", "globenc"])
def test_a_contribution_measure_from_a_link_has_no_heads_control(measure: str) -> None:
    """A link with a measure without a per-head part and a head subset: the view draws the measure's own
    contributions (the extraction recorded the internals: no fallback note), one whole-layer "head" per layer, its
    heads control and per-head edges off with the reason, titles naming whole layers; the link asks for no heads."""
    at = open_page("pages/flow.py", 180, task="sentiment", measure=measure, method="rollout", heads="0,1")
    assert not at.exception, [e.message for e in at.exception]
    entry = MEASURES.get(measure)
    assert at.sidebar.radio(key="_w_measure").value == measure
    assert entry.label in at.sidebar.radio(key="_w_measure").options
    assert not [w.value for w in at.warning if "forward pass does not capture" in w.value]  # not the fallback
    doc = view_doc(at, "flow")
    heads = named(doc, "w_heads")["attributes"]
    assert heads["disabled"] is True and heads["options"] == ["0"]
    assert named(doc, "w_toggles")["attributes"]["labels"] == ["Emphasise differences"]  # no per-head edges
    maps = [
        dict(o["entries"]) for o in walk(doc) if o.get("type") == "map" and isinstance(o.get("entries"), list)
    ]
    meta = next(
        m for m in maps if "headsReason" in m
    )  # the view's meta (a CustomJS arg, serialised as a map)
    assert meta["measure"] == measure
    assert meta["perHead"] is False and meta["measureIncludesResidual"] is True and meta["H"] == 1
    assert "no per-head part" in meta["headsReason"]
    shown = titles(doc)
    assert any(t.startswith(f"Thresholded trace of {entry.phrase}") for t in shown), shown
    assert any(t.endswith("whole layers") for t in shown)
    assert not any(t.endswith("all heads") for t in shown)
    assert any(t.startswith("Whole layers in the") for t in shown)
    settings = link_data(at)["settings"]
    assert settings["method"] == "rollout" and settings["heads"] is None and settings["perHead"] is False
    assert at.query_params["measure"] in (measure, [measure])


def test_value_zeroing_renders_and_says_so_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page("pages/flow.py", 240, task="sentiment", measure="value-zeroing")
    assert any(
        t.startswith("Thresholded trace of value-zeroing scores") for t in titles(view_doc(at, "flow"))
    )
    from attnflow_core import value_zeroing

    monkeypatch.setattr(value_zeroing, "MAX_RERUNS", 12)  # fewer reruns than any example's tokens × 6 layers
    at = open_page("pages/flow.py", 240, task="qa", measure="value-zeroing")
    shown = " ".join(e.value for e in at.error) + " ".join(w.value for w in at.warning)
    assert "over the limit of 12" in shown and "choose another measure" in shown, shown


def test_faithfulness_table_is_on_demand_for_both_models() -> None:
    at = open_page("pages/flow.py", 600, task="sentiment")
    assert not [df for df in at.dataframe if "AOPC comp. ↑" in df.value.columns]  # not computed until asked
    at.button(key="faith_go").click().run(timeout=600)
    assert not at.exception, [e.message for e in at.exception]
    (table,) = [df.value for df in at.dataframe if "AOPC comp. ↑" in df.value.columns]
    models = set(table.index.get_level_values("model"))
    assert {"pre-trained", "fine-tuned"} <= models
    overs = set(table.index.get_level_values("over"))
    assert {m.short for m in MEASURES} <= overs  # every measure, value zeroing included
    assert {"ρ IG", "ρ gradient", "ρ occlusion", "ρ gradient × input", "ρ IG (content)"} <= set(table.columns)
    assert "random" in set(table.index.get_level_values("ranking"))
    text = _text(at)
    assert "Most faithful to the fine-tuned decision" in text and "random ranking removes" in text


def test_overview_under_alti_with_the_faithfulness_table() -> None:
    at = open_page("pages/overview.py", 600, task="sentiment", measure="alti")
    at.number_input(key="ov_n").set_value(2).run()
    at.toggle(key="ov_faithfulness").set_value(True).run()
    at.button(key="ov_run").click().run(timeout=600)
    assert not at.exception, [e.message for e in at.exception]
    text = _text(at)
    assert "ALTI contributions have no per-head part" in text
    assert "Most faithful to the fine-tuned decision" in text
    (table,) = [df.value for df in at.dataframe if "AOPC comp. ↑" in df.value.columns]
    assert "ALTI" in set(table.index.get_level_values("over"))


def test_zeroing_heads_under_alti_compares_like_with_like() -> None:
    """The Head differences page under ALTI: one "head" per layer, and zeroing real heads re-predicts with both flow
    columns under the raw weights (the re-runs record no layer internals), saying so."""
    at = open_page("pages/heads.py", 240, task="qa", measure="alti")
    assert any("no per-head part" in i.value for i in at.info)
    at.multiselect(key="impact_heads").set_value(["L6 H0", "L5 H3"]).run()
    at.button(key="impact_zero").click().run(timeout=240)
    assert not at.exception, [e.message for e in at.exception]
    assert any("both columns are under the attention weights" in c.value for c in at.caption)
