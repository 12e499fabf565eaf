"""Run both models of a pair on one identical token sequence: one frozen result per example."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnflow_core.checkpoints import with_note
from attnflow_core.encoding import Encoding, encode
from attnflow_core.internals import Internals, capture_internals
from attnflow_core.measures import WEIGHTS_AND_NORMS, Capture, Captured, Progress, with_reruns
from attnflow_core.models import LoadedModel, ModelPair

#: The two models of a pair, as the results name them.
MODELS = ("base", "tuned")
#: How titles, legends and captions name them; a checkpoint before the end of fine-tuning is named with its step
#: (``model_labels``).
MODEL_LABELS = {"base": "pre-trained", "tuned": "fine-tuned"}


def model_labels(tuned_note: str = "") -> dict[str, str]:
    """``MODEL_LABELS`` with the fine-tuned model's checkpoint note (``models.LoadedModel.checkpoint``):
    ``{"base": "pre-trained", "tuned": "fine-tuned (step 113 of 339)"}``."""
    return {**MODEL_LABELS, "tuned": with_note(MODEL_LABELS["tuned"], tuned_note)}


@dataclass(frozen=True)
class Prediction:
    """A classifier's output on one example."""

    label: str
    probabilities: tuple[tuple[str, float], ...]  # (label name, probability), in the model's label order

    @property
    def confidence(self) -> float:
        return dict(self.probabilities)[self.label]


@dataclass(frozen=True, eq=False)
class ExampleResult:
    """Everything the views need about one example.

    ``attn_base`` and ``attn_tuned`` are float32 arrays (layers, heads, n, n): ``attn[l, h, j, i]`` is how much
    query token j attends to key token i in transformer layer l+1 (rows sum to 1).

    ``vnorm_base`` and ``vnorm_tuned`` are float32 arrays (layers, heads, n): ``vnorm[l, h, i]`` = ‖f^h(x_i)‖, the
    norm of the vector head h of layer l+1 carries from token i (see ``measures``), captured in the same forward
    pass; None when the model's layout is not one ``value_norms`` knows, or for results built by hand.

    ``internals_base`` and ``internals_tuned`` are each model's ``internals.Internals`` (one example, no batch axis:
    layer inputs, value vectors, LN outputs and scales), what the contribution measures read; captured in the same
    pass when ``extract(..., capture=Capture(internals=True))`` (or ``Capture.of`` a measure that needs them), else
    None. ``reran_base``/``reran_tuned``: {measure key: (L, 1, n, n)} of the measures with layer reruns (value
    zeroing) the extraction computed (``measures.Measure.rerun``).
    """

    encoding: Encoding
    attn_base: np.ndarray
    attn_tuned: np.ndarray
    prediction_tuned: Prediction | None
    prediction_base: Prediction | None
    base_ref: str
    tuned_ref: str
    base_weights: str = ""  # which weights format each model was loaded from (LoadedModel.weights_format)
    tuned_weights: str = ""
    vnorm_base: np.ndarray | None = None
    vnorm_tuned: np.ndarray | None = None
    internals_base: Internals | None = None
    internals_tuned: Internals | None = None
    reran_base: Mapping[str, np.ndarray] = field(default_factory=dict)
    reran_tuned: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: which checkpoint the fine-tuned model is ("step 113 of 339"; "" for the fine-tuned model itself)
    tuned_checkpoint: str = ""

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.encoding.tokens

    @property
    def num_layers(self) -> int:
        return int(self.attn_base.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attn_base.shape[1])

    def captured(self, model: str) -> Captured:
        """What the forward pass of ``model`` ("base" or "tuned") captured: every measure's input."""
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}; got {model!r}")
        if model == "base":
            return Captured(self.attn_base, self.vnorm_base, self.internals_base, self.reran_base)
        return Captured(self.attn_tuned, self.vnorm_tuned, self.internals_tuned, self.reran_tuned)


# (value projection, attention output projection) module-name suffixes of the BERT-family layouts
_VALUE_LAYOUTS = (("attention.self.value", "attention.output.dense"),)


def _value_modules(module: Any) -> list[tuple[Any, Any]]:
    """Per layer, in order: (value projection, attention output projection) of a BERT-family encoder; [] if the
    layout is unknown."""
    if not hasattr(module, "named_modules"):  # not a torch module (a stand-in)
        return []
    named = dict(module.named_modules())
    for value_suffix, out_suffix in _VALUE_LAYOUTS:
        found = [
            (mod, named.get(name[: -len(value_suffix)] + out_suffix))
            for name, mod in named.items()
            if name.endswith(value_suffix)
        ]
        if found and all(out is not None for _, out in found):
            return found
    return []


