"""Agreement between flows and saliency: Spearman ρ by hand, specials left out, averaging, the sentence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from attnflow_core.agreement import (
    AgreementRow,
    agreement,
    agreement_sentence,
    best,
    flow_scores_by_method,
    mean_agreement,
    measured_flows,
    settings_flows,
    spearman,
)
from attnflow_core.analysis import FlowSettings, analyse
from attnflow_core.extract import ExampleResult, extract
from attnflow_core.models import load_pair
from tiny import make_tiny_bert_dir


def test_spearman_golden() -> None:
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    # d = (0, 0, 1, -1) on ranks: 1 - 6·2 / (4·15) = 0.8
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 4, 3])) == pytest.approx(0.8)
    assert np.isnan(spearman(np.array([1.0, 1, 1]), np.array([1.0, 2, 3])))
    assert np.isnan(spearman(np.array([1.0, 2]), np.array([1.0, 2])))


def test_agreement_leaves_out_specials_and_uses_magnitudes() -> None:
    flow = np.array([0.9, 0.05, 0.03, 0.02, 0.0])  # [CLS] dominates; specials at 0 and 4
    sal = np.array([0.0, -0.5, 0.3, 0.1, 0.0])  # |.| ranks 1 > 2 > 3, like the flow
    rows = agreement({("trace", "attention"): flow}, {"ig": sal}, special_positions=(0, 4))
    assert rows == [AgreementRow("trace", "attention", "ig", pytest.approx(1.0), 3)]


def test_flow_scores_by_method_and_sentence() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((2, 2, 5, 5))
    a /= a.sum(-1, keepdims=True)
    flows = flow_scores_by_method(a)
    assert set(flows) == {("trace", "attention"), ("rollout", "attention"), ("maxflow", "attention")}
    rows = agreement(flows, {"ig": rng.random(5), "occlusion": rng.random(5)}, (0, 4))
    top = best(rows)
    assert top is not None and top.rho == max(r.rho for r in rows)
    text = agreement_sentence(rows)
    assert top.method in text and "evidence" in text and "not proof" in text


def test_mean_agreement_ignores_nan() -> None:
    rows = [
        [AgreementRow("trace", "attention", "ig", 0.5, 4)],
        [AgreementRow("trace", "attention", "ig", float("nan"), 2)],
        [AgreementRow("trace", "attention", "ig", 0.1, 4)],
    ]
    (mean,) = mean_agreement(rows)
    assert mean.rho == pytest.approx(0.3) and mean.n == 2


def test_averaged_sentence_counts_examples() -> None:
    rows = [AgreementRow("rollout", "attention", "occlusion", 0.42, 40)]
    text = agreement_sentence(rows, averaged=True)
    assert text.startswith("Over these examples, rollout (attention) agrees best with occlusion")
    assert "mean Spearman ρ = 0.42 over 40 examples" in text
    assert "no agreement" in agreement_sentence([AgreementRow("trace", "attention", "ig", float("nan"), 2)])


# One layer, one head, 5 tokens ([CLS] a b c [SEP]). The [CLS] row attends a < b < c, but a's value vector is 8×
# longer and c's 4× shorter, so the norm-weighted row ranks them the other way round:
# attention: [0.2, 0.1, 0.2, 0.4, 0.1]; weights × norms [1, 8, 1, 0.25, 1] = [0.2, 0.8, 0.2, 0.1, 0.1] / 1.4.
ATTN_ROW = np.array([0.2, 0.1, 0.2, 0.4, 0.1])
VNORM = np.array([1.0, 8.0, 1.0, 0.25, 1.0])


def _one_layer() -> tuple[np.ndarray, np.ndarray]:
    a = np.full((1, 1, 5, 5), 0.2)
    a[0, 0, 0] = ATTN_ROW
    return a, VNORM.reshape(1, 1, 5)


def test_measured_flows_golden_both_measures() -> None:
    a, v = _one_layer()
    flows = measured_flows(a, v)
    assert set(flows) == {(m, me) for m in ("trace", "rollout", "maxflow") for me in ("attention", "norm")}
    # rollout of one layer from [CLS] = 0.5·row + 0.5·e_0 (already sums to 1)
    np.testing.assert_allclose(flows[("rollout", "attention")], [0.6, 0.05, 0.1, 0.2, 0.05])
    norm_row = np.array([0.2, 0.8, 0.2, 0.1, 0.1]) / 1.4
    np.testing.assert_allclose(flows[("rollout", "norm")], 0.5 * norm_row + [0.5, 0, 0, 0, 0])
    # saliency |.| ranks a < b < c: rollout agrees fully under the weights and is reversed under the norms
    rows = agreement(flows, {"ig": np.array([0.0, 0.1, -0.2, 0.3, 0.0])}, special_positions=(0, 4))
    by = {(r.method, r.measure): r.rho for r in rows}
    assert by[("rollout", "attention")] == pytest.approx(1.0)
    assert by[("rollout", "norm")] == pytest.approx(-1.0)
    text = agreement_sentence(rows)
    assert "(attention) agrees best with Integrated Gradients" in text
    assert "Best per measure — raw attention weights:" in text and "norm-weighted ‖α·f(x)‖:" in text


def test_measured_flows_without_norms_has_only_the_weights_and_equal_norms_change_nothing() -> None:
    a, v = _one_layer()
    plain = measured_flows(a, None)
    assert {me for _, me in plain} == {"attention"}
    assert "Best per measure" not in agreement_sentence(
        agreement(plain, {"ig": np.array([0.0, 0.1, 0.2, 0.3, 0.0])}, (0, 4))
    )
    same = measured_flows(a, np.full_like(v, 3.0))  # equal norms: N = α, so every method agrees exactly
    for method in ("trace", "rollout", "maxflow"):
        np.testing.assert_allclose(same[(method, "norm")], same[(method, "attention")], atol=1e-6)


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory: pytest.TempPathFactory) -> ExampleResult:
    root: Path = tmp_path_factory.mktemp("tiny-agreement")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    pair = load_pair(str(root / "base"), str(root / "tuned"))
    return extract(pair, "what is the capital of france ?", "paris , unquestionably")


@pytest.mark.parametrize("unit", ["token", "word"])
@pytest.mark.parametrize("measure", ["attention", "norm"])
def test_settings_flows_match_the_pages_own_scores(
    tiny_result: ExampleResult, unit: str, measure: str
) -> None:
    settings = FlowSettings(
        method="rollout", measure=measure, unit=unit, special="renormalise", layers=(1, 2)
    )
    flows = settings_flows(tiny_result, settings)
    assert {me for _, me in flows} == {"attention", "norm"}  # both measures whatever the sidebar's
    own = analyse(tiny_result, settings)
    np.testing.assert_allclose(flows[("rollout", measure)], own.scores_tuned, atol=1e-6)
    other = "norm" if measure == "attention" else "attention"
    np.testing.assert_allclose(
        flows[("trace", other)],
        analyse(tiny_result, replace(settings, method="trace", measure=other)).scores_tuned,
        atol=1e-6,
    )
