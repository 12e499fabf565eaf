"""Run both models of a pair on one identical token sequence: one frozen result per example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attnflow_core.encoding import Encoding, encode
from attnflow_core.models import LoadedModel, ModelPair


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

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.encoding.tokens

    @property
    def num_layers(self) -> int:
        return int(self.attn_base.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attn_base.shape[1])


def _forward(model: LoadedModel, input_ids: Any, token_type_ids: Any) -> tuple[np.ndarray, Prediction | None]:
    """Attention (L, H, n, n) float32 and the prediction (None without a classification head)."""
    import torch

    from attnflow_core.device import model_device

    input_ids, token_type_ids = (t.to(model_device(model.model)) for t in (input_ids, token_type_ids))
    with torch.inference_mode():
        out = model.model(
            input_ids=input_ids,
            token_type_ids=token_type_ids,
            attention_mask=torch.ones_like(input_ids),
            output_attentions=True,
        )
    attentions = out.attentions
    if not attentions or attentions[0] is None:
        raise RuntimeError(
            f"{model.ref!r} returned no attention weights; it must run with eager attention "
            "(models.load_model sets this)"
        )
    attn = torch.stack([a[0] for a in attentions]).float().cpu().numpy()
    prediction = None
    if model.label_names is not None and getattr(out, "logits", None) is not None:
        probs = torch.softmax(out.logits[0].float(), dim=-1).cpu().numpy()
        names = model.label_names
        prediction = Prediction(
            label=names[int(np.argmax(probs))],
            probabilities=tuple((names[i], float(p)) for i, p in enumerate(probs)),
        )
    return attn, prediction


def extract(
    pair: ModelPair, text: str, text_pair: str | None = None, max_length: int | None = None
) -> ExampleResult:
    """Tokenise once and run both models on the identical sequence.

    ``max_length`` defaults to the pair's limit (512 for BERT); longer input is truncated and the result says so.
    """
    import torch

    limit = pair.max_length if max_length is None else min(int(max_length), pair.max_length)
    enc = encode(pair.tokenizer, text, text_pair, max_length=limit)
    input_ids = torch.tensor([enc.input_ids], dtype=torch.long)
    token_type_ids = torch.tensor([enc.segment_ids], dtype=torch.long)
    attn_base, pred_base = _forward(pair.base, input_ids, token_type_ids)
    attn_tuned, pred_tuned = _forward(pair.tuned, input_ids, token_type_ids)
    return ExampleResult(
        encoding=enc,
        attn_base=attn_base,
        attn_tuned=attn_tuned,
        prediction_tuned=pred_tuned,
        prediction_base=pred_base,
        base_ref=pair.base.ref,
        tuned_ref=pair.tuned.ref,
        base_weights=pair.base.weights_format,
        tuned_weights=pair.tuned.weights_format,
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
    limit = min(max_length, model.max_length)
    for start in range(0, len(valid), batch_size):
        idx = valid[start : start + batch_size]
        first = [texts[i] for i in idx]
        second = [pairs[i] for i in idx]
        has_pair = any(s is not None for s in second)
        batch = model.tokenizer(
            first,
            [s or "" for s in second] if has_pair else None,
            truncation=True,
            max_length=limit,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            logits = model.model(**batch.to(model_device(model.model))).logits.float()
        probs = torch.softmax(logits, dim=-1).cpu().numpy()
        for row, i in enumerate(idx):
            p = probs[row]
            out[i] = Prediction(
                label=names[int(np.argmax(p))],
                probabilities=tuple((names[k], float(v)) for k, v in enumerate(p)),
            )
    return out
