"""Value zeroing: nothing zeroed reproduces each layer's output, a hand-worked 3-token layer, a one-variant-at-a-time
reference, the bound on tokens × layers and progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from attnflow_core.errors import AttnflowError
from attnflow_core.extract import extract
from attnflow_core.internals import capture_internals, encoder_layers
from attnflow_core.measures import Capture
from attnflow_core.models import load_model, load_pair
from attnflow_core.value_zeroing import ValueZeroingTooLarge, value_zeroing, zeroed_outputs
from tiny import HAND_X, hand_bert_layer, make_tiny_bert_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("tiny-vz")
    return load_model(str(make_tiny_bert_dir(root / "m", with_head=True, seed=6, layers=2, heads=2)))


def _internals(loaded, text: str):
    enc = loaded.tokenizer(text, return_tensors="pt")
    with torch.inference_mode(), capture_internals(loaded.model, loaded.num_heads) as cap:
        loaded.model(**enc)
    inner = cap.result()
    assert inner is not None
    return inner.example(0)


def test_nothing_zeroed_reproduces_every_layer_output(tiny) -> None:
    inn = _internals(tiny, "what is the capital of france ?")
    for li, layer in enumerate(encoder_layers(tiny.model)):
        keep = torch.ones(3, inn.num_tokens)
        out = zeroed_outputs(layer, torch.from_numpy(inn.hidden[li]), keep)
        for v in range(3):  # every copy of the batch is the layer's own output
            np.testing.assert_allclose(out[v].numpy(), inn.hidden[li + 1], atol=1e-6)


def test_hand_worked_three_token_layer() -> None:
    # Uniform attention, W_V = W_O = I, FFN = 0 (tiny.hand_bert_layer); HAND_X sums to 0, so z_i = x_i and the
    # output is x_i rescaled. Zeroing v_j removes x_j/3 from z_i: z_i^¬j = x_i − x_j/3. For j = i that only rescales
    # (cosine distance 0); for j ≠ i, x_i·x_j = −1 and ‖x‖² = 2 give cos = (2 + 1/3)/(√2·√(26/9)) = 7/√52, the same
    # distance 1 − 7/√52 ≈ 0.0293 for every pair -> each row is (½, ½) off the diagonal, 0 on it.
    layer = hand_bert_layer()
    x = torch.tensor([HAND_X], dtype=torch.float64)
    with torch.no_grad(), capture_internals(layer, 1) as cap:
        layer(x, attention_mask=None)
    inner = cap.result()
    assert inner is not None
    vz = value_zeroing([layer], inner.example(0).hidden)
    np.testing.assert_allclose(vz[0], (np.ones((3, 3)) - np.eye(3)) / 2, atol=1e-5)
    raw = 1 - torch.nn.functional.cosine_similarity(
        zeroed_outputs(layer, x[0], torch.tensor([[0.0, 1, 1]]))[0],
        torch.from_numpy(inner.hidden[0, 1]).float(),
    )
    np.testing.assert_allclose(raw.numpy(), [0, 1 - 7 / np.sqrt(52), 1 - 7 / np.sqrt(52)], atol=1e-6)


def test_batched_variants_equal_one_variant_at_a_time(tiny) -> None:
    inn = _internals(tiny, "i love this movie")
    layers = encoder_layers(tiny.model)
    vz = value_zeroing(layers, inn.hidden, batch_size=3)  # chunks of 3 variants
    n = inn.num_tokens
    for li, layer in enumerate(layers):
        ref = torch.from_numpy(inn.hidden[li + 1]).double()
        scores = np.zeros((n, n))
        for j in range(n):
            keep = torch.ones(1, n)
            keep[0, j] = 0
            new = zeroed_outputs(layer, torch.from_numpy(inn.hidden[li]), keep)[0].double()
            # 1 − cos in float64 (the distances are ~1e-6 on this random tiny model: float32 would round them)
            cos = (new * ref).sum(-1) / (new.norm(dim=-1) * ref.norm(dim=-1))
            scores[:, j] = (1 - cos).numpy()
        np.testing.assert_allclose(vz[li], scores / scores.sum(1, keepdims=True), atol=1e-5)
    assert (vz >= 0).all()
    np.testing.assert_allclose(vz.sum(-1), 1.0, atol=1e-6)


def test_the_cost_is_bounded_and_progress_is_reported(tiny) -> None:
    inn = _internals(tiny, "the dog runs")  # 5 tokens, 2 layers: 10 reruns
    seen: list[tuple[float, str]] = []
    value_zeroing(
        encoder_layers(tiny.model), inn.hidden, progress=lambda f, m: seen.append((f, m)), max_reruns=10
    )
    assert [f for f, _ in seen] == [0.5, 1.0] and "layer 2/2" in seen[-1][1]
    with pytest.raises(
        ValueZeroingTooLarge, match=r"5 tokens × 2 layers = 10 reruns, over the limit of 9"
    ) as err:
        value_zeroing(encoder_layers(tiny.model), inn.hidden, max_reruns=9)
    assert isinstance(err.value, AttnflowError) and "at most 4 tokens" in str(err.value)
    with pytest.raises(ValueError, match="hidden must have shape"):
        value_zeroing(encoder_layers(tiny.model), inn.hidden[:2])


@pytest.mark.slow
def test_embedded_minilm_value_zeroing() -> None:
    """On the embedded sentiment counterpart: nothing zeroed reproduces every layer (float32, observed exact on
    this CPU; 1e-5 allowed), and the rows are distributions."""
    pair = load_pair("embedded:minilm", "embedded:sentiment")
    r = extract(pair, "a gorgeous , witty , seductive movie .", capture=Capture(internals=True))
    inn = r.internals_tuned
    assert inn is not None
    layers = encoder_layers(pair.tuned.model)
    for li, layer in enumerate(layers):
        out = zeroed_outputs(layer, torch.from_numpy(inn.hidden[li]), torch.ones(1, inn.num_tokens))
        np.testing.assert_allclose(out[0].numpy(), inn.hidden[li + 1], atol=1e-5)
    vz = value_zeroing(layers, inn.hidden)
    assert vz.shape == (6, r.encoding.n, r.encoding.n)
    np.testing.assert_allclose(vz.sum(-1), 1.0, atol=1e-5)