def head_value_norms(values: Any, out_weight: Any, num_heads: int) -> Any:
    """‖f^h(x_i)‖ for one layer: values (B, n, H·d) = x W_V + b_V, out_weight (hidden, H·d) -> (B, H, n) tensor.

    f^h(x_i) = v^h_i W_O^h with v^h_i the head's d values and W_O^h = out_weight[:, h·d:(h+1)·d]ᵀ.
    """
    import torch

    b, n, hd = values.shape
    d = hd // num_heads
    v = values.float().reshape(b, n, num_heads, d).permute(0, 2, 1, 3)  # (B, H, n, d)
    w = out_weight.float().reshape(out_weight.shape[0], num_heads, d).permute(1, 2, 0)  # (H, d, hidden)
    f = torch.matmul(v, w)  # (B, H, n, hidden); a batched matmul, ~4x faster than the same einsum on CPU
    return torch.linalg.vector_norm(f, dim=-1)


@contextmanager
def value_norms(module: Any, num_heads: int) -> Iterator[list[Any]]:
    """Within the block, every forward pass of ``module`` appends each layer's ‖f^h(x_i)‖ (B, H, n) tensor to the
    yielded list (layer order), via forward hooks on the value projections. The list stays empty if the layout is
    unknown."""
    captured: list[Any] = []
    handles = []
    for value_mod, out_mod in _value_modules(module):

        def hook(_mod: Any, _inputs: Any, output: Any, out_mod: Any = out_mod) -> None:
            captured.append(head_value_norms(output, out_mod.weight, num_heads))

        handles.append(value_mod.register_forward_hook(hook))
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()


