"""Agreement between flows and saliency: Spearman ρ by hand, specials left out, averaging, the sentence."""

from __future__ import annotations

import numpy as np
import pytest

from attnflow_core.agreement import (
    AgreementRow,
    agreement,
    agreement_sentence,
    best,
    flow_scores_by_method,
    mean_agreement,
    spearman,
)


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
