"""Token saliency of a classifier's prediction on one example (Captum).

- ``ig``: Integrated Gradients (Sundararajan et al. 2017) on the word embeddings, with Captum's
  ``LayerIntegratedGradients``; the baseline keeps [CLS]/[SEP] and replaces every other token by [PAD]. Completeness:
  the attributions sum to f(x) − f(baseline) up to the integration error (``Saliency.delta``).
- ``gradxinput``: gradient × input on the word embeddings (Captum's ``LayerGradientXActivation``).
- ``gradient``: plain gradient saliency ‖∂f/∂e_t‖₂, the norm of the gradient with respect to token t's word
  embedding (Captum's ``Saliency``; unsigned). Ferrando et al. (2022) compare contribution measures against it
  (they differentiate the predicted class's probability too, at the embedding layer's output).
- ``occlusion``: leave one token out (the token is removed from the sequence), p(x) − p(x without token t);
  special tokens are never removed and score 0.

f is the probability of the target label (the model's prediction unless given). A token's saliency is the sum of its
attribution over the embedding dimensions (signed); ``magnitude`` gives |saliency| normalised to sum 1, comparable
with flow scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.settings import SettingsError

SALIENCY_METHODS = ("ig", "gradxinput", "occlusion", "gradient")
SALIENCY_TITLES = {
    "ig": "Integrated Gradients",
    "gradxinput": "gradient × input",
    "occlusion": "occlusion",
    "gradient": "gradient",
}


@dataclass(frozen=True, eq=False)
class Saliency:
    """Per-token saliency (n,) of one example under one method, for the label ``target`` (an index)."""

    method: str
    scores: np.ndarray  # (n,) float64, signed
    target: int
    delta: float = 0.0  # IG only: sum(scores) − (f(x) − f(baseline))

    @property
    def magnitude(self) -> np.ndarray:
        """|scores| normalised to sum 1 (all zeros if every score is 0): (n,)."""
        a = np.abs(self.scores)
        total = a.sum()
        return a / total if total > 0 else a


def _word_embeddings(model: Any) -> Any:
    return model.get_input_embeddings()


def _tensors(model: Any, input_ids: Sequence[int], segment_ids: Sequence[int]) -> tuple[Any, Any]:
    import torch

    device = next(model.parameters()).device
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=device)
    return ids, torch.tensor([list(segment_ids)], dtype=torch.long, device=device)


def _prob_fn(model: Any, token_type_ids: Any) -> Any:
    import torch

    def forward(ids: Any) -> Any:
        tt = token_type_ids.expand(ids.shape[0], -1)
        logits = model(input_ids=ids, token_type_ids=tt, attention_mask=torch.ones_like(ids)).logits
        return torch.softmax(logits, -1)

    return forward


def predicted_label(model: Any, input_ids: Sequence[int], segment_ids: Sequence[int]) -> int:
    """Index of the label the model predicts on one example."""
    import torch

    ids, seg = _tensors(model, input_ids, segment_ids)
    with torch.inference_mode():
        return int(_prob_fn(model, seg)(ids)[0].argmax())


def saliency(
    model: Any,
    input_ids: Sequence[int],
    segment_ids: Sequence[int],
    special_positions: Sequence[int],
    method: str,
    pad_id: int = 0,
    target: int | None = None,
    steps: int = 32,
) -> Saliency:
    """Saliency of one example (n tokens) under ``method`` (see the module docstring): ``Saliency.scores`` (n,)."""
    import torch

    if method not in SALIENCY_METHODS:
        raise SettingsError(f"method must be one of {SALIENCY_METHODS}; got {method!r}")
    ids, seg = _tensors(model, input_ids, segment_ids)
    forward = _prob_fn(model, seg)
    if target is None:
        target = predicted_label(model, input_ids, segment_ids)
    specials = set(int(p) for p in special_positions)
    n = ids.shape[1]
    if method == "occlusion":
        keep = [t for t in range(n) if t not in specials]
        with torch.inference_mode():
            full = float(forward(ids)[0, target])
            variants = torch.stack([torch.cat([ids[0, :t], ids[0, t + 1 :]]) for t in keep]) if keep else None
            scores = np.zeros(n)
            if variants is not None:
                segs = torch.stack([torch.cat([seg[0, :t], seg[0, t + 1 :]]) for t in keep])
                logits = model(
                    input_ids=variants, token_type_ids=segs, attention_mask=torch.ones_like(variants)
                ).logits
                p = torch.softmax(logits.double(), -1)[:, target].cpu().numpy()
                scores[keep] = full - p
        return Saliency(method, scores, target)
    layer = _word_embeddings(model)
    if method == "gradient":
        embeds = layer(ids).detach().requires_grad_(True)
        return Saliency(method, _gradient_norms(model, embeds, seg, target), target)
    if method == "gradxinput":
        from captum.attr import LayerGradientXActivation

        attr = LayerGradientXActivation(forward, layer).attribute(ids, target=target)
        return Saliency(method, attr[0].sum(-1).detach().double().cpu().numpy(), target)
    from captum.attr import LayerIntegratedGradients

    baseline = ids.clone()
    for t in range(n):
        if t not in specials:
            baseline[0, t] = pad_id
    attr, delta = LayerIntegratedGradients(forward, layer).attribute(
        ids, baselines=baseline, target=target, n_steps=steps, return_convergence_delta=True
    )
    return Saliency(method, attr[0].sum(-1).detach().double().cpu().numpy(), target, float(delta[0]))


def _gradient_norms(model: Any, embeds: Any, token_type_ids: Any, target: int) -> np.ndarray:
    """‖∂ p(target) / ∂ e_t‖₂ per token of word embeddings ``embeds`` (1, n, D) (Captum ``Saliency``): (n,)."""
    import torch
    from captum.attr import Saliency as CaptumSaliency

    def forward(e: Any) -> Any:
        mask = torch.ones(e.shape[:2], dtype=torch.long, device=e.device)
        tt = token_type_ids.expand(e.shape[0], -1)
        return torch.softmax(model(inputs_embeds=e, token_type_ids=tt, attention_mask=mask).logits, -1)

    grad = CaptumSaliency(forward).attribute(embeds, target=target, abs=False)
    return torch.linalg.vector_norm(grad[0], dim=-1).detach().double().cpu().numpy()


def all_saliencies(
    model: Any,
    input_ids: Sequence[int],
    segment_ids: Sequence[int],
    special_positions: Sequence[int],
    pad_id: int = 0,
    methods: Sequence[str] = SALIENCY_METHODS,
) -> dict[str, Saliency]:
    """Every method in ``methods`` for the model's predicted label: {method: Saliency}."""
    target = predicted_label(model, input_ids, segment_ids)
    return {
        m: saliency(model, input_ids, segment_ids, special_positions, m, pad_id=pad_id, target=target)
        for m in methods
    }


