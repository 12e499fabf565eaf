"""Interventions on a BERT-family classifier's heads: gate, zero or patch heads, then re-predict.

transformers 5's BERT has no ``head_mask``. A head's output is gated (or zeroed) by a forward pre-hook on
``attention.output.dense``, whose input is the heads' concatenated context vectors ``(B, n, H·d)``: head h owns the
slice ``[h·d, (h+1)·d)``. A head is *patched* (given another attention pattern, e.g. the pre-trained model's, on the
same input) by a forward hook on ``attention.self`` that recomputes that head's context as ``P @ V_h`` from the
module's own value projection, so the rest of the model is untouched and any attention implementation works.

Heads are named ``(layer, head)`` with 0-based layer and head indices throughout this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.errors import AttnflowError
from attnflow_core.vocab import Choice, Registry

Head = tuple[int, int]


class UnsupportedModel(AttnflowError):
    """The model has no BERT-style encoder layers to intervene on."""


def encoder_layers(model: Any) -> list[Any]:
    """The encoder's layer modules (``model.base_model.encoder.layer`` for the BERT family)."""
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise UnsupportedModel(
            f"{type(model).__name__} has no BERT-style encoder layers; head interventions need a BERT-family "
            "encoder (pick a BERT/MiniLM pair)"
        )
    return list(layers)


def _head_size(model: Any) -> tuple[int, int]:
    cfg = model.config
    heads = int(cfg.num_attention_heads)
    return heads, int(cfg.hidden_size) // heads


def _check_heads(heads: Iterable[Head], n_layers: int, n_heads: int) -> list[Head]:
    out = [(int(layer), int(head)) for layer, head in heads]
    bad = [(layer, h) for layer, h in out if not (0 <= layer < n_layers and 0 <= h < n_heads)]
    if bad:
        raise AttnflowError(
            f"heads must be (layer, head) with layer in 0..{n_layers - 1} and head in 0..{n_heads - 1}; got {bad}"
        )
    return out


@contextmanager
def gated_heads(model: Any, gates: Any) -> Iterator[Any]:
    """Multiply each head's output by a gate while the context is open.

    ``gates`` is a torch tensor (L, H) (one gate per head, shared by the batch) or (B, L, H) (per example, so that
    ``∂(Σ_b loss_b)/∂gates[b]`` is example b's own gradient). Gates of 1 change nothing; 0 removes the head.
    """
    layers = encoder_layers(model)
    n_heads, d = _head_size(model)
    if gates.shape[-2:] != (len(layers), n_heads):
        raise ValueError(f"gates must end in ({len(layers)}, {n_heads}); got {tuple(gates.shape)}")
    handles = []
    for li, layer in enumerate(layers):

        def pre_hook(_module: Any, args: tuple[Any, ...], li: int = li) -> tuple[Any, ...]:
            x = args[0]  # (B, n, H·d)
            g = gates[li] if gates.dim() == 2 else gates[:, li]  # (H,) or (B, H)
            shape = (*x.shape[:-1], n_heads, d)
            if g.dim() == 1:
                gated = x.view(shape) * g.to(x.dtype)[:, None]
            else:
                gated = x.view(shape) * g.to(x.dtype)[:, None, :, None]
            return (gated.view(x.shape), *args[1:])

        handles.append(layer.attention.output.dense.register_forward_pre_hook(pre_hook))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


@contextmanager
def zeroed_heads(model: Any, heads: Iterable[Head]) -> Iterator[Any]:
    """Remove the outputs of ``heads`` ((layer, head), 0-based) while the context is open."""
    import torch

    layers = encoder_layers(model)
    n_heads, _ = _head_size(model)
    gates = torch.ones(len(layers), n_heads, device=next(model.parameters()).device)
    for layer, head in _check_heads(heads, len(layers), n_heads):
        gates[layer, head] = 0.0
    with gated_heads(model, gates):
        yield model


@contextmanager
def patched_heads(model: Any, patterns: Mapping[Head, Any]) -> Iterator[Any]:
    """Give ``model`` other attention patterns for some heads while the context is open.

    ``patterns[(layer, head)]`` is an (n, n) or (B, n, n) array/tensor of attention weights (rows: queries) for
    the input the model will run on; that head's context becomes ``P @ V_h`` with the model's own values ``V_h``.
    The returned attentions (``output_attentions=True``) show the patched patterns too: the hook is prepended, so
    it runs before transformers' own output-capturing hook.
    """
    import torch

    layers = encoder_layers(model)
    n_heads, d = _head_size(model)
    by_layer: dict[int, list[tuple[int, Any]]] = {}
    for (layer, head), p in zip(
        _check_heads(patterns.keys(), len(layers), n_heads), patterns.values(), strict=True
    ):
        by_layer.setdefault(layer, []).append(
            (head, torch.as_tensor(np.asarray(p.cpu() if hasattr(p, "cpu") else p)))
        )
    handles = []
    for li, items in by_layer.items():

        def hook(
            module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any, items: Any = items
        ) -> Any:
            hidden = args[0] if args else kwargs["hidden_states"]
            context, weights = output[0], output[1]
            b, n, _ = context.shape
            # the projection's own weights, not module.value(...): its hooks (value-norm capture) must fire once
            values = torch.nn.functional.linear(hidden, module.value.weight, module.value.bias).view(
                b, n, n_heads, d
            )
            ctx = context.view(b, n, n_heads, d).clone()
            new_w = weights.clone() if weights is not None else None
            for head, p in items:
                pat = p.to(device=values.device, dtype=values.dtype)
                if pat.shape[-1] != n:
                    raise AttnflowError(
                        f"a patch pattern covers {pat.shape[-1]} tokens but the input has {n}; patch with the "
                        "other model's attention on the same input"
                    )
                ctx[:, :, head] = torch.matmul(pat, values[:, :, head])
                if new_w is not None:
                    new_w[:, head] = pat
            return (ctx.view(b, n, n_heads * d), new_w, *output[2:])

        handles.append(layers[li].attention.self.register_forward_hook(hook, with_kwargs=True, prepend=True))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


