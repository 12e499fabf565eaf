"""AppTest: the attention-measure control (default norm, in the URL and the exports) and the preset links."""

from __future__ import annotations

from test_pages import _offline_cache, link_data, open_page  # noqa: F401 - the shared offline fixture (autouse)

from attnflow_core.presets import PRESETS, TEASER_UID


def test_measure_defaults_to_norm_and_travels_in_the_url() -> None:
    at = open_page("pages/flow.py")
    radio = at.sidebar.radio(key="_w_measure")
    assert radio.label == "Attention measure" and radio.value == "norm"
    assert "measure" not in at.query_params  # the default is not written
    assert any("Norm-weighted" in c.value for c in at.caption)
    radio.set_value("attention").run()
    assert not at.exception
    assert at.query_params["measure"] in ("attention", ["attention"])
    again = open_page("pages/flow.py", measure="attention")
    assert again.sidebar.radio(key="_w_measure").value == "attention"


def test_a_preset_url_opens_the_teaser_traced_from_what_and_replaces_the_selection() -> None:
    p = next(p for p in PRESETS if p.key == "teaser")
    at = open_page(f"pages/{p.page}.py", **p.query_dict)
    assert not at.error, [e.value for e in at.error]
    assert "Jacksonville" in " ".join(m.value for m in at.markdown)
    assert link_data(at)["settings"]["source"] == 1
    assert any("validation idx 31" in c.value for c in at.caption)
    assert "preset" not in at.query_params and at.query_params["ex"] in (TEASER_UID, [TEASER_UID])
    # In a running session, a preset link replaces the selection (an ordinary URL only seeds a new session).
    sinks = next(p for p in PRESETS if p.key == "sinks-weights")
    at.query_params.clear()  # a link replaces the whole query string
    for k, v in sinks.query_dict.items():
        at.query_params[k] = v
    at.run()
    assert at.sidebar.radio(key="_w_measure").value == "attention"
    settings = link_data(at)["settings"]
    assert (settings["method"], settings["source"]) == ("rollout", 0)
    assert link_data(at)["fresh"]  # the server changed them: the view shows them
