"""Presets and the paper's teaser: the example ships in the demo set, the links carry known URL state, and the
claims each preset's explanation makes hold for the embedded MiniLM pair (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from attnflow_core.data.demo import load_demo
from attnflow_core.presets import (
    PRESETS,
    TEASER_QUESTION,
    TEASER_SENTENCE,
    TEASER_SOURCE_TOKEN,
    TEASER_UID,
)

# Query parameters the app reads (urlstate.URL_PARAMS plus the special-token mode), written out by hand: a second,
# independent list of what a preset may use.
APP_PARAMS = {"task", "pair", "source", "split", "ex", "text", "text_pair", "base", "tuned", "method"}
APP_PARAMS |= {"layers", "heads", "tau", "alpha", "src", "unit", "measure", "special"}


def test_the_teaser_ships_in_the_qa_demo_set_under_its_stable_id() -> None:
    demo = load_demo("qa").to_pandas()
    row = demo[demo["uid"] == TEASER_UID]
    assert len(row) == 1
    assert row.iloc[0]["question"] == TEASER_QUESTION
    assert row.iloc[0]["sentence"] == TEASER_SENTENCE
    assert row.iloc[0]["label"] == "entailment"  # GLUE QNLI label 0
    assert demo.iloc[0]["uid"] != TEASER_UID  # the default example is unchanged


def test_presets_are_distinct_links_to_known_pages_and_keys() -> None:
    assert len({p.key for p in PRESETS}) == len(PRESETS) >= 3
    for p in PRESETS:
        assert p.page in ("flow", "heads")
        assert set(dict(p.query)) <= APP_PARAMS, p.key
        assert p.query_dict["preset"] == p.key and dict(p.query)["ex"] == TEASER_UID
        assert p.url().startswith(f"/{p.page}?") and f"preset={p.key}" in p.url()
    by_key = {p.key: p for p in PRESETS}
    assert by_key["teaser"].query_dict["src"] == str(TEASER_SOURCE_TOKEN)
    sinks = {dict(by_key[k].query)["measure"] for k in ("sinks-weights", "sinks-norms")}
    assert sinks == {"attention", "norm"}


@pytest.fixture(scope="module")
def teaser():
    from attnflow_core.extract import extract
    from attnflow_core.models import load_pair

    pair = load_pair("embedded:minilm", "embedded:qa")
    return extract(pair, TEASER_QUESTION, TEASER_SENTENCE, max_length=128)


ANSWER = ("jackson", "##vill", "##ians", "jax", "##sons", "jax", "##ons")


@pytest.mark.slow
def test_teaser_preset_claims(teaser) -> None:
    """'what' is token 1; the trace from it gives the answer WordPieces ~0 under the weights and a few per cent under
    the norms (measured: 0.08 pre-trained, 0.05 fine-tuned); the fine-tuned model predicts entailment."""
    from attnflow_core.analysis import FlowSettings, analyse

    assert teaser.tokens[TEASER_SOURCE_TOKEN] == "what"
    answer = [i for i, t in enumerate(teaser.tokens) if t in ANSWER and i > teaser.tokens.index("[SEP]")]
    assert tuple(teaser.tokens[i] for i in answer) == ANSWER
    assert teaser.prediction_tuned is not None and teaser.prediction_tuned.label == "entailment"
    share = {}
    for m in ("attention", "norm"):
        a = analyse(teaser, FlowSettings(source=TEASER_SOURCE_TOKEN, measure=m))
        share[m] = (a.scores_base[answer].sum(), a.scores_tuned[answer].sum())
    assert max(share["attention"]) < 1e-3
    assert min(share["norm"]) > 0.03, share


@pytest.mark.slow
def test_sink_and_last_layer_preset_claims(teaser) -> None:
    from attnflow_core.analysis import FlowSettings, analyse

    special = {}
    for m in ("attention", "norm"):
        a = analyse(teaser, FlowSettings(method="rollout", measure=m))
        sp = list(a.special_positions)
        special[m] = np.array([a.scores_base[sp].sum(), a.scores_tuned[sp].sum()])
    assert (special["attention"] > 0.6).all() and (special["norm"] < 0.25).all(), special
    js = analyse(teaser, FlowSettings(measure="norm")).head_diff.js.mean(axis=1)  # (L,) per layer
    assert js[3:].min() > 2 * js[:3].max(), js
