"""Contribution measures (ALTI, GlobEnc, residual norms) and the layer internals they read: hand-worked 3-token
cases, the decompositions summing to the real layer outputs, a NumPy reference from the weights, invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from attnflow_core.contributions import (
    alti,
    globenc,
    ln1_terms,
    ln2_terms,
    normalise_rows,
    residual_norm,
)
from attnflow_core.extract import extract, forward_internals
from attnflow_core.flows import rollout
from attnflow_core.internals import Internals, LayerWeights, capture_internals, encoder_layers
from attnflow_core.measures import MEASURES, Capture
from attnflow_core.models import load_pair
from tiny import HAND_X, hand_bert_layer, make_tiny_bert_dir


def _hand_internals() -> Internals:
    """1 layer, 1 head, D = 2, 3 tokens; W_V = W_O = I, zero biases, γ = 1, β = 0, uniform attention, ε = 0.

    x = (1,−1), (2,−2), (0,0); z_i = mean_j x_j + x_i = (2,−2), (3,−3), (1,−1); σ = 2, 3, 1; y_i = (1,−1) each."""
    x = np.array([[1.0, -1.0], [2.0, -2.0], [0.0, 0.0]], dtype=np.float32)
    eye, zero, one = (
        np.eye(2, dtype=np.float32)[None],
        np.zeros((1, 2), np.float32),
        np.ones((1, 2), np.float32),
    )
    weights = LayerWeights(eye, zero, one, zero, one, zero, num_heads=1)
    return Internals(
        hidden=np.stack([x, np.tile([[1.0, -1.0]], (3, 1))]).astype(np.float32),
        values=x[None],
        ln1_out=np.tile([[1.0, -1.0]], (1, 3, 1)).astype(np.float32),
        ln1_scale=np.array([[2.0, 3.0, 1.0]], dtype=np.float32),
        ln2_scale=np.ones((1, 3), dtype=np.float32),
        weights=weights,
    )


UNIFORM = np.full((1, 1, 3, 3), 1 / 3)


def test_alti_hand_worked_three_tokens() -> None:
    # T_1(x_1) = (x1/3 + x1)/2 = (2/3,−2/3), T_1(x_2) = (x2/3)/2 = (1/3,−1/3), T_1(x_3) = 0; ‖y_1‖₁ = 2, so
    # c_1 = (2 − 2/3, 2 − 4/3, 2 − 2) = (4/3, 2/3, 0) -> (2/3, 1/3, 0). Row 2 (σ = 3): T = (1/9, 8/9, 0)·(1,−1)
    # -> c = (2/9, 16/9, 0) -> (1/9, 8/9, 0). Row 3 (σ = 1): T = (1/3, 2/3, 0)·(1,−1) -> (1/3, 2/3, 0).
    inn = _hand_internals()
    want = [[2 / 3, 1 / 3, 0], [1 / 9, 8 / 9, 0], [1 / 3, 2 / 3, 0]]
    np.testing.assert_allclose(alti(inn, UNIFORM)[0], want, atol=1e-6)
    terms, bias = ln1_terms(inn, UNIFORM, 0)
    np.testing.assert_allclose(terms[0, :, 0], [2 / 3, 1 / 3, 0], atol=1e-6)
    np.testing.assert_allclose(terms.sum(1) + bias, inn.ln1_out[0], atol=1e-6)
    # all terms lie on (1,−1): the L2 norms are in the same proportions, so GlobEnc and the residual norms agree
    np.testing.assert_allclose(globenc(inn, UNIFORM)[0], want, atol=1e-6)
    np.testing.assert_allclose(residual_norm(inn, UNIFORM)[0], want, atol=1e-6)


def _hand_layer_internals() -> Internals:
    layer = hand_bert_layer()
    with torch.no_grad(), capture_internals(layer, 1) as cap:
        layer(torch.tensor([HAND_X], dtype=torch.float64), attention_mask=None)
    inner = cap.result()
    assert inner is not None
    return inner.example(0)


def test_hand_set_bert_layer_alti_and_globenc() -> None:
    # HAND_X sums to 0, so with uniform attention and W_V = W_O = I: z_i = x_i, σ = sqrt(2/3) for every i.
    # T_i(x_i) = (4/3)x_i/σ, T_i(x_j) = x_j/(3σ). ALTI: ‖y_i‖₁ = 2/σ; ‖y_i − T_i(x_i)‖₁ = (2/3)/σ -> 4/(3σ) > 0;
    # ‖y_i − T_i(x_j)‖₁ = ‖x_i − x_j/3‖₁/σ = (8/3)/σ > 2/σ -> 0. So ALTI = I: all of y_i is token i's own.
    # GlobEnc: ‖T‖₂ ∝ (4/3, 1/3, 1/3) -> (2/3, 1/6, 1/6) on every row.
    inn = _hand_layer_internals()
    np.testing.assert_allclose(inn.ln1_scale, np.sqrt(2 / 3), rtol=1e-6)
    np.testing.assert_allclose(alti(inn, UNIFORM)[0], np.eye(3), atol=1e-6)
    want = np.full((3, 3), 1 / 6) + np.eye(3) / 2
    np.testing.assert_allclose(globenc(inn, UNIFORM)[0], want, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("tiny-contrib")
    make_tiny_bert_dir(root / "base", with_head=False, seed=4, layers=2, heads=2)
    make_tiny_bert_dir(root / "tuned", with_head=True, seed=5, layers=2, heads=2)
    return load_pair(str(root / "base"), str(root / "tuned"))


def _batch(pair, texts: list[tuple[str, str | None]]):
    """A padded batch; pair texts only when some example has one (an empty pair text would add a [SEP])."""
    seconds = [p or "" for _, p in texts] if any(p is not None for _, p in texts) else None
    return dict(pair.tokenizer([t for t, _ in texts], seconds, padding=True, return_tensors="pt"))


def _ffn_term(layer, inn: Internals, li: int) -> np.ndarray:
    """LN2's linear part of FFN(y) (what GlobEnc leaves out), from the torch layer."""
    y = torch.from_numpy(inn.ln1_out[li]).to(next(layer.parameters()).dtype)
    with torch.no_grad():
        ffn = layer.output.dense(layer.intermediate(y)).float()
    gamma = layer.output.LayerNorm.weight.detach().float()
    return (gamma * (ffn - ffn.mean(-1, keepdim=True)) / torch.from_numpy(inn.ln2_scale[li])[:, None]).numpy()


