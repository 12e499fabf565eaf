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

The methods are the ``SALIENCY_METHODS`` registry: adding one is an entry and its attribute function (+ its test).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.errors import SettingsError
from attnflow_core.vocab import Choice, Registry

#: Integrated Gradients' steps per forward/backward pass (Captum's ``internal_batch_size``), and occlusion's
#: variants per forward pass: together they bound a saliency run's memory (issue 20: a 128-token run peaked at
#: 1.4 GB over the loaded model, a 512-token one could not finish).
IG_BATCH = 8
OCCLUSION_BATCH = 16


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


def _occlusion(
    model: Any, ids: Any, seg: Any, specials: set[int], target: int, pad_id: int, steps: int
) -> tuple[np.ndarray, float]:
    """p(x) − p(x without token t) for every non-special t: ids, seg (1, n) -> ((n,) float64, 0.0); the
    n − 1-token variants run ``OCCLUSION_BATCH`` at a time, so memory does not grow with n² · n."""
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
    return scores, 0.0


def _grad_x_input(
    model: Any, ids: Any, seg: Any, specials: set[int], target: int, pad_id: int, steps: int
) -> tuple[np.ndarray, float]:
    from captum.attr import LayerGradientXActivation

    attr = LayerGradientXActivation(_prob_fn(model, seg), _word_embeddings(model)).attribute(
        ids, target=target
    )
    return attr[0].sum(-1).detach().double().cpu().numpy(), 0.0


def _integrated_gradients(
    model: Any, ids: Any, seg: Any, specials: set[int], target: int, pad_id: int, steps: int
) -> tuple[np.ndarray, float]:
    from captum.attr import LayerIntegratedGradients

    baseline = ids.clone()
    for t in range(ids.shape[1]):
        if t not in specials:
            baseline[0, t] = pad_id
    attr, delta = LayerIntegratedGradients(_prob_fn(model, seg), _word_embeddings(model)).attribute(
        ids,
        baselines=baseline,
        target=target,
        n_steps=steps,
        internal_batch_size=IG_BATCH,  # the steps' forward and backward passes IG_BATCH at a time
        return_convergence_delta=True,
    )
    return attr[0].sum(-1).detach().double().cpu().numpy(), float(delta[0])


#: A saliency method's function: (model, ids (1, n), segments (1, n), special positions, target label, pad id,
#: integration steps) -> (signed scores (n,), IG's completeness error or 0).
Attributor = Callable[[Any, Any, Any, set[int], int, int, int], tuple[np.ndarray, float]]


class SaliencyMethod(Choice):
    """A token saliency method: its words (``phrase`` in tables and sentences) and its ``attribute`` function."""

    attribute: Attributor


#: The saliency methods (the vocabulary's one definition), in the order the tables list them.
SALIENCY_METHODS: Registry[SaliencyMethod] = Registry(
    "saliency",
    (
        SaliencyMethod(
            "ig",
            label="Integrated Gradients",
            phrase="Integrated Gradients",
            short="IG",
            help="Integrated Gradients on the word embeddings, from a [PAD] baseline (Sundararajan et al. 2017).",
            attribute=_integrated_gradients,
        ),
        SaliencyMethod(
            "gradxinput",
            label="gradient × input",
            phrase="gradient × input",
            short="gradient × input",
            help="Gradient × input on the word embeddings.",
            attribute=_grad_x_input,
        ),
        SaliencyMethod(
            "occlusion",
            label="occlusion",
            phrase="occlusion",
            short="occlusion",
            help="Leave one token out: the drop in the predicted label's probability.",
            attribute=_occlusion,
        ),
    ),
)


def saliency_title(method: str) -> str:
    """How tables and sentences name a saliency method (its key when it is not registered)."""
    found = SALIENCY_METHODS.find(method)
    return method if found is None else found.phrase


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
    entry = SALIENCY_METHODS.get(method, "method")
    ids, seg = _tensors(model, input_ids, segment_ids)
    if target is None:
        target = predicted_label(model, input_ids, segment_ids)
    specials = set(int(p) for p in special_positions)
    scores, delta = entry.attribute(model, ids, seg, specials, target, pad_id, steps)
    return Saliency(entry, scores, target, delta)


def all_saliencies(
    model: Any,
    input_ids: Sequence[int],
    segment_ids: Sequence[int],
    special_positions: Sequence[int],
    pad_id: int = 0,
    methods: Sequence[str] = SALIENCY_METHODS.keys(),
) -> dict[str, Saliency]:
    """Every method in ``methods`` for the model's predicted label: {method: Saliency}."""
    target = predicted_label(model, input_ids, segment_ids)
    return {
        m: saliency(model, input_ids, segment_ids, special_positions, m, pad_id=pad_id, target=target)
        for m in methods
    }


def result_saliency(
    tuned: Any, result: Any, methods: Sequence[str] = SALIENCY_METHODS.keys(), unit: str = "token"
) -> dict[str, Saliency]:
    """Saliency of an ``extract.ExampleResult``'s tokens under the fine-tuned ``models.LoadedModel``, for its
    predicted label, in token units or summed per word (``unit="word"``): {method: Saliency with (n_units,) scores}."""
    from dataclasses import replace

    from attnflow_core.encoding import UNITS, merge_scores

    if tuned.label_names is None:
        raise SettingsError(f"{tuned.ref!r} has no classification head: there is no prediction to attribute")
    enc = result.encoding
    pad = tuned.tokenizer.pad_token_id
    out = all_saliencies(
        tuned.model, enc.input_ids, enc.segment_ids, enc.special_positions, pad_id=pad or 0, methods=methods
    )
    if UNITS.get(unit).grouped:
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