def forward_batch(
    model: LoadedModel, batch: Mapping[str, Any], with_norms: bool = False
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The one forward pass with attention, for one example or a padded batch (``extract`` and ``overview``).

    ``batch``: ``input_ids``, ``token_type_ids`` and ``attention_mask`` tensors of shape (B, n). Returns the
    attention (B, L, H, n, n) float32, the class probabilities (B, C) float32 (None without a classification head)
    and, with ``with_norms``, the value-vector norms ‖f^h(x_i)‖ (B, L, H, n) float32 captured in the same pass by
    hooks on the value projections (None if the model's layout is not BERT-like; see ``measures``).
    """
    attn, probs, vnorm, _ = _forward_pass(model, batch, with_norms, with_internals=False)
    return attn, probs, vnorm


def forward_internals(
    model: LoadedModel, batch: Mapping[str, Any], with_norms: bool = False, with_internals: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, Internals | None]:
    """``forward_batch`` that also records the layer internals the contribution measures need (``internals``):
    the same attention, probabilities and norms, plus an ``Internals`` with a batch axis (B, ...) from the same
    pass (None if the model's layout is not BERT-like, or without ``with_internals``). Take one example with
    ``Internals.example(k, m)``."""
    return _forward_pass(model, batch, with_norms, with_internals)


def _forward_pass(
    model: LoadedModel, batch: Mapping[str, Any], with_norms: bool, with_internals: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, Internals | None]:
    """The body of ``forward_batch`` and ``forward_internals``: one forward pass, hooks as asked."""
    import torch

    from attnflow_core.device import forward_context, model_device

    device = model_device(model.model)
    batch = {k: v.to(device) for k, v in batch.items()}
    # inference mode; bf16/fp16 autocast on CUDA (see device.GPU_TOLERANCE)
    with (
        forward_context(device),
        value_norms(model.model if with_norms else None, model.num_heads) as norms,
        capture_internals(model.model if with_internals else None, model.num_heads) as internals,
    ):
        out = model.model(**batch, output_attentions=True)
    attentions = out.attentions
    if not attentions or attentions[0] is None:
        raise RuntimeError(
            f"{model.ref!r} returned no attention weights; it must run with eager attention "
            "(models.load_model sets this)"
        )
    attn = torch.stack(attentions, dim=1).float().cpu().numpy()
    vnorm = None
    if with_norms and len(norms) == attn.shape[1]:
        vnorm = torch.stack(norms, dim=1).float().cpu().numpy()
    logits = getattr(out, "logits", None)
    probs = None
    if model.label_names is not None and logits is not None:
        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return attn, probs, vnorm, internals.result()


def tokenize_batch(
    model: LoadedModel, first: Sequence[str], second: Sequence[str | None], max_length: int
) -> Any:
    """The padded, truncated batch (``input_ids``, ``token_type_ids``, ``attention_mask`` tensors, (B, n)) of B
    examples for ``model``; ``second`` holds each example's pair text, all None for single-text tasks. At most
    ``min(max_length, model.max_length)`` tokens each. The one batched tokenisation (``predict_many``,
    ``importance``)."""
    has_pair = any(s is not None for s in second)
    return model.tokenizer(
        list(first),
        [s or "" for s in second] if has_pair else None,
        truncation=True,
        max_length=min(max_length, model.max_length),
        padding=True,
        return_tensors="pt",
    )


def _prediction(names: Sequence[str], probs: np.ndarray) -> Prediction:
    """The Prediction of one example's class probabilities (C,) over the label ``names``."""
    return Prediction(
        label=names[int(np.argmax(probs))],
        probabilities=tuple((names[k], float(v)) for k, v in enumerate(probs)),
    )


def _forward(
    model: LoadedModel,
    input_ids: Any,
    token_type_ids: Any,
    capture: Capture,
    progress: Progress | None = None,
) -> tuple[Captured, Prediction | None]:
    """What one forward pass of one example captures (attention (L, H, n, n) float32, value norms (L, H, n) float32
    or None if the layout is unknown, the layer internals (one example, no batch axis) when ``capture`` asks for
    them, and the reruns of ``capture.reruns`` computed right after it, on the same model) and its prediction (None
    without a classification head). A layout without internals records none, and no rerun runs: the measures that
    need them fall back to the raw weights (``measures.measure_for``)."""
    import torch

    batch = {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": torch.ones_like(input_ids),
    }
    attn, probs, vnorm, internals = _forward_pass(model, batch, True, capture.internals)
    captured = Captured(
        attn[0], None if vnorm is None else vnorm[0], None if internals is None else internals.example(0)
    )
    if captured.internals is not None:
        captured = with_reruns(captured, model.model, capture.reruns, progress)
    if probs is None or model.label_names is None:
        return captured, None
    return captured, _prediction(model.label_names, probs[0])


def extract(
    pair: ModelPair,
    text: str,
    text_pair: str | None = None,
    max_length: int | None = None,
    capture: Capture = WEIGHTS_AND_NORMS,
    progress: Progress | None = None,
) -> ExampleResult:
    """Tokenise once and run both models on the identical sequence.

    ``max_length`` defaults to the pair's limit (512 for BERT); longer input is truncated and the result says so.
    ``capture``: what to record beyond the attention weights and value norms (``measures.Capture``; e.g.
    ``Capture.of("alti")``): each model's layer internals in the same pass (``ExampleResult.internals_base`` /
    ``internals_tuned``, what ALTI and GlobEnc read), and the reruns of the measures that need them (value zeroing;
    ``ExampleResult.reran_base`` / ``reran_tuned``), reported through ``progress(fraction, message)`` over both
    models. A rerun past its bound raises its ``AttnflowError`` (the message names the limit).
    """
    import torch

    limit = pair.max_length if max_length is None else min(int(max_length), pair.max_length)
    enc = encode(pair.tokenizer, text, text_pair, max_length=limit)
    input_ids = torch.tensor([enc.input_ids], dtype=torch.long)
    token_type_ids = torch.tensor([enc.segment_ids], dtype=torch.long)
    sides = []
    for k, (model, name) in enumerate(((pair.base, "pre-trained"), (pair.tuned, "fine-tuned"))):

        def part(frac: float, msg: str, k: int = k, name: str = name) -> None:
            if progress is not None:
                progress((k + frac) / 2, f"{name} model: {msg}")

        sides.append(_forward(model, input_ids, token_type_ids, capture, part))
    (base, pred_base), (tuned, pred_tuned) = sides
    return ExampleResult(
        encoding=enc,
        attn_base=base.attn,
        attn_tuned=tuned.attn,
        prediction_tuned=pred_tuned,
        prediction_base=pred_base,
        base_ref=pair.base.ref,
        tuned_ref=pair.tuned.ref,
        base_weights=pair.base.weights_format,
        tuned_weights=pair.tuned.weights_format,
        vnorm_base=base.vnorm,
        vnorm_tuned=tuned.vnorm,
        internals_base=base.internals,
        internals_tuned=tuned.internals,
        reran_base=base.reran,
        reran_tuned=tuned.reran,
        tuned_checkpoint=pair.tuned.checkpoint,
    )


def predict_many(
    model: LoadedModel,
    texts: list[str],
    text_pairs: list[str | None] | None = None,
    batch_size: int = 32,
    max_length: int = 256,
) -> list[Prediction | None]:
    """Predictions of one classifier on many examples (batched, length-sorted to save padding).

    Returns None for every example when the model has no classification head; empty texts give None too.
    """
    import torch

    from attnflow_core.device import model_device

    pairs = text_pairs if text_pairs is not None else [None] * len(texts)
    if len(pairs) != len(texts):
        raise ValueError(f"texts and text_pairs must have the same length; got {len(texts)} and {len(pairs)}")
    out: list[Prediction | None] = [None] * len(texts)
    if model.label_names is None:
        return out
    names = model.label_names
    valid = [
        i
        for i, (t, p) in enumerate(zip(texts, pairs, strict=True))
        if t and t.strip() and (p is None or p.strip())
    ]
    valid.sort(key=lambda i: len(texts[i]) + len(pairs[i] or ""))
    for start in range(0, len(valid), batch_size):
        idx = valid[start : start + batch_size]
        batch = tokenize_batch(model, [texts[i] for i in idx], [pairs[i] for i in idx], max_length)
        with torch.inference_mode():
            logits = model.model(**batch.to(model_device(model.model))).logits.float()
        probs = torch.softmax(logits, dim=-1).cpu().numpy()
        for row, i in enumerate(idx):
            out[i] = _prediction(names, probs[row])
    return out