@dataclass(frozen=True)
class Reprediction:
    """The tuned model's prediction on one example before and after an intervention."""

    labels: tuple[str, ...]
    before: tuple[float, ...]  # probabilities in the model's label order
    after: tuple[float, ...]
    attn_after: (
        np.ndarray
    )  # (L, H, n, n) float32 attention of the intervened model (patched heads show the patch)
    # (L, H, n) float32 value-vector norms ‖f^h(x_i)‖ of the intervened model (``measures``), None if not captured
    vnorm_after: np.ndarray | None = None

    @property
    def label_before(self) -> str:
        return self.labels[int(np.argmax(self.before))]

    @property
    def label_after(self) -> str:
        return self.labels[int(np.argmax(self.after))]

    def confidence(self, which: str = "before", label: str | None = None) -> float:
        """Probability of ``label`` (default: the label predicted before) under ``before`` or ``after``."""
        probs = self.before if which == "before" else self.after
        return float(probs[self.labels.index(label or self.label_before)])


def _run(model: Any, input_ids: Any, token_type_ids: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """probs (C,), attention (L, H, n, n) and value norms (L, H, n) (None if not captured) of one example."""
    import torch

    from attnflow_core.extract import value_norms

    with torch.inference_mode(), value_norms(model, _head_size(model)[0]) as norms:
        out = model(
            input_ids=input_ids,
            token_type_ids=token_type_ids,
            attention_mask=torch.ones_like(input_ids),
            output_attentions=True,
        )
    probs = torch.softmax(out.logits[0].float(), -1).cpu().numpy()
    attn = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
    vnorm = torch.stack([v[0] for v in norms]).float().cpu().numpy() if len(norms) == len(attn) else None
    return probs, attn, vnorm


def _zero(model: Any, heads: list[Head], base_attn: np.ndarray | None) -> AbstractContextManager[Any]:
    return zeroed_heads(model, heads)


def _patch(model: Any, heads: list[Head], base_attn: np.ndarray | None) -> AbstractContextManager[Any]:
    if base_attn is None:
        raise ValueError("mode='patch' needs base_attn, the pre-trained model's attention (L, H, n, n)")
    return patched_heads(model, {(layer, h): base_attn[layer, h] for layer, h in heads})


class Intervention(Choice):
    """A way to change heads of the fine-tuned model: its words (``short``: the past participle a result names,
    "zeroed") and ``apply(model, heads, base_attn)``, the context manager that does it."""

    apply: Callable[[Any, list[Head], np.ndarray | None], AbstractContextManager[Any]]


#: The interventions on heads (the vocabulary's one definition).
INTERVENTIONS: Registry[Intervention] = Registry(
    "mode",
    (
        Intervention(
            "zero",
            label="Zero in the fine-tuned model",
            short="zeroed",
            help="**Zero** removes the chosen heads' outputs from the fine-tuned model (as if the heads were "
            "pruned).",
            apply=_zero,
        ),
        Intervention(
            "patch",
            label="Patch with pre-trained pattern",
            short="patched",
            help="**Patch** gives the chosen heads of the fine-tuned model the pre-trained model's attention pattern "
            "on this input, keeping the fine-tuned value vectors, so only *where* those heads look is reverted.",
            apply=_patch,
        ),
    ),
)


def intervene(
    tuned: Any,
    input_ids: Sequence[int],
    segment_ids: Sequence[int],
    labels: Sequence[str],
    mode: str,
    heads: Iterable[Head],
    base_attn: np.ndarray | None = None,
) -> Reprediction:
    """Re-predict one example with ``heads`` zeroed (``mode="zero"``) or patched with ``base_attn`` (L, H, n, n),
    the pre-trained model's attention on the same tokens (``mode="patch"``); ``mode`` is an ``INTERVENTIONS``
    entry or its key. ``tuned`` is the torch classifier."""
    import torch

    how = INTERVENTIONS.get(mode)
    heads = list(heads)
    device = next(tuned.parameters()).device
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=device)
    seg = torch.tensor([list(segment_ids)], dtype=torch.long, device=device)
    before, _, _ = _run(tuned, ids, seg)
    with how.apply(tuned, heads, base_attn):
        after, attn, vnorm = _run(tuned, ids, seg)
    return Reprediction(
        labels=tuple(labels),
        before=tuple(float(x) for x in before),
        after=tuple(float(x) for x in after),
        attn_after=attn,
        vnorm_after=vnorm,
    )
