"""The analysis step: settings validation, units, special-token treatment, and self-comparison invariants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attnflow_core.analysis import FlowSettings, analyse
from attnflow_core.extract import ExampleResult, extract
from attnflow_core.models import load_pair
from tiny import make_tiny_bert_dir


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ExampleResult:
    root: Path = tmp_path_factory.mktemp("tiny-analysis")
    make_tiny_bert_dir(root / "base", with_head=False, seed=0)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=1)
    pair = load_pair(str(root / "base"), str(root / "tuned"))
    return extract(pair, "what is the capital of france ?", "paris , unquestionably")


@pytest.fixture(scope="module")
def self_result(result: ExampleResult) -> ExampleResult:
    return ExampleResult(
        encoding=result.encoding,
        attn_base=result.attn_base,
        attn_tuned=result.attn_base.copy(),
        prediction_tuned=None,
        prediction_base=None,
        base_ref="x",
        tuned_ref="x",
    )


@pytest.mark.parametrize("method", ["trace", "rollout", "maxflow"])
def test_scores_are_distributions_for_every_method(result: ExampleResult, method: str) -> None:
    a = analyse(result, FlowSettings(method=method, threshold=0.0))
    assert a.scores_base.shape == a.scores_tuned.shape == (result.encoding.n,)
    assert a.scores_base.sum() == pytest.approx(1.0, abs=1e-6)
    assert a.scores_tuned.sum() == pytest.approx(1.0, abs=1e-6)
    assert (a.scores_base >= 0).all()


def test_model_against_itself_shows_no_difference(self_result: ExampleResult) -> None:
    a = analyse(self_result, FlowSettings(threshold=0.05))
    assert np.all(a.head_diff.js == 0) and np.all(a.head_diff.mad == 0)
    assert set(np.asarray(a.trace.status).tolist()) == {"shared"}
    np.testing.assert_allclose(a.scores_base, a.scores_tuned)


def test_word_units_merge_wordpieces(result: ExampleResult) -> None:
    a = analyse(result, FlowSettings(unit="word", threshold=0.0))
    assert a.labels == result.encoding.words
    assert "unquestionably" in a.labels
    w = len(result.encoding.words)
    assert a.attn_base.shape[-2:] == (w, w)
    np.testing.assert_allclose(a.attn_base.sum(-1), 1.0, atol=1e-5)


def test_renormalised_special_tokens_receive_nothing(result: ExampleResult) -> None:
    a = analyse(result, FlowSettings(special="renormalise", threshold=0.0))
    specials = list(result.encoding.special_positions)
    assert np.all(a.attn_base[..., specials] == 0)
    np.testing.assert_allclose(a.attn_base.sum(-1), 1.0, atol=1e-5)
    dst = np.asarray(a.trace.dst)
    assert not np.isin(dst, specials).any()


def test_layer_range_and_heads_restrict_the_trace(result: ExampleResult) -> None:
    a = analyse(result, FlowSettings(layers=(2, 2), heads=(1,), threshold=0.0))
    assert set(np.asarray(a.trace.layer).tolist()) == {2}
    assert set(np.asarray(a.trace.head).tolist()) == {1}
    assert a.layer_range == (2, 2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [  # FlowSettings's keyword arguments: it refuses a bad name or τ/α when built, the rest when fitted to a model
        ({"threshold": 1.5}, "threshold must be in"),
        ({"decay": 0.0}, "decay must be in"),
        ({"method": "magic"}, "method must be one of"),
        ({"layers": (2, 5)}, "layers must satisfy"),
        ({"heads": (7,)}, "heads must be in"),
        ({"source": 99}, "source must index"),
        ({"special": "drop"}, "special must be one of"),
        ({"unit": "char"}, "unit must be one of"),
    ],
)
def test_bad_settings_name_the_fix(result: ExampleResult, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analyse(result, FlowSettings(**settings))
