"""Token saliency of a classifier's prediction on one example (Captum).

- ``ig``: Integrated Gradients (Sundararajan et al. 2017) on the word embeddings, with Captum's
  ``LayerIntegratedGradients``; the baseline keeps [CLS]/[SEP] and replaces every other token by [PAD]. Completeness:
  the attributions sum to f(x) − f(baseline) up to the integration error (``Saliency.delta``).
- ``gradxinput``: gradient × input on the word embeddings (Captum's ``LayerGradientXActivation``).
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

SALIENCY_METHODS = ("ig", "gradxinput", "occlusion")
#: Integrated Gradients' steps per forward/backward pass (Captum's ``internal_batch_size``), and occlusion's
#: variants per forward pass: together they bound a saliency run's memory (issue 20: a 128-token run peaked at
#: 1.4 GB over the loaded model, a 512-token one could not finish).
IG_BATCH = 8
OCCLUSION_BATCH = 16
SALIENCY_TITLES = {"ig": "Integrated Gradients", "gradxinput": "gradient × input", "occlusion": "occlusion"}


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


def _logits(model: Any, ids: Any, token_type_ids: Any) -> Any:
    """The classifier's logits (B, labels) for ids (B, n): no attention maps or hidden states are returned (the
    app's models are loaded with ``output_attentions=True``; kept, they would hold B·L·H·n² floats per call)."""
    import torch

    return model(
        input_ids=ids,
        token_type_ids=token_type_ids,
        attention_mask=torch.ones_like(ids),
        output_attentions=False,
        output_hidden_states=False,
    ).logits


def _prob_fn(model: Any, token_type_ids: Any) -> Any:
    import torch

    def forward(ids: Any) -> Any:
        return torch.softmax(_logits(model, ids, token_type_ids.expand(ids.shape[0], -1)), -1)

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

    if method not in SALIENCY_METHODS:
        raise SettingsError(f"method must be one of {SALIENCY_METHODS}; got {method!r}")
    ids, seg = _tensors(model, input_ids, segment_ids)
    forward = _prob_fn(model, seg)
    if target is None:
        target = predicted_label(model, input_ids, segment_ids)
    specials = set(int(p) for p in special_positions)
    n = ids.shape[1]
    if method == "occlusion":
        return Saliency(method, _occlusion(model, ids, seg, specials, target), target)
    layer = _word_embeddings(model)
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
        ids,
        baselines=baseline,
        target=target,
        n_steps=steps,
        internal_batch_size=IG_BATCH,  # the steps' forward and backward passes IG_BATCH at a time
        return_convergence_delta=True,
    )
    return Saliency(method, attr[0].sum(-1).detach().double().cpu().numpy(), target, float(delta[0]))


def _occlusion(model: Any, ids: Any, seg: Any, specials: set[int], target: int) -> np.ndarray:
    """p(x) − p(x without token t) for every non-special t: ids, seg (1, n) -> (n,) float64; the n − 1-token
    variants run ``OCCLUSION_BATCH`` at a time, so memory does not grow with n² · n."""
    import torch

    n = ids.shape[1]
    keep = [t for t in range(n) if t not in specials]
    scores = np.zeros(n)
    with torch.inference_mode():
        full = float(torch.softmax(_logits(model, ids, seg).double(), -1)[0, target])
        for start in range(0, len(keep), OCCLUSION_BATCH):
            chunk = keep[start : start + OCCLUSION_BATCH]
            variants = torch.stack([torch.cat([ids[0, :t], ids[0, t + 1 :]]) for t in chunk])
            segs = torch.stack([torch.cat([seg[0, :t], seg[0, t + 1 :]]) for t in chunk])
            p = torch.softmax(_logits(model, variants, segs).double(), -1)[:, target].cpu().numpy()
            scores[chunk] = full - p
    return scores


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
