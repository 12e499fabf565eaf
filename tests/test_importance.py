"""Head importance (Michel et al. 2019) on a tiny BERT: the gate gradient against finite differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from attnflow_core.importance import gate_gradients, head_importance, importance_of_texts, top_heads
from attnflow_core.interventions import gated_heads
from attnflow_core.models import load_model
from tiny import make_tiny_bert_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root: Path = tmp_path_factory.mktemp("tiny-imp")
    loaded = load_model(
        str(make_tiny_bert_dir(root / "m", with_head=True, seed=7, layers=2, heads=3, hidden=24))
    )
    loaded.model.double()
    return loaded


def _loss(model: Any, batch: dict[str, Any], gates: torch.Tensor, target: int) -> float:
    with torch.no_grad(), gated_heads(model, gates):
        logits = model(**batch).logits
    return float(torch.nn.functional.cross_entropy(logits, torch.tensor([target]), reduction="sum"))


def test_gate_gradient_equals_finite_differences(tiny: Any) -> None:
    batch = dict(tiny.tokenizer("the movie was not good", return_tensors="pt"))
    grad = gate_gradients(tiny.model, batch, [1])[0]  # (2, 3)
    eps = 1e-5
    fd = np.zeros_like(grad)
    for layer in range(2):
        for h in range(3):
            up, down = torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
            up[layer, h] += eps
            down[layer, h] -= eps
            fd[layer, h] = (_loss(tiny.model, batch, up, 1) - _loss(tiny.model, batch, down, 1)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-9)
    assert np.abs(grad).min() > 1e-6  # every head has a signal (random init: small but far above atol)


def test_batched_importance_equals_one_example_at_a_time(tiny: Any) -> None:
    texts = ["i love this movie", "the story was boring and bad"]
    batch = dict(tiny.tokenizer(texts, padding=True, return_tensors="pt"))
    together = head_importance(tiny.model, batch, [0, None])
    for i, t in enumerate(texts):
        alone = head_importance(tiny.model, dict(tiny.tokenizer(t, return_tensors="pt")), [[0, None][i]])
        np.testing.assert_allclose(together[i], alone[0], rtol=1e-6, atol=1e-10)
    assert (together >= 0).all()


def test_importance_of_texts_uses_gold_labels_by_name(tiny: Any) -> None:
    texts = ["i love this movie", "the story was boring", "what a great film"]
    gold = ["positive", None, "unknown-label"]
    imp = importance_of_texts(tiny, texts, gold=gold, batch_size=2)
    assert imp.shape == (3, 2, 3)
    batch = dict(tiny.tokenizer(texts[0], return_tensors="pt"))
    np.testing.assert_allclose(imp[0], head_importance(tiny.model, batch, [1])[0], rtol=1e-6)


def test_top_heads_orders_by_importance() -> None:
    imp = np.array([[0.1, 0.9, 0.3], [0.5, 0.0, 0.2]])
    assert top_heads(imp, 2) == [(0, 1), (1, 0)]
    assert top_heads(imp, 2, largest=False) == [(1, 1), (0, 0)]


def test_importance_reading_verdicts() -> None:
    from attnflow_core.importance import importance_reading

    change = np.arange(12, dtype=float).reshape(3, 4)
    assert "Yes: the heads that matter most" in importance_reading(change, change * 2)
    assert "Mostly not" in importance_reading(change, -change)
    text = importance_reading(change, change)
    assert (
        "ρ = 1.00" in text and "5 of the 5 most important" in text and "Most important: L3 H3, L3 H2" in text
    )
