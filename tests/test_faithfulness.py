"""Faithfulness: top-k counts and masks by hand, AOPC of a perfect, a worst and a random ranking under a stub
decision, ρ, merging sums, the sentence, the torch predictor against occlusion, and both models of a tiny pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attnflow_core.errors import AttnflowError
from attnflow_core.extract import extract
from attnflow_core.faithfulness import (
    AOPC_COMP,
    AOPC_SUFF,
    COMP,
    RANDOM,
    RHO,
    RHO_CONTENT,
    FaithfulnessRow,
    FaithfulnessSums,
    RankingId,
    deletion_curves,
    deletion_masks,
    example_faithfulness,
    faithfulness_sentence,
    flow_rankings,
    measure_matrices,
    model_predictor,
    pair_faithfulness,
    random_scores,
    top_count,
)
from attnflow_core.measures import MEASURES, Capture, Captured
from attnflow_core.methods import flow_scores
from attnflow_core.models import load_pair
from attnflow_core.saliency import saliency
from tiny import make_tiny_bert_dir

SPECIALS = (0, 11)  # [CLS] … [SEP] around 10 content tokens
KEY = 4  # the one token the stub decision depends on


def stub_predict(masks: np.ndarray) -> np.ndarray:
    """p(class) = 0.9 while token KEY is present, 0.1 once it is cut."""
    return np.where(masks[:, KEY], 0.9, 0.1)


def test_top_count_and_masks_by_hand() -> None:
    assert [top_count(f, 10) for f in (0.1, 0.2, 0.3, 0.4, 0.5)] == [1, 2, 3, 4, 5]
    assert [top_count(f, 3) for f in (0.1, 0.2, 0.3, 0.5)] == [1, 1, 1, 2]  # ⌊0.5·3 + ½⌋ = 2
    assert top_count(0.1, 0) == 0
    scores = np.array([9.0, 0.1, 0.5, 0.5, 0.3, 9.0])  # specials 0 and 5 are never ranked
    without, only = deletion_masks(scores, (0, 5), (0.25, 0.5))
    # content 1..4 by descending score, ties to the earlier: 2, 3, 4, 1; top-1 = {2}, top-2 = {2, 3}
    np.testing.assert_array_equal(without, [[1, 1, 0, 1, 1, 1], [1, 1, 0, 0, 1, 1]])
    np.testing.assert_array_equal(only, [[1, 0, 1, 0, 0, 1], [1, 0, 1, 1, 0, 1]])


def test_aopc_of_a_perfect_a_worst_and_a_random_ranking() -> None:
    n = 12
    perfect = np.zeros(n)
    perfect[KEY] = 1.0  # KEY first
    worst = np.ones(n)
    worst[KEY] = 0.0  # KEY last of the 10 content tokens
    curves = deletion_curves(
        {RankingId("tuned", "p"): perfect, RankingId("tuned", "w"): worst}, SPECIALS, stub_predict
    )
    best, bad = curves[RankingId("tuned", "p")], curves[RankingId("tuned", "w")]
    # perfect: cutting the top k always cuts KEY (0.9 -> 0.1); keeping only the top k keeps it (no drop)
    np.testing.assert_allclose(best.comprehensiveness, 0.8)
    np.testing.assert_allclose(best.sufficiency, 0.0)
    assert best.aopc_comprehensiveness == pytest.approx(0.8) and best.aopc_sufficiency == pytest.approx(0.0)
    # worst: the top 1..5 of 10 never hold KEY
    np.testing.assert_allclose(bad.comprehensiveness, 0.0)
    np.testing.assert_allclose(bad.sufficiency, 0.8)
    # random: KEY is in the top c of 10 with probability c/10, so E[comprehensiveness] = 0.8·(1+2+3+4+5)/50 = 0.24
    rand = [
        deletion_curves({RANDOM: random_scores(n, s)}, SPECIALS, stub_predict)[RANDOM].aopc_comprehensiveness
        for s in range(2000)
    ]
    assert np.mean(rand) == pytest.approx(0.24, abs=0.01)


def test_each_distinct_input_is_predicted_once() -> None:
    seen: list[int] = []

    def counting(masks: np.ndarray) -> np.ndarray:
        seen.append(len(masks))
        return stub_predict(masks)

    same = np.arange(12.0)
    deletion_curves({RankingId("base", "a"): same, RankingId("tuned", "a"): same}, SPECIALS, counting)
    assert seen == [11]  # one call: the full input + 5 cuts + 5 keeps, shared by the two identical rankings
    assert deletion_curves({RANDOM: np.ones(2)}, (0, 1), counting) == {}  # nothing to remove


def test_example_sums_rho_and_merging() -> None:
    sal = np.linspace(0, 1, 12)
    rankings = {RankingId("tuned", "rollout", "alti"): sal * 2, RankingId("base", "rollout", "alti"): -sal}
    one = example_faithfulness(rankings, {"gradient": sal}, SPECIALS, stub_predict)
    rows = {(r.ranking.model, r.metric, r.reference): r for r in one.rows()}
    assert rows[("tuned", RHO, "gradient")].value == pytest.approx(1.0)
    assert rows[("base", RHO_CONTENT, "gradient")].value == pytest.approx(-1.0)
    assert rows[("tuned", COMP, "0.1")].n == 1
    const = example_faithfulness({RANDOM: np.ones(12)}, {"gradient": sal}, SPECIALS, stub_predict)
    assert const.rows()[0].metric == AOPC_COMP  # rows sort by (ranking, metric, reference)
    both = one + const + FaithfulnessSums()
    assert both.n == 2
    by_key = {(r.ranking, r.metric, r.reference): r for r in both.rows()}
    assert by_key[(RANDOM, RHO, "gradient")].n == 0 and np.isnan(by_key[(RANDOM, RHO, "gradient")].value)
    twice = one + one
    np.testing.assert_allclose([r.value for r in twice.rows()], [r.value for r in one.rows()])
    assert all(r.n == 2 for r in twice.rows())


def test_flow_rankings_skip_the_identity_for_measures_with_the_residual() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, 5, 5))
    a /= a.sum(-1, keepdims=True)
    per_token = a.mean(1)  # (L, n, n), as ALTI
    out = flow_rankings({"attention": a, "alti": per_token}, "tuned")
    assert len(out) == 6
    np.testing.assert_allclose(out[RankingId("tuned", "rollout", "attention")], flow_scores(a, "rollout"))
    want = (per_token[1] @ per_token[0])[0]
    np.testing.assert_allclose(out[RankingId("tuned", "rollout", "alti")], want / want.sum(), atol=1e-12)


def _row(model: str, method: str, measure: str, value: float) -> FaithfulnessRow:
    return FaithfulnessRow(RankingId(model, method, measure), AOPC_COMP, "", value, 10)


def test_sentence_names_the_best_of_each_model_and_the_order() -> None:
    rows = [
        _row("base", "rollout", "alti", 0.30),
        _row("base", "maxflow", "norm", 0.20),
        _row("base", "trace", "attention", 0.10),
        _row("tuned", "rollout", "alti", 0.10),
        _row("tuned", "maxflow", "norm", 0.20),
        _row("tuned", "trace", "attention", 0.35),
        _row("tuned", "saliency", "gradient", 0.9),  # saliencies are not flows: never "most faithful flow"
        FaithfulnessRow(RANDOM, AOPC_COMP, "", 0.15, 10),
    ]
    text = faithfulness_sentence(rows)
    assert "pre-trained model rollout over ALTI (0.300)" in text
    assert "fine-tuned model trace over raw attention weights (0.350)" in text
    assert "random ranking removes 0.150" in text
    assert "Fine-tuning changed the order of the 3 flow rankings (Kendall τ = -1.00" in text
    kept = faithfulness_sentence(
        [_row(m, "rollout", me, v) for m in ("base", "tuned") for me, v in (("a", 1), ("b", 2))]
    )
    assert "Fine-tuning kept the order" in kept
    low = faithfulness_sentence(
        [_row("tuned", "rollout", "alti", 0.1), FaithfulnessRow(RANDOM, AOPC_COMP, "", 0.2, 3)]
    )
    assert "no better than random" in low
    assert "no faithfulness can be measured" in faithfulness_sentence([])


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("tiny-faith")
    make_tiny_bert_dir(root / "base", with_head=False, seed=7, layers=2, heads=2)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=8, layers=2, heads=2)
    return load_pair(str(root / "base"), str(root / "tuned"))


def test_predictor_cuts_tokens_like_occlusion(tiny_pair) -> None:
    r = extract(tiny_pair, "what is the capital of france ?", "paris is the capital")
    enc, model = r.encoding, tiny_pair.tuned.model
    occ = saliency(model, enc.input_ids, enc.segment_ids, enc.special_positions, "occlusion", target=1)
    predict = model_predictor(model, enc.input_ids, enc.segment_ids, target=1, batch_size=4)
    masks = np.ones((enc.n + 1, enc.n), dtype=bool)
    for t in range(enc.n):
        masks[t + 1, t] = False
    p = predict(masks)  # padded batches of 4 rows of different lengths
    content = [t for t in range(enc.n) if t not in enc.special_positions]
    np.testing.assert_allclose(p[0] - p[1:][content], occ.scores[content], atol=1e-6)


def test_pair_faithfulness_covers_both_models_every_measure_and_the_floor(tiny_pair) -> None:
    r = extract(tiny_pair, "i love this movie", "the story is great", capture=Capture(internals=True))
    steps: list[tuple[float, str]] = []
    sums = pair_faithfulness(tiny_pair, r, progress=lambda f, m: steps.append((f, m)))
    assert sums.n == 1
    # value zeroing reports each of the 2 layers of both models, then saliency, deletion, done; fractions rise to 1
    assert [f for f, _ in steps] == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.8, 0.9, 1.0])
    assert steps[0][1].startswith("pre-trained model: value zeroing") and "fine-tuned" in steps[2][1]
    rows = sums.rows()
    aopc = {r.ranking for r in rows if r.metric == AOPC_SUFF}
    flows = {
        RankingId(m, me, mea)
        for m in ("base", "tuned")
        for me in ("trace", "rollout", "maxflow")
        for mea in MEASURES
    }
    sal = {RankingId("tuned", "saliency", s) for s in ("ig", "gradxinput", "occlusion", "gradient")}
    assert aopc == flows | sal | {RANDOM}
    assert {r.reference for r in rows if r.metric == RHO} == {"ig", "gradxinput", "occlusion", "gradient"}
    assert all(np.isfinite(r.value) for r in rows if r.metric in (AOPC_COMP, AOPC_SUFF))
    assert faithfulness_sentence(rows).startswith("Most faithful to the fine-tuned decision")
    with pytest.raises(AttnflowError, match=r"alti measure needs the layer internals.*Capture\.of\('alti'\)"):
        pair_faithfulness(tiny_pair, extract(tiny_pair, "good movie"), measures=("alti",))


def test_measure_matrices_name_missing_inputs(tiny_pair) -> None:
    r = extract(tiny_pair, "good movie")
    with pytest.raises(AttnflowError, match="value-vector norms"):
        measure_matrices(Captured(r.attn_tuned), measures=("norm",))
    with pytest.raises(AttnflowError, match="measure must be one of"):
        measure_matrices(r.captured("tuned"), measures=("weights",))
    got = measure_matrices(r.captured("tuned"), measures=("attention", "norm"))
    assert set(got) == {"attention", "norm"} and got["norm"].shape == r.attn_tuned.shape


@pytest.mark.slow
def test_embedded_pair_faithfulness_one_sentence() -> None:
    pair = load_pair("embedded:minilm", "embedded:sentiment")
    r = extract(pair, "a gorgeous , witty , seductive movie .", capture=Capture(internals=True))
    rows = pair_faithfulness(pair, r).rows()
    comp = {r.ranking: r.value for r in rows if r.metric == AOPC_COMP}
    assert len(comp) == 2 * 3 * len(MEASURES) + 4 + 1 and all(np.isfinite(v) for v in comp.values())
    text = faithfulness_sentence(rows)
    assert "pre-trained model" in text and "fine-tuned model" in text
