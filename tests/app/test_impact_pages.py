"""AppTest for "does the change matter?": zero/patch heads changes the shown confidence, the lazy saliency row and
agreement table, and the overview's importance map (embedded models, offline)."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from test_pages import _offline_cache, open_page  # noqa: F401 - the shared offline fixture (autouse) and page opener


def names_in(at: AppTest) -> set[str]:
    """The names of all Bokeh models rendered on the page."""
    from test_pages import bokeh_docs, walk

    return {
        o["attributes"]["name"]
        for d in bokeh_docs(at)
        for o in walk(d)
        if o.get("attributes", {}).get("name")
    }


def metric(at: AppTest, label_start: str) -> Any:
    return next(m for m in at.metric if m.label.startswith(label_start))


@pytest.mark.parametrize(
    ("button", "title"), [("impact_zero", "After (zeroed"), ("impact_patch", "After (patched")]
)
def test_zero_or_patch_changes_the_shown_confidence(button: str, title: str) -> None:
    at = open_page_slow("pages/heads.py", task="qa")
    assert at.button(key=button).disabled  # nothing selected yet
    at.multiselect(key="impact_heads").set_value(["L3 H9", "L2 H2", "L4 H9", "L6 H0"]).run()
    at.button(key=button).click().run()
    assert not at.exception, [e.message for e in at.exception]
    before = float(metric(at, "Before: P(").value.rstrip("%"))
    shown = metric(at, "After (")
    after = float(shown.value.rstrip("%"))
    assert shown.label.startswith(title) and "L3 H9" in shown.label
    assert after != before
    delta = shown.delta.split()
    assert delta[1] == "points" and float(delta[0]) == pytest.approx(after - before, abs=0.15)  # each rounded
    assert metric(at, "Label after").value in ("entailment", "not_entailment")
    assert any(df.value.shape[1] == 4 for df in at.dataframe)  # the flow scores before/after


def test_flow_page_saliency_is_lazy_and_shows_agreement() -> None:
    at = open_page_slow("pages/flow.py", task="qa")
    assert "saliency_row" not in names_in(at)  # not computed until asked
    at.button(key="saliency_go").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert "saliency_row" in names_in(at)
    text = " ".join(m.value for m in at.markdown)
    assert "agrees best" in text and "not proof" in text
    assert "Best per measure" in text  # every flow method under both measures
    (table,) = [df.value for df in at.dataframe if "Integrated Gradients" in df.value.columns]
    assert set(table.index.get_level_values("measure")) == {"attention", "norm"}


def test_overview_shows_importance_next_to_change() -> None:
    at = open_page_slow("pages/overview.py", task="qa")
    at.number_input(key="ov_n").set_value(4).run()
    at.toggle(key="ov_importance").set_value(True).run()
    at.button(key="ov_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert "importance_scatter" in names_in(at)
    assert any("Did fine-tuning change the heads that matter?" in m.value for m in at.markdown)


def open_page_slow(page: str, **params: str) -> AppTest:
    """``open_page`` with room for the interventions and saliency (slower than the other pages)."""
    return open_page(page, 180, **params)
