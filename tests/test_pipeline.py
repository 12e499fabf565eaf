"""The staged pipeline (``attnflow_core.pipeline``): each stage a function of its key, composed into ``analyse``;
the measure's one policy; the "does the change matter?" results (``impact``) and head statistics read off it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from attnflow_core import pipeline
from attnflow_core.analysis import analyse, analysis_of
from attnflow_core.extract import ExampleResult, extract
from attnflow_core.impact import agreement_frame, head_name, head_names, intervention_summary, parse_head_name
from attnflow_core.interventions import INTERVENTIONS, Reprediction
from attnflow_core.measures import MEASURES, Captured
from attnflow_core.models import load_pair
from attnflow_core.settings import ExampleSettings, FlowSettings
from tiny import make_tiny_bert_dir


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ExampleResult:
    root: Path = tmp_path_factory.mktemp("tiny-pipeline")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    pair = load_pair(str(root / "base"), str(root / "tuned"))
    return extract(pair, "what is the capital of france ?", "paris , unquestionably")


def test_the_stages_compose_into_analyse(result: ExampleResult) -> None:
    """analyse = measured attention → head statistics, trace and flows; each stage alone gives the same numbers."""
    settings = FlowSettings(method="rollout", unit="word", special="renormalise", threshold=0.05)
    whole = analyse(result, settings)
    measured = pipeline.measured_attention(result, settings.example)
    assert measured.settings == settings.example and measured.note == ""
    np.testing.assert_array_equal(measured.attn_base, whole.attn_base)
    drawn = pipeline.flows(measured, settings.flow_key(result.num_layers))
    np.testing.assert_array_equal(drawn.scores_tuned, whole.scores_tuned)
    stats = pipeline.head_statistics(measured)
    np.testing.assert_array_equal(stats.js, whole.head_diff.js)
    traced = pipeline.pair_trace(measured, settings.trace_key(result.num_layers))
    assert traced.n_edges == whole.trace.n_edges
    again = analysis_of(measured, settings, stats=stats, traced=traced, drawn=drawn)
    assert again.graph is drawn.graph and again.trace is traced
    np.testing.assert_array_equal(again.head_diff.flow_share_tuned, whole.head_diff.flow_share_tuned)


def test_nothing_hidden_shares_the_measured_arrays(result: ExampleResult) -> None:
    measured = pipeline.measured_attention(result, ExampleSettings("attention", "token", "keep"))
    assert (
        measured.attn_base is measured.unit_base is result.attn_base
    )  # no copy of what the extraction holds


def test_the_measure_falls_back_to_the_weights_once_and_says_so(result: ExampleResult) -> None:
    bare = replace(result, vnorm_tuned=None)
    assert pipeline.available_measures(bare.captured("tuned")) == (MEASURES.get("attention"),)
    measured = pipeline.measured_attention(bare, ExampleSettings(measure="norm"))
    assert measured.settings.measure == "attention" and measured.requested == "norm"
    assert "norm-weighted attention measure needs" in measured.note
    assert analyse(bare, FlowSettings(measure="norm")).note == measured.note


def test_head_statistics_helpers(result: ExampleResult) -> None:
    diff = analyse(result, FlowSettings()).head_diff
    layer, head = diff.most_changed()
    assert diff.js[layer - 1, head] == diff.js.max()
    np.testing.assert_allclose(diff.layer_means(), diff.js.mean(axis=1))
    sentence = diff.layer_sentence()
    assert sentence.startswith("Mean JS divergence per layer: L1 ")
    assert sentence.endswith(f"layer {int(np.argmax(diff.layer_means())) + 1}.")


def test_head_names_round_trip() -> None:
    assert head_name(3, 9) == "L3 H9" and parse_head_name("L3 H9") == (2, 9)
    assert head_names(2, 2) == ["L1 H0", "L1 H1", "L2 H0", "L2 H1"]


def test_an_intervention_that_changes_nothing_reads_as_no_change(result: ExampleResult) -> None:
    """A Reprediction whose "after" is the example's own capture: flows unchanged, the same edges, the same label."""
    an = analyse(result, FlowSettings(method="maxflow", threshold=0.05))
    rep = Reprediction(
        ("negative", "positive"), (0.3, 0.7), (0.3, 0.7), result.attn_tuned, result.vnorm_tuned
    )
    s = intervention_summary(an, result.encoding, rep, "zero", ["L1 H0"])
    before, after, label = s.metrics
    assert before.label == "Before: P(positive)" and before.value == "70.0%"
    assert after.label == "After (zeroed L1 H0): P(positive)" and after.delta == "+0.0 points"
    assert label.value == "positive" and label.delta == "unchanged" and label.delta_color == "off"
    assert s.table["change"].abs().max() == 0.0
    assert s.table.columns.tolist() == ["unit", "flow before", "flow after", "change"]
    drawn = an.graph.tuned.n_edges  # the edges the flow graph draws, the count the picture shows
    assert f"the flow graph draws {drawn} of its edges before and {drawn} after" in s.caption
    assert "attention max-flow scores (norm-weighted attention" in s.caption


def test_an_intervention_that_flips_the_label(result: ExampleResult) -> None:
    an = analyse(result, FlowSettings(method="rollout"))
    other = np.full_like(result.attn_tuned, 1.0 / result.encoding.n)
    rep = Reprediction(("negative", "positive"), (0.3, 0.7), (0.8, 0.2), other, None)
    s = intervention_summary(an, result.encoding, rep, INTERVENTIONS.get("patch"), ["L2 H1"])
    _, after, label = s.metrics
    assert after.label.startswith("After (patched L2 H1)") and after.delta == "-50.0 points"
    assert (
        label.value == "negative"
        and label.delta == "changed from positive"
        and label.delta_color == "inverse"
    )
    assert "(attention weights, from" in s.caption  # no value norms after: the weights, by the one policy
    assert s.table["change"].abs().max() > 0


def test_the_agreement_frame_is_method_and_measure_by_saliency() -> None:
    from attnflow_core.agreement import AgreementRow

    rows = [
        AgreementRow("trace", "norm", "ig", 0.4567, 5),
        AgreementRow("trace", "norm", "occlusion", -0.1, 5),
        AgreementRow("rollout", "attention", "ig", 0.2, 5),
    ]
    frame = agreement_frame(rows)
    assert frame.index.names == ["flow method", "measure"]
    assert set(frame.columns) == {"Integrated Gradients", "occlusion"}
    assert frame.loc[("trace", "norm"), "Integrated Gradients"] == 0.46


def test_a_capture_knows_what_it_provides(result: ExampleResult) -> None:
    assert result.captured("base").provides == {"weights", "value_norms"}
    assert Captured(result.attn_base).provides == {"weights"}
    with pytest.raises(ValueError, match="model must be one of"):
        result.captured("other")
