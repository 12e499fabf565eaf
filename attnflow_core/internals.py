"""Layer internals of a BERT-family encoder, captured by forward hooks in the same pass as the attentions.

What the contribution measures (``contributions``: ALTI, GlobEnc) and value zeroing (``value_zeroing``) read. In a
BERT layer (post-LN), with x_i the layer's input at token i, α^h the attention of head h, v_i = x_i W_V + b_V the
value vectors (heads concatenated) and f^h(x_j) = v^h_j W_O^h (see ``measures``):

    z_i = Σ_h Σ_j α^h_ij f^h(x_j) + b_O + x_i          the input of LN1 (``attention.output.LayerNorm``)
    y_i = LN1(z_i) = γ1 ⊙ (z_i − mean(z_i)) / σ1_i + β1,  σ1_i = sqrt(var(z_i) + ε1)
    u_i = LN2(FFN(y_i) + y_i),                           σ2_i the same scale of LN2's input (``output.LayerNorm``)

u_i is the layer's output, the next layer's input. One forward pass inside ``capture_internals`` records, per
layer, x, v, y, σ1 and σ2 (and the last layer's output), so nothing has to be recomputed. Everything is float32.

``transformers`` 5 BERT has no ``head_mask``; the hooks only read, so the forward pass is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Module-name suffixes of one BERT-family layer's parts (relative to the layer).
VALUE = "attention.self.value"
OUT_DENSE = "attention.output.dense"
LN1 = "attention.output.LayerNorm"
LN2 = "output.LayerNorm"


def encoder_layers(module: Any) -> list[Any]:
    """The BERT-family encoder layers inside ``module`` (a model, an encoder or one layer), in order; [] when the
    layout is not one this module knows (every layer needs ``attention.self.value``, ``attention.output.dense``,
    ``attention.output.LayerNorm`` and ``output.LayerNorm``)."""
    if not hasattr(module, "named_modules"):  # not a torch module (a stand-in)
        return []
    named = dict(module.named_modules())
    layers = []
    for name in named:
        if name == VALUE or name.endswith("." + VALUE):
            prefix = name[: -len(VALUE)]
            layers.append(named[prefix[:-1]] if prefix else module)
    for layer in layers:
        parts = dict(layer.named_modules())
        if not all(p in parts for p in (VALUE, OUT_DENSE, LN1, LN2)):
            return []
    return layers


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """The parameters the decompositions need, stacked over the L layers (float32). D = hidden size.

    ``out_weight`` (L, D, D): W_O as torch stores it (output, input), so f = v @ W_Oᵀ; ``out_bias`` (L, D): b_O;
    ``ln1_weight``/``ln1_bias`` (L, D): γ1, β1; ``ln2_weight``/``ln2_bias`` (L, D): γ2, β2.
    """

    out_weight: np.ndarray
    out_bias: np.ndarray
    ln1_weight: np.ndarray
    ln1_bias: np.ndarray
    ln2_weight: np.ndarray
    ln2_bias: np.ndarray
    num_heads: int

    @property
    def num_layers(self) -> int:
        return int(self.out_weight.shape[0])


def layer_weights(module: Any, num_heads: int) -> LayerWeights:
    """``LayerWeights`` of every encoder layer of ``module`` (see ``encoder_layers``); ValueError if none."""
    layers = encoder_layers(module)
    if not layers:
        raise ValueError("not a BERT-family encoder: no layer with attention.self.value and both LayerNorms")

    def stack(path: str, attr: str) -> np.ndarray:
        mods = [dict(layer.named_modules())[path] for layer in layers]
        return np.stack([getattr(m, attr).detach().float().cpu().numpy() for m in mods])

    return LayerWeights(
        out_weight=stack(OUT_DENSE, "weight"),
        out_bias=stack(OUT_DENSE, "bias"),
        ln1_weight=stack(LN1, "weight"),
        ln1_bias=stack(LN1, "bias"),
        ln2_weight=stack(LN2, "weight"),
        ln2_bias=stack(LN2, "bias"),
        num_heads=int(num_heads),
    )


@dataclass(frozen=True, eq=False)
class Internals:
    """One forward pass's layer internals (float32). Shapes for one example; a batch adds a leading axis B.

    ``hidden`` (L+1, n, D): the input x of each layer, then the last layer's output (``hidden[l+1]`` = layer l's
    output u); ``values`` (L, n, D): x W_V + b_V, head h in columns h·d..(h+1)·d; ``ln1_out`` (L, n, D): y = LN1(z),
    the attention block's output; ``ln1_scale`` (L, n): σ1 = sqrt(var(z) + ε1); ``ln2_scale`` (L, n): σ2, the same
    scale of LN2's input FFN(y) + y. ``weights``: the model's ``LayerWeights``. In a padded batch the rows past an
    example's length are padding: take ``example(k, m)``.
    """

    hidden: np.ndarray
    values: np.ndarray
    ln1_out: np.ndarray
    ln1_scale: np.ndarray
    ln2_scale: np.ndarray
    weights: LayerWeights = field(repr=False)

    @property
    def num_layers(self) -> int:
        return int(self.values.shape[-3])

    @property
    def num_tokens(self) -> int:
        return int(self.values.shape[-2])

    @property
    def batched(self) -> bool:
        return self.values.ndim == 4

    def example(self, k: int, length: int | None = None) -> Internals:
        """Example ``k`` of a batch, its first ``length`` tokens (all when None): arrays without the batch axis."""
        if not self.batched:
            raise ValueError("these internals hold one example; example() slices a batch")
        m = self.num_tokens if length is None else int(length)
        return Internals(
            hidden=self.hidden[k, :, :m],
            values=self.values[k, :, :m],
            ln1_out=self.ln1_out[k, :, :m],
            ln1_scale=self.ln1_scale[k, :, :m],
            ln2_scale=self.ln2_scale[k, :, :m],
            weights=self.weights,
        )


class _Recorder:
    """Per-layer tensors recorded by the hooks of ``capture_internals`` (detached float32, on the model's device)."""

    def __init__(self, n_layers: int) -> None:
        self.layers: list[dict[str, Any]] = [{} for _ in range(n_layers)]

    def result(self, weights: LayerWeights | None) -> Internals | None:
        """The recorded pass as ``Internals`` with a batch axis (None if nothing, or an incomplete pass, was seen)."""
        import torch

        keys = ("hidden", "values", "ln1_out", "ln1_scale", "ln2_scale", "output")
        if weights is None or not self.layers or any(k not in rec for rec in self.layers for k in keys):
            return None

        def stacked(key: str) -> np.ndarray:
            return torch.stack([rec[key] for rec in self.layers], dim=1).cpu().numpy()

        hidden = torch.stack([rec["hidden"] for rec in self.layers] + [self.layers[-1]["output"]], dim=1)
        return Internals(
            hidden=hidden.cpu().numpy(),
            values=stacked("values"),
            ln1_out=stacked("ln1_out"),
            ln1_scale=stacked("ln1_scale"),
            ln2_scale=stacked("ln2_scale"),
            weights=weights,
        )


def _scale(z: Any, eps: float) -> Any:
    """σ = sqrt(var(z) + ε) over the last axis (the biased variance LayerNorm uses): (..., D) -> (...)."""
    import torch

    z = z.float()
    return torch.sqrt(z.var(dim=-1, unbiased=False) + eps)


def _first_tensor(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    return args[0] if args else kwargs[name]


def _hook_layer(layer: Any, rec: dict[str, Any]) -> list[Any]:
    """Register the recording hooks on one BERT layer; returns their handles."""
    parts = dict(layer.named_modules())
    ln1, ln2 = parts[LN1], parts[LN2]

    def keep(key: str, value: Any) -> None:
        rec[key] = value.detach().float()

    def on_input(_m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        keep("hidden", _first_tensor(args, kwargs, "hidden_states"))

    def on_output(_m: Any, _args: Any, output: Any) -> None:
        keep("output", output[0] if isinstance(output, tuple) else output)

    def on_values(_m: Any, _args: Any, output: Any) -> None:
        keep("values", output)

    def on_ln1_in(_m: Any, args: tuple[Any, ...]) -> None:
        keep("ln1_scale", _scale(args[0], ln1.eps))

    def on_ln1_out(_m: Any, _args: Any, output: Any) -> None:
        keep("ln1_out", output)

    def on_ln2_in(_m: Any, args: tuple[Any, ...]) -> None:
        keep("ln2_scale", _scale(args[0], ln2.eps))

    return [
        layer.register_forward_pre_hook(on_input, with_kwargs=True),
        layer.register_forward_hook(on_output),
        parts[VALUE].register_forward_hook(on_values),
        ln1.register_forward_pre_hook(on_ln1_in),
        ln1.register_forward_hook(on_ln1_out),
        ln2.register_forward_pre_hook(on_ln2_in),
    ]


class InternalsCapture:
    """What ``capture_internals`` yields: after the forward pass, ``result()`` is its ``Internals`` (batch axis
    first; None when the layout is unknown or no pass ran inside the block)."""

    def __init__(self, module: Any, num_heads: int) -> None:
        self._layers = encoder_layers(module)
        self._weights = layer_weights(module, num_heads) if self._layers else None
        self._recorder = _Recorder(len(self._layers))

    def result(self) -> Internals | None:
        return self._recorder.result(self._weights)


@contextmanager
def capture_internals(module: Any, num_heads: int) -> Iterator[InternalsCapture]:
    """Within the block, a forward pass of ``module`` (a BERT-family model, encoder or single layer) records its
    ``Internals`` (the last pass wins). ``module`` None (or an unknown layout) records nothing: ``result()`` is
    None. The hooks are removed on exit."""
    capture = InternalsCapture(module, num_heads)
    handles: list[Any] = []
    for layer, rec in zip(capture._layers, capture._recorder.layers, strict=True):
        handles += _hook_layer(layer, rec)
    try:
        yield capture
    finally:
        for h in handles:
            h.remove()