def test_terms_sum_to_the_real_layer_outputs_in_a_padded_batch(tiny_pair) -> None:
    texts = [("what is the capital of france ?", "paris is the capital"), ("good movie", None)]
    batch = _batch(tiny_pair, texts)
    for loaded in (tiny_pair.base, tiny_pair.tuned):
        attn, _, _, inner = forward_internals(loaded, batch)
        assert inner is not None and inner.batched and inner.hidden.dtype == np.float32
        layers = encoder_layers(loaded.model)
        for k in range(len(texts)):
            m = int(batch["attention_mask"][k].sum())
            inn, a = inner.example(k, m), attn[k, :, :, :m, :m]
            for li in range(inn.num_layers):
                terms, bias = ln1_terms(inn, a, li)
                assert terms.shape == (m, m, 32)
                np.testing.assert_allclose(terms.sum(1) + bias, inn.ln1_out[li], atol=1e-5)
                g, c = ln2_terms(inn, a, li)
                out = g.sum(1) + c + _ffn_term(layers[li], inn, li)
                np.testing.assert_allclose(out, inn.hidden[li + 1], atol=1e-5)


@torch.no_grad()
def _reference_alti_globenc(model, ids, seg) -> tuple[np.ndarray, np.ndarray]:
    """ALTI and GlobEnc (L, n, n) from the torch weights and hidden states alone, token by token (no hooks)."""
    bert = model.bert if hasattr(model, "bert") else model
    out = model(input_ids=ids, token_type_ids=seg, output_hidden_states=True, output_attentions=True)
    al, ge = [], []
    for li, layer in enumerate(bert.encoder.layer):
        x, att = out.hidden_states[li][0].double(), out.attentions[li][0].double()  # (n, D), (H, n, n)
        sa, so = layer.attention.self, layer.attention.output
        heads, n = att.shape[0], x.shape[0]
        d = x.shape[1] // heads
        v = x @ sa.value.weight.double().T + sa.value.bias.double()
        wo = so.dense.weight.double()
        f = torch.stack([v[:, h * d : (h + 1) * d] @ wo[:, h * d : (h + 1) * d].T for h in range(heads)])
        z = torch.einsum("hij,hjd->id", att, f) + so.dense.bias.double() + x
        ln1 = so.LayerNorm
        s1 = torch.sqrt(z.var(-1, unbiased=False) + ln1.eps)
        y = torch.nn.functional.layer_norm(z, (z.shape[1],), ln1.weight.double(), ln1.bias.double(), ln1.eps)
        ffn = layer.output.dense(layer.intermediate(y.float())).double()
        s2 = torch.sqrt((ffn + y).var(-1, unbiased=False) + layer.output.LayerNorm.eps)
        g1, g2 = ln1.weight.double(), layer.output.LayerNorm.weight.double()
        a_l, g_l = np.zeros((n, n)), np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                t = sum(att[h, i, j] * f[h, j] for h in range(heads)) + (x[j] if i == j else 0)
                t = g1 * (t - t.mean()) / s1[i]
                a_l[i, j] = max(0.0, float(y[i].abs().sum() - (y[i] - t).abs().sum()))
                g_l[i, j] = float(torch.linalg.vector_norm(g2 * (t - t.mean()) / s2[i]))
        al.append(a_l / a_l.sum(1, keepdims=True))
        ge.append(g_l / g_l.sum(1, keepdims=True))
    return np.stack(al), np.stack(ge)


