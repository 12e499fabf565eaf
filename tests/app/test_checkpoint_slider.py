"""AppTest: the sidebar's fine-tuning checkpoint slider (issue 18): shown only for a fine-tuned model with checkpoints,
at the final one by default, in the URL (``step``, left out at the default), a link's bad step dropped with the
one-line notice, and the chosen checkpoint reaching the analysis (the extraction's reference, the views' titles)."""

from __future__ import annotations

from typing import Any

from test_pages import _offline_cache, link_data, open_page, titles, view_doc  # noqa: F401 - autouse fixture

from attnflow_core.checkpoints import checkpoint_choice, checkpoint_tick
from attnflow_core.models import list_checkpoints
from pages.ui.boundary import md_escape

SLIDER = "_w_checkpoint"
QA_TEASER = {"task": "qa", "ex": "qnli-val-31"}


def _param(at: Any, name: str) -> str | None:
    if name not in at.query_params:
        return None
    value = at.query_params[name]
    return str(value[0] if isinstance(value, list) else value)


def _captions(at: Any) -> str:
    return " ".join(str(c.value) for c in at.caption)


def test_the_slider_offers_the_checkpoints_by_step_and_starts_at_the_final_one() -> None:
    at = open_page("pages/flow.py", **QA_TEASER)
    slider = at.sidebar.select_slider(key=SLIDER)
    found = list_checkpoints("embedded:qa")
    assert len(found) >= 6
    # labelled for a student, by step; the final one is the fine-tuned model itself ("" = its plain reference, so
    # default URLs and caches do not change)
    assert slider.options == [checkpoint_tick(c) for _, c in found]
    assert slider.options[3] == "step 113"
    assert any(c.value.startswith(f"**{checkpoint_choice(found[-1][1])}**") for c in at.sidebar.caption)
    assert slider.value == "" and _param(at, "step") is None
    assert slider.label == "Fine-tuning checkpoint"
    assert "step 0 is the pre-trained encoder with the untrained head" in _captions(at)
    assert f"fine-tuned: {md_escape('embedded:qa')} (" in _captions(
        at
    )  # the example header names the compared model


def test_moving_the_slider_changes_the_analysis_the_titles_and_the_url_and_a_link_reproduces_it() -> None:
    at = open_page("pages/flow.py", **QA_TEASER)
    final_titles = titles(view_doc(at, "flow"))
    assert any(t.endswith("— fine-tuned") for t in final_titles)
    at.sidebar.select_slider(key=SLIDER).set_value("113").run()
    assert not at.exception, [e.message for e in at.exception]
    assert _param(at, "step") == "113"
    assert f"fine-tuned: {md_escape('embedded:qa@step-113')} (" in _captions(
        at
    )  # the extraction ran the checkpoint
    shown = titles(view_doc(at, "flow"))
    assert any(t.endswith("— fine-tuned (step 113 of 339)") for t in shown), shown
    assert link_data(at)["settings"]["source"] == 0  # the drawing settings are the session's, unchanged
    # a shared link (or a reload) reproduces the view
    again = open_page("pages/flow.py", step="113", **QA_TEASER)
    assert again.sidebar.select_slider(key=SLIDER).value == "113"
    assert titles(view_doc(again, "flow")) == shown
    # back to the final checkpoint: the URL drops the parameter, the view is the fine-tuned model's again
    at.sidebar.select_slider(key=SLIDER).set_value("").run()
    assert _param(at, "step") is None
    assert titles(view_doc(at, "flow")) == final_titles


def test_head_differences_and_the_prediction_follow_the_checkpoint() -> None:
    at = open_page("pages/heads.py", step="0", **QA_TEASER)
    assert at.sidebar.select_slider(key=SLIDER).value == "0"
    shown = titles(view_doc(at, "heads"))
    assert "fine-tuned (step 0 of 339)" in shown, shown
    assert (
        "fine-tuned (step 0 of 339) − pre-trained" in shown
    )  # the colours named in the caption (long label)
    step0 = at.metric[0].value, at.metric[0].delta
    final = open_page("pages/heads.py", **QA_TEASER)
    assert "fine-tuned" in titles(view_doc(final, "heads"))
    # step 0 is the untrained head: its prediction on the teaser is not the trained model's (0.97 entailment)
    assert (final.metric[0].value, final.metric[0].delta) != step0


def test_a_links_step_that_is_not_a_checkpoint_is_dropped_with_a_notice() -> None:
    for bad in ("7", "abc", "-1", "113.0"):
        at = open_page("pages/flow.py", step=bad, **QA_TEASER)
        assert at.sidebar.select_slider(key=SLIDER).value == ""
        assert (
            "Ignored the link's `step` value: a checkpoint step of this model (0, 28, 57, 113, 226, 339)"
            in (_captions(at))
        ), bad
        assert _param(at, "step") is None
        assert not at.error
    # the final step named explicitly is the default: used, and left out of the URL, without a notice
    at = open_page("pages/flow.py", step="339", **QA_TEASER)
    assert at.sidebar.select_slider(key=SLIDER).value == "" and _param(at, "step") is None
    assert "Ignored" not in _captions(at)


def test_no_slider_for_a_fine_tuned_model_without_checkpoints() -> None:
    at = open_page(
        "pages/flow.py",
        pair="custom",
        base="embedded:minilm",
        tuned="embedded:minilm",
        step="113",
        **QA_TEASER,
    )
    assert not at.sidebar.select_slider, "a model without checkpoints has no slider"
    assert "this fine-tuned model records no checkpoints" in _captions(at)
    assert _param(at, "step") is None


def test_a_task_switch_starts_the_next_model_at_its_final_checkpoint() -> None:
    at = open_page("pages/flow.py", step="113", **QA_TEASER)
    at.sidebar.selectbox(key="_w_task").set_value("sentiment").run()
    assert not at.exception
    assert at.sidebar.select_slider(key=SLIDER).value == ""
    assert _param(at, "step") is None and "Ignored" not in _captions(at)
