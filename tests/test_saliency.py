"""Token saliency on a tiny BERT: IG completeness, gradient × input by hand, occlusion by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from attnflow_core.models import load_model
from attnflow_core.saliency import all_saliencies, saliency
from attnflow_core.settings import SettingsError
from tiny import make_tiny_bert_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root: Path = tmp_path_factory.mktemp("tiny-sal")
    loaded = load_model(str(make_tiny_bert_dir(root / "m", with_head=True, seed=8, layers=2, heads=2)))
    loaded.model.double()
    enc = loaded.tokenizer("what is the capital of france ?", "paris is the capital")
    specials = [i for i, t in enumerate(enc["input_ids"]) if t in (2, 3)]  # [CLS]=2, [SEP]=3 in tiny's vocab
    return loaded, enc["input_ids"], enc["token_type_ids"], specials


def _prob(model: Any, ids: list[int], seg: list[int], target: int) -> float:
    with torch.no_grad():
        t = torch.tensor([ids])
        logits = model(
            input_ids=t, token_type_ids=torch.tensor([seg]), attention_mask=torch.ones_like(t)
        ).logits
    return float(torch.softmax(logits, -1)[0, target])


def test_integrated_gradients_completeness(tiny: Any) -> None:
    model, ids, seg, specials = tiny
    s = saliency(model.model, ids, seg, specials, "ig", pad_id=0, target=1, steps=64)
    baseline = [t if i in specials else 0 for i, t in enumerate(ids)]
    expected = _prob(model.model, ids, seg, 1) - _prob(model.model, baseline, seg, 1)
    assert s.scores.shape == (len(ids),)
    assert s.scores.sum() == pytest.approx(expected, abs=2e-3)
    assert abs(s.delta) < 2e-3
    assert s.magnitude.sum() == pytest.approx(1.0)


def test_gradient_times_input_by_hand(tiny: Any) -> None:
    model, ids, seg, specials = tiny
    s = saliency(model.model, ids, seg, specials, "gradxinput", target=0)
    emb = model.model.get_input_embeddings()
    x = emb(torch.tensor([ids])).detach().requires_grad_(True)
    logits = model.model(inputs_embeds=x, token_type_ids=torch.tensor([seg])).logits
    (g,) = torch.autograd.grad(torch.softmax(logits, -1)[0, 0], x)
    np.testing.assert_allclose(s.scores, (g * x)[0].sum(-1).detach().numpy(), rtol=1e-6, atol=1e-12)


def test_occlusion_by_hand(tiny: Any) -> None:
    model, ids, seg, specials = tiny
    s = saliency(model.model, ids, seg, specials, "occlusion", target=1)
    full = _prob(model.model, ids, seg, 1)
    t = 4
    dropped = _prob(model.model, ids[:t] + ids[t + 1 :], seg[:t] + seg[t + 1 :], 1)
    assert s.scores[t] == pytest.approx(full - dropped, abs=1e-9)
    assert all(s.scores[p] == 0 for p in specials)


def test_all_saliencies_share_the_predicted_target(tiny: Any) -> None:
    model, ids, seg, specials = tiny
    out = all_saliencies(model.model, ids, seg, specials)
    assert set(out) == {"ig", "gradxinput", "occlusion"}
    assert len({s.target for s in out.values()}) == 1
    with pytest.raises(SettingsError, match="method must be one of"):
        saliency(model.model, ids, seg, specials, "lime")


def test_saliency_runs_in_bounded_batches_without_attention_maps(tiny: Any) -> None:
    """Issue 20 (saliency memory): every forward pass of a saliency run asks for no attention maps (the app's
    models return them by default: B·L·H·n² floats per call) and holds at most IG_BATCH integration steps or
    OCCLUSION_BATCH occluded variants, whatever the length; the scores are those of one big batch."""
    from attnflow_core.saliency import IG_BATCH, OCCLUSION_BATCH

    model, _, _, _ = tiny
    enc = model.tokenizer(" ".join(["the capital of france is paris"] * 8), truncation=True, max_length=60)
    ids, seg = enc["input_ids"], enc["token_type_ids"]
    specials = [0, len(ids) - 1]
    assert len(ids) - 2 > 2 * OCCLUSION_BATCH
    calls: list[tuple[int, object]] = []

    def record(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        x = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else kwargs.get("inputs_embeds")
        calls.append((int(x.shape[0]), kwargs.get("output_attentions")))

    handle = model.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        out = all_saliencies(model.model, ids, seg, specials)
    finally:
        handle.remove()
    assert calls and all(flag is False for _, flag in calls), calls
    assert max(b for b, _ in calls) <= max(IG_BATCH, OCCLUSION_BATCH), calls
    full = _prob(model.model, ids, seg, out["occlusion"].target)
    t = len(ids) - 3  # in the last occlusion batch
    dropped = _prob(model.model, ids[:t] + ids[t + 1 :], seg[:t] + seg[t + 1 :], out["occlusion"].target)
    assert out["occlusion"].scores[t] == pytest.approx(full - dropped, abs=1e-9)
    assert abs(out["ig"].delta) < 2e-3  # completeness holds with the steps taken IG_BATCH at a time
