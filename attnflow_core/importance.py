"""Head importance of a classifier (Michel et al. 2019, "Are Sixteen Heads Really Better than One?").

Each head's output is multiplied by a gate ξ_h = 1 (``interventions.gated_heads``); a head's importance on one
example is ``|∂L/∂ξ_h|`` with L the cross-entropy of the gold label (the predicted label where the gold one is
unknown). It is the first-order estimate of how much the loss changes when the head is removed (ξ_h = 0). Batches
use one gate per example, so one backward pass gives every example's own (L, H) map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnflow_core.extract import tokenize_batch
from attnflow_core.interventions import gated_heads, intervenable_layers
from attnflow_core.settings import SettingsError


def gate_gradients(model: Any, batch: dict[str, Any], targets: Sequence[int | None]) -> np.ndarray:
    """Signed ∂L_b/∂ξ_{b,l,h} for a padded batch: -> (B, L, H) float64.

    ``batch`` holds ``input_ids``, ``attention_mask`` (and ``token_type_ids``) tensors (B, n); ``targets[b]`` is the
    label index of example b, or None to use the model's own prediction. L_b is example b's cross-entropy.
    """
    import torch

    n_layers = len(intervenable_layers(model))
    n_heads = int(model.config.num_attention_heads)
    b = int(batch["input_ids"].shape[0])
    param = next(model.parameters())
    batch = {k: v.to(param.device) for k, v in batch.items()}
    gates = torch.ones(b, n_layers, n_heads, dtype=param.dtype, device=param.device, requires_grad=True)
    with gated_heads(model, gates):
        logits = model(**batch).logits
    predicted = logits.detach().argmax(-1)
    tgt = torch.tensor(
        [int(t) if t is not None else int(predicted[i]) for i, t in enumerate(targets)], device=param.device
    )
    loss = torch.nn.functional.cross_entropy(logits, tgt, reduction="sum")
    (grad,) = torch.autograd.grad(loss, gates)
    return grad.detach().double().cpu().numpy()


def head_importance(model: Any, batch: dict[str, Any], targets: Sequence[int | None]) -> np.ndarray:
    """Michel et al.'s per-example head importance ``|∂L/∂ξ_h|``: -> (B, L, H) float64."""
    return np.abs(gate_gradients(model, batch, targets))


def importance_of_texts(
    loaded: Any,
    texts: Sequence[str],
    text_pairs: Sequence[str | None] | None = None,
    gold: Sequence[str | None] | None = None,
    batch_size: int = 16,
    max_length: int = 128,
) -> np.ndarray:
    """Head importance of a ``models.LoadedModel`` classifier on many examples: -> (N, L, H) float64.

    ``gold`` names each example's label (None or an unknown name: the model's prediction is used).
    """
    if loaded.label_names is None:
        raise SettingsError(
            f"{loaded.ref!r} has no classification head, so its heads have no importance for a label"
        )
    pairs = list(text_pairs) if text_pairs is not None else [None] * len(texts)
    golds = list(gold) if gold is not None else [None] * len(texts)
    out = np.zeros((len(texts), loaded.num_layers, loaded.num_heads))
    for start in range(0, len(texts), batch_size):
        idx = list(range(start, min(start + batch_size, len(texts))))
        batch = tokenize_batch(loaded, [texts[i] for i in idx], [pairs[i] for i in idx], max_length)
        out[idx] = batch_importance(loaded, dict(batch), [golds[i] for i in idx])
    return out


def top_heads(importance: np.ndarray, k: int, largest: bool = True) -> list[tuple[int, int]]:
    """The k most (or least) important heads of an (L, H) map as (layer, head), 0-based, most extreme first."""
    flat = np.asarray(importance, dtype=np.float64).ravel()
    order = np.argsort(-flat if largest else flat, kind="stable")[:k]
    n_heads = importance.shape[-1]
    return [(int(i // n_heads), int(i % n_heads)) for i in order]


def batch_importance(loaded: Any, batch: dict[str, Any], gold: Sequence[str | None]) -> np.ndarray:
    """Head importance of a ``LoadedModel`` classifier on one padded batch, gold labels by name (None or an unknown
    name: the prediction is used): -> (B, L, H) float64. The overview's loop calls this behind ``--importance``."""
    index = {name: i for i, name in enumerate(loaded.label_names or ())}
    return head_importance(loaded.model, batch, [index.get(g) if g else None for g in gold])


def change_importance_rho(change: np.ndarray, importance: np.ndarray) -> float:
    """Spearman ρ over heads between the head change map and the importance map (both (L, H)); nan if constant."""
    from attnflow_core.agreement import spearman

    return spearman(np.asarray(change).ravel(), np.asarray(importance).ravel())


def importance_reading(change: np.ndarray, importance: np.ndarray, k: int = 5) -> str:
    """One plain sentence: did fine-tuning change the heads that matter? ``change`` and ``importance`` are (L, H)."""
    rho = change_importance_rho(change, importance)
    top_imp = top_heads(importance, k)
    top_change = set(top_heads(change, k))
    shared = [h for h in top_imp if h in top_change]
    names = ", ".join(f"L{layer + 1} H{h}" for layer, h in top_imp[:3])
    if not np.isfinite(rho):
        verdict = "cannot be ranked (a map is constant)"
    elif rho >= 0.3 and shared:
        verdict = "yes: the heads that matter most are among those fine-tuning changed most"
    elif rho < 0.1:
        verdict = "mostly not: fine-tuning changed mostly other heads than the ones the prediction depends on"
    else:
        verdict = "partly: the two maps overlap only loosely"
    return (
        f"Did fine-tuning change the heads that matter? {verdict.capitalize()} (Spearman ρ = {rho:.2f} between "
        f"change and importance over all heads; {len(shared)} of the {k} most important heads are among the {k} "
        f"most changed). Most important: {names}."
    )