def test_alti_and_globenc_equal_a_token_by_token_reference(tiny_pair) -> None:
    r = extract(tiny_pair, "i love this movie", "the story is boring", capture=Capture(internals=True))
    ids, seg = torch.tensor([r.encoding.input_ids]), torch.tensor([r.encoding.segment_ids])
    for loaded, attn, inn in (
        (tiny_pair.base, r.attn_base, r.internals_base),
        (tiny_pair.tuned, r.attn_tuned, r.internals_tuned),
    ):
        assert inn is not None and not inn.batched
        want_alti, want_globenc = _reference_alti_globenc(loaded.model, ids, seg)
        got = alti(inn, attn)
        np.testing.assert_allclose(got, want_alti, atol=1e-5)
        np.testing.assert_allclose(globenc(inn, attn), want_globenc, atol=1e-5)
        assert (got >= 0).all()
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)
        assert not np.allclose(got, globenc(inn, attn))  # two different measures on a real layer


def test_extract_captures_internals_only_when_asked(tiny_pair) -> None:
    plain = extract(tiny_pair, "good movie")
    assert plain.internals_base is None and plain.internals_tuned is None
    full = extract(tiny_pair, "good movie", capture=Capture(internals=True))
    np.testing.assert_array_equal(full.attn_tuned, plain.attn_tuned)  # the hooks only read
    assert full.internals_tuned is not None
    n = full.encoding.n
    assert full.internals_tuned.hidden.shape == (3, n, 32)
    assert full.internals_tuned.ln1_scale.shape == (2, n)


def test_a_padded_batch_gives_each_example_its_own_measure(tiny_pair) -> None:
    texts = [("what is the capital of france ?", None), ("the dog runs", None)]
    attn, _, _, inner = forward_internals(tiny_pair.tuned, _batch(tiny_pair, texts))
    assert inner is not None
    one = extract(tiny_pair, "the dog runs", capture=Capture(internals=True))
    m = one.encoding.n
    assert one.internals_tuned is not None
    np.testing.assert_allclose(
        alti(inner.example(1, m), attn[1, :, :, :m, :m]), alti(one.internals_tuned, one.attn_tuned), atol=1e-5
    )