def result_saliency(
    tuned: Any, result: Any, methods: Sequence[str] = SALIENCY_METHODS, unit: str = "token"
) -> dict[str, Saliency]:
    """Saliency of an ``extract.ExampleResult``'s tokens under the fine-tuned ``models.LoadedModel``, for its
    predicted label, in token units or summed per word (``unit="word"``): {method: Saliency with (n_units,) scores}."""
    from dataclasses import replace

    from attnflow_core.encoding import merge_scores

    if tuned.label_names is None:
        raise SettingsError(f"{tuned.ref!r} has no classification head: there is no prediction to attribute")
    enc = result.encoding
    pad = tuned.tokenizer.pad_token_id
    out = all_saliencies(
        tuned.model, enc.input_ids, enc.segment_ids, enc.special_positions, pad_id=pad or 0, methods=methods
    )
    if unit == "word":
        out = {k: replace(v, scores=merge_scores(v.scores, enc.word_index)) for k, v in out.items()}
    return out


def saliency_dict(sal: Saliency, label_names: Sequence[str]) -> dict[str, Any]:
    """The JSON form of one saliency (the ``saliency`` key of ``compare --json``)."""
    return {
        "method": sal.method,
        "label": label_names[sal.target],
        "scores": np.round(sal.scores, 6).tolist(),
        "delta": round(sal.delta, 6),
    }
