"""Zeroing and patching heads on a tiny BERT, against hand computations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from attnflow_core.errors import AttnflowError
from attnflow_core.internals import encoder_layers
from attnflow_core.interventions import (
    UnsupportedModel,
    intervenable_layers,
    intervene,
    patched_heads,
    zeroed_heads,
)
from attnflow_core.models import load_model
from tiny import make_tiny_bert_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root: Path = tmp_path_factory.mktemp("tiny-int")
    make_tiny_bert_dir(root / "a", with_head=True, seed=5, layers=3, heads=2)
    make_tiny_bert_dir(root / "b", with_head=True, seed=6, layers=3, heads=2)
    a, b = load_model(str(root / "a")), load_model(str(root / "b"))
    a.model.double()
    b.model.double()
    return a, b


def _inputs(loaded: Any) -> dict[str, torch.Tensor]:
    enc = loaded.tokenizer("what is the capital of france ?", "paris is the capital", return_tensors="pt")
    return dict(enc)


def _run(model: Any, inputs: dict[str, torch.Tensor]) -> Any:
    with torch.inference_mode():
        return model(**inputs, output_attentions=True, output_hidden_states=True)


def test_patching_a_head_with_its_own_pattern_changes_nothing(tiny: Any) -> None:
    tuned, _ = tiny
    inputs = _inputs(tuned)
    clean = _run(tuned.model, inputs)
    own = {(layer, h): clean.attentions[layer][0, h] for layer in range(3) for h in range(2)}
    with patched_heads(tuned.model, own):
        patched = _run(tuned.model, inputs)
    torch.testing.assert_close(patched.logits, clean.logits, rtol=0, atol=1e-12)
    for hs_p, hs_c in zip(patched.hidden_states, clean.hidden_states, strict=True):
        torch.testing.assert_close(hs_p, hs_c, rtol=0, atol=1e-12)


def test_patching_with_the_other_models_pattern_uses_it(tiny: Any) -> None:
    """Patch layer 2 head 1 with the other model's pattern: the returned attention is that pattern, the layer's
    context for that head is P @ V (computed by hand), and the prediction moves."""
    tuned, base = tiny
    inputs = _inputs(tuned)
    clean = _run(tuned.model, inputs)
    other = _run(base.model, inputs).attentions[1][0, 1]
    captured: dict[str, torch.Tensor] = {}
    dense = encoder_layers(tuned.model)[1].attention.output.dense
    handle = dense.register_forward_hook(lambda _m, args, _out: captured.__setitem__("ctx", args[0].detach()))
    try:
        with patched_heads(tuned.model, {(1, 1): other}):
            patched = _run(tuned.model, inputs)
    finally:
        handle.remove()
    torch.testing.assert_close(patched.attentions[1][0, 1], other)
    torch.testing.assert_close(patched.attentions[1][0, 0], clean.attentions[1][0, 0])
    layer = encoder_layers(tuned.model)[1]
    d = 16  # hidden 32 / 2 heads
    with torch.inference_mode():
        v = layer.attention.self.value(clean.hidden_states[1])[0, :, d:]  # head 1's values (n, d)
    torch.testing.assert_close(captured["ctx"][0, :, d:], other @ v)
    torch.testing.assert_close(patched.hidden_states[1], clean.hidden_states[1])  # earlier layers untouched
    assert not torch.allclose(patched.logits, clean.logits)


def test_zeroing_every_head_of_a_layer_removes_its_attention_output(tiny: Any) -> None:
    """With all heads of layer 2 zeroed, its attention block outputs LayerNorm(dense.bias + x): computed by hand."""
    tuned, _ = tiny
    inputs = _inputs(tuned)
    clean = _run(tuned.model, inputs)
    with zeroed_heads(tuned.model, [(1, 0), (1, 1)]):
        zeroed = _run(tuned.model, inputs)
    layer = encoder_layers(tuned.model)[1]
    x = clean.hidden_states[1]  # input of layer 2 (layer 1 is untouched)
    with torch.inference_mode():
        attn_out = layer.attention.output.LayerNorm(layer.attention.output.dense.bias + x)
        by_hand = layer.output(layer.intermediate(attn_out), attn_out)
    torch.testing.assert_close(zeroed.hidden_states[2], by_hand, rtol=0, atol=1e-12)
    torch.testing.assert_close(zeroed.hidden_states[1], clean.hidden_states[1], rtol=0, atol=0)
    # hooks are gone after the context
    torch.testing.assert_close(_run(tuned.model, inputs).logits, clean.logits, rtol=0, atol=0)


def test_zeroing_one_head_zeroes_exactly_its_slice(tiny: Any) -> None:
    tuned, _ = tiny
    inputs = _inputs(tuned)
    seen: list[torch.Tensor] = []
    dense = encoder_layers(tuned.model)[0].attention.output.dense
    # a forward hook sees the input after every pre-hook (the gate) has run
    handle = dense.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach()))
    try:
        _run(tuned.model, inputs)
        with zeroed_heads(tuned.model, [(0, 0)]):
            _run(tuned.model, inputs)
    finally:
        handle.remove()
    clean_ctx, zero_ctx = seen
    assert torch.count_nonzero(zero_ctx[..., :16]) == 0
    torch.testing.assert_close(zero_ctx[..., 16:], clean_ctx[..., 16:])


def test_intervene_reports_before_and_after(tiny: Any) -> None:
    tuned, base = tiny
    enc = tuned.tokenizer("i love this movie")
    ids, seg = enc["input_ids"], enc["token_type_ids"]
    t = torch.tensor([ids])
    with torch.inference_mode():
        base_attn = torch.stack(base.model(input_ids=t, output_attentions=True).attentions)[:, 0].numpy()
    zero = intervene(tuned.model, ids, seg, tuned.label_names, "zero", [(0, 0), (2, 1)])
    patch = intervene(tuned.model, ids, seg, tuned.label_names, "patch", [(2, 1)], base_attn)
    assert zero.before == patch.before
    assert zero.after != zero.before and patch.after != patch.before
    assert abs(sum(zero.after) - 1) < 1e-6 and zero.attn_after.shape == (3, 2, len(ids), len(ids))
    np.testing.assert_allclose(patch.attn_after[2, 1], base_attn[2, 1], atol=1e-6)
    assert 0 <= zero.confidence("after") <= 1 and zero.label_before in tuned.label_names
    # the value norms of the intervened model: layers up to a patched layer see the same input, so the same norms;
    # the layer after a zeroed head sees a changed input
    none = intervene(tuned.model, ids, seg, tuned.label_names, "zero", [])
    assert none.vnorm_after is not None and zero.vnorm_after is not None and patch.vnorm_after is not None
    assert none.vnorm_after.shape == (3, 2, len(ids))
    np.testing.assert_allclose(patch.vnorm_after[:3], none.vnorm_after[:3], rtol=1e-5)
    np.testing.assert_allclose(zero.vnorm_after[0], none.vnorm_after[0], rtol=1e-5)
    assert not np.allclose(zero.vnorm_after[1], none.vnorm_after[1])


def test_bad_heads_name_the_range(tiny: Any) -> None:
    tuned, _ = tiny
    with pytest.raises(AttnflowError, match=r"layer in 0\.\.2"), zeroed_heads(tuned.model, [(3, 0)]):
        pass


def test_the_layers_intervened_on_are_the_encoders(tiny: Any) -> None:
    """One definition of a model's encoder layers (``internals.encoder_layers``); interventions refuse a model without
    them with a message naming the fix."""
    tuned, _ = tiny
    layers = intervenable_layers(tuned.model)
    assert len(layers) == 3 and layers == encoder_layers(tuned.model)
    assert all(a is b for a, b in zip(layers, tuned.model.base_model.encoder.layer, strict=True))
    with pytest.raises(UnsupportedModel, match="pick a BERT/MiniLM pair"):
        intervenable_layers(torch.nn.Linear(2, 2))