def test_flows_over_alti_add_no_identity(tiny_pair) -> None:
    r = extract(tiny_pair, "i love this movie", capture=Capture(internals=True))
    assert r.internals_tuned is not None
    c = alti(r.internals_tuned, r.attn_tuned)
    want = c[1] @ c[0]
    np.testing.assert_allclose(rollout(c[:, None], residual=False)[-1], want, atol=1e-6)
    for key in ("alti", "globenc", "value-zeroing"):  # the registry's entries say so
        assert MEASURES.get(key).includes_residual and not MEASURES.get(key).per_head


def test_normalise_rows_and_bad_inputs() -> None:
    np.testing.assert_allclose(normalise_rows(np.array([[2.0, 2.0], [0.0, 0.0]])), [[0.5, 0.5], [0.0, 1.0]])
    inn = _hand_internals()
    with pytest.raises(ValueError, match="shape"):
        alti(inn, np.full((1, 1, 2, 2), 0.5))
    with pytest.raises(ValueError, match="heads"):
        alti(inn, np.full((1, 2, 3, 3), 1 / 3))
    assert encoder_layers(None) == [] and encoder_layers(torch.nn.Linear(2, 2)) == []


@pytest.mark.slow
def test_embedded_minilm_terms_sum_to_the_real_outputs() -> None:
    """The golden identities on the embedded pair (6 layers × 12 heads, D = 384), float32 to 1e-5 (observed
    |error| ≤ ~2e-6)."""
    pair = load_pair("embedded:minilm", "embedded:sentiment")
    r = extract(pair, "a gorgeous , witty , seductive movie .", capture=Capture(internals=True))
    for loaded, attn, inn in (
        (pair.base, r.attn_base, r.internals_base),
        (pair.tuned, r.attn_tuned, r.internals_tuned),
    ):
        assert inn is not None
        layers = encoder_layers(loaded.model)
        for li in range(inn.num_layers):
            terms, bias = ln1_terms(inn, attn, li)
            np.testing.assert_allclose(terms.sum(1) + bias, inn.ln1_out[li], atol=1e-5)
            g, c = ln2_terms(inn, attn, li)
            np.testing.assert_allclose(
                g.sum(1) + c + _ffn_term(layers[li], inn, li), inn.hidden[li + 1], atol=1e-5
            )
        for measure in (alti, globenc, residual_norm):
            got = measure(inn, attn)
            assert got.shape == (6, r.encoding.n, r.encoding.n) and (got >= 0).all()
            np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)


def test_blockwise_mixing_equals_one_block(tiny_pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """ALTI and GlobEnc reduce the (n, n, D) terms block by block of input tokens; blocks of one or a few tokens
    (as at 128 tokens × 384 dims) give the same numbers as one block."""
    from attnflow_core import contributions

    r = extract(
        tiny_pair, "what is the capital of france ?", "paris is the capital", capture=Capture(internals=True)
    )
    inn, attn = r.internals_tuned, r.attn_tuned
    assert inn is not None
    whole = [f(inn, attn) for f in (alti, globenc, residual_norm)]
    terms, _ = ln1_terms(inn, attn, 1)
    for floats in (32 * r.encoding.n, 3 * 32 * r.encoding.n):  # blocks of 1 and of 3 input tokens
        monkeypatch.setattr(contributions, "_BLOCK_FLOATS", floats)
        for f, want in zip((alti, globenc, residual_norm), whole, strict=True):
            np.testing.assert_allclose(f(inn, attn), want, atol=1e-6)
        np.testing.assert_allclose(ln1_terms(inn, attn, 1)[0], terms, atol=1e-6)
