"""Dataset overview: how fine-tuning changed attention across many examples of a task, not just one.

Over N examples, both models run in length-bucketed batches and every example's attention (L, H, m, m) is reduced
at once to running sums, so memory stays bounded whatever N is. Statistics (padding never enters any of them):

- Head change map: per (layer, head), the mean and standard deviation over examples of the Jensen–Shannon divergence
  between the two models' attention (per example: mean over query tokens, as on the Head differences page).
- Cross-segment attention (pair tasks): per model and layer, for query tokens of segment A (first sentence) and of
  segment B (second sentence), the share of their attention that lands on non-special tokens of A, of B, and on the
  special tokens; averaged over query tokens and heads.
- Special-token sinks: per model and head, the share of attention going to [CLS], to [SEP] and to punctuation
  (Clark et al. 2019); always measured on the raw attention.
- Head behaviour: per model and head, the mean share on the previous token, the next token, the token itself, the
  special tokens, and the mean normalised row entropy; ``behaviour_labels`` turns them into labels by the rule in
  ``BEHAVIOUR_RULE`` (written on the page too).
- Example ranking: per example, the attention shift (mean JS over all heads), the fine-tuned prediction, its
  confidence and whether it is correct.

Every statistic is computed under ``settings.measure`` (``measures``: norm-weighted attention by default, the raw
weights with ``measure="attention"``, or a contribution measure); the value norms and, for a measure that reads them
(ALTI, GlobEnc, value zeroing) or for the faithfulness table, the layer internals come from the same batched forward
pass as the attentions, and each example is measured on its own tokens (no padding). A measure without a per-head
part (``Measure.per_head``) gives each layer one "head": the head statistics are then per layer.
With ``special="renormalise"``, attention to [CLS]/[SEP] is removed and rows renormalised before the JS, cross-
segment and behaviour statistics (not the sinks, which measure exactly that attention).
"""

from __future__ import annotations

import hashlib
import json
import logging
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attnflow_core.compare import js_divergence, xlogx
from attnflow_core.data.errors import DataError
from attnflow_core.data.files import MAX_DECODED_BYTES, MAX_FILE_BYTES, size_text
from attnflow_core.data.tasks import is_correct
from attnflow_core.errors import AttnflowError
from attnflow_core.extract import forward_internals
from attnflow_core.flows import SPECIAL_MODES, SpecialMode, special_attention
from attnflow_core.measures import (
    DEFAULT_MEASURE,
    MEASURES,
    RAW_WEIGHTS,
    VALUE_NORMS,
    Capture,
    Captured,
    Measure,
    measure_attention,
    measure_for,
    with_reruns,
)
from attnflow_core.paths import atomic_write
from attnflow_core.settings import SettingsError
from attnflow_core.shards import RunningSums

BEHAVIOURS = ("previous token", "next token", "self", "[CLS]/[SEP] sink", "broad", "mixed")
STAT_NAMES = ("previous", "next", "self", "special", "entropy")
LABEL_SHARE = 0.5  # a positional or sink label needs at least half of the average row's mass
BROAD_ENTROPY = 0.8  # normalised row entropy (1 = uniform) for "broad"
BEHAVIOUR_RULE = (
    f"A head is labelled by its mean attention pattern over the examples, first match wins: "
    f"'[CLS]/[SEP] sink' if on average (over rows and examples) ≥ {LABEL_SHARE:.0%} of a row's attention goes to "
    f"[CLS]/[SEP]; 'previous token' / 'next token' / 'self' if on average ≥ {LABEL_SHARE:.0%} goes to the token one "
    f"before / one after / the token itself; 'broad' if the mean normalised row entropy is ≥ {BROAD_ENTROPY}; "
    f"otherwise 'mixed'."
)
PUNCTUATION = set(string.punctuation) | {"``", "''", "...", "--"}


#: The special-token treatments an overview supports: those that leave every attention row a distribution (the
#: JS fast path of ``shift_from_stats`` relies on it): keep, and hide-and-renormalise.
OVERVIEW_SPECIAL_MODES: tuple[SpecialMode, ...] = tuple(
    m for m in SPECIAL_MODES if not m.hides or m.renormalises
)
#: The file types ``save_overview`` writes.
OVERVIEW_SUFFIXES = (".json", ".parquet")


@dataclass(frozen=True)
class OverviewLimits:
    """What an overview file may hold (``load_overview`` checks it before and while reading, for JSON and Parquet
    alike, so a small crafted file cannot make the reader build gigabytes): reading an accepted file costs about
    ``text_bytes`` (Parquet) or ``file_bytes`` plus ``json_values`` small objects (JSON). ``compute_overview`` stays
    within it: ``OverviewSettings.n`` is at most ``examples``.

    ``file_bytes``: the file on disk (or uploaded). ``examples``: rows of the example table (a full MNLI train run
    is 393k). ``text_bytes``: the example table once decoded (Parquet: counted while decoding, ``data.files.
    CELL_BYTES`` per cell plus its text; about 400k examples of MNLI's length). ``json_values``: the values of a
    JSON file (or of a Parquet file's metadata) counted before parsing, about 250k examples; larger runs are saved
    as .parquet. ``tokens``: an example's ``n_tokens`` (``OverviewSettings.max_length`` is at most 512).
    ``layers``, ``heads``: the model's shape."""

    file_bytes: int = 4 * MAX_FILE_BYTES
    examples: int = 1_000_000
    text_bytes: int = 5 * MAX_DECODED_BYTES // 2
    json_values: int = 5_000_000
    tokens: int = 512
    layers: int = 128
    heads: int = 128


OVERVIEW_LIMITS = OverviewLimits()


@dataclass(frozen=True)
class OverviewSettings:
    """How an overview is computed; the defaults are the CLI's and the page's. Valid by construction: names become
    registry entries, and a value out of range is a SettingsError naming the fix."""

    n: int = 200
    max_length: int = 128
    special: SpecialMode = SPECIAL_MODES.default  # one of OVERVIEW_SPECIAL_MODES
    batch_size: int = 16
    measure: Measure = DEFAULT_MEASURE
    importance: bool = False  # also the tuned model's head importance (attnflow_core.importance), averaged
    agreement: bool = False  # also the flow/saliency agreement (attnflow_core.agreement), averaged
    # also the faithfulness table (attnflow_core.faithfulness), summed over examples
    faithfulness: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "special", SPECIAL_MODES.get(self.special))
        object.__setattr__(self, "measure", MEASURES.get(self.measure))
        self.validate()

    def validate(self) -> OverviewSettings:
        """Self, when every number is in range and the special-token mode is one an overview supports."""
        check_run_settings(self.n, self.max_length, self.special, self.batch_size)
        return self


def check_run_settings(n: int, max_length: int, special: SpecialMode, batch_size: int) -> None:
    """The checks of a run over N examples (an overview's, a trajectory's): ``n`` within what an overview file may
    hold, ``max_length`` in [8, 512] tokens, ``special`` one of ``OVERVIEW_SPECIAL_MODES``, ``batch_size`` ≥ 1."""
    if n < 1:
        raise SettingsError(f"n must be at least 1 example; got {n}")
    if n > OVERVIEW_LIMITS.examples:
        raise SettingsError(
            f"n must be at most {OVERVIEW_LIMITS.examples:,} examples (what an overview file may hold); got {n}"
        )
    if not 8 <= max_length <= 512:
        raise SettingsError(f"max_length must be in [8, 512] tokens; got {max_length}")
    if special not in OVERVIEW_SPECIAL_MODES:
        keys = tuple(str(m) for m in OVERVIEW_SPECIAL_MODES)
        raise SettingsError(f"special must be one of {keys}; got {special!r}")
    if batch_size < 1:
        raise SettingsError(f"batch_size must be at least 1; got {batch_size}")


@dataclass(frozen=True, eq=False)
class Overview:
    """The reduced statistics. Model axis 0 = pre-trained, 1 = fine-tuned; layers are 0-based along their axis."""

    task: str
    base_ref: str
    tuned_ref: str
    source: str
    split: str
    settings: OverviewSettings
    js_mean: np.ndarray  # (L, H)
    js_std: np.ndarray  # (L, H)
    cross: np.ndarray  # (2, L, 2 from-segments A/B, 3 to: A, B, special); NaN where a segment is absent
    sinks: np.ndarray  # (2, L, H, 3): [CLS], [SEP], punctuation
    behaviour: np.ndarray  # (2, L, H, 5): previous, next, self, special, entropy
    examples: pd.DataFrame  # uid, text, text_pair, gold, prediction, confidence, correct, shift, n_tokens
    seconds: float
    forward_seconds: float
    sums: RunningSums | None = None  # what merging needs (None in files written before shards existed)
    shard: tuple[int, int] | None = None  # (i, k) for `overview --shard i/k`; None for a whole run
    # (L, H) mean head importance of the tuned model, and agreement.AgreementRow averaged over the examples
    # (present when settings.importance / settings.agreement asked for them)
    importance: np.ndarray | None = None
    agreement: tuple[Any, ...] | None = None
    # faithfulness.FaithfulnessSums over the examples (present when settings.faithfulness asked for it)
    faithfulness: Any = None

    @property
    def n_examples(self) -> int:
        return len(self.examples)

    def layer_change(self) -> np.ndarray:
        """(L,) mean JS divergence over the heads of each layer."""
        return self.js_mean.mean(axis=1)

    def accuracy(self) -> float | None:
        """The fine-tuned model's accuracy over the labelled examples (None when none is labelled)."""
        known = self.examples["correct"].dropna()
        return float(known.astype(float).mean()) if len(known) else None


def behaviour_labels(stats: np.ndarray) -> np.ndarray:
    """(..., 5) behaviour statistics -> (...) label strings by ``BEHAVIOUR_RULE``."""
    out = np.full(stats.shape[:-1], "mixed", dtype=object)
    prev, nxt, self_, special, entropy = (stats[..., k] for k in range(5))
    out[entropy >= BROAD_ENTROPY] = "broad"
    out[self_ >= LABEL_SHARE] = "self"
    out[nxt >= LABEL_SHARE] = "next token"
    out[prev >= LABEL_SHARE] = "previous token"
    out[special >= LABEL_SHARE] = "[CLS]/[SEP] sink"
    return out


def layer_reading(ov: Overview) -> str:
    """One sentence on whether the last layers changed most (Kovaleva et al. 2019) on this data."""
    change = ov.layer_change()
    n_layers = change.size
    order = np.argsort(-change)
    top = int(order[0]) + 1
    last_third = change[-max(1, n_layers // 3) :].mean()
    rest = change[: -max(1, n_layers // 3)].mean() if n_layers > 1 else last_third
    verdict = "holds here" if last_third > rest else "does not hold here"
    return (
        f"Layer {top} changed most (mean JS {change[order[0]]:.3f}). The last third of the layers averages "
        f"{last_third:.3f} against {rest:.3f} for the others, so 'fine-tuning changes the last layers most' "
        f"(Kovaleva et al. 2019) {verdict}."
    )


# ---------------------------------------------------------------- per-example statistics (pure numpy)


def example_stats(
    attn: np.ndarray, segments: Sequence[int], special: Sequence[int], punct: Sequence[int], mode: str
) -> dict[str, np.ndarray]:
    """Statistics of one model on one example: attn (L, H, m, m) -> sums to accumulate.

    Returns ``cross`` (L, 2, 3) and ``cross_count`` (2,) query tokens per segment, ``sinks`` (L, H, 3) as means
    over query rows, ``behaviour`` (L, H, 5) as means over query rows; and, for ``shift_from_stats``, the attention
    after the special-token treatment ``treated`` (L, H, m, m), its row entropies ``row_entropy`` (L, H, m) in nats
    and the query ``rows`` (m,) that count.
    """
    raw = np.asarray(attn, dtype=np.float64)
    m = raw.shape[-1]
    seg = np.asarray(segments)
    is_special = np.zeros(m, dtype=bool)
    is_special[list(special)] = True
    cls = np.zeros(m, dtype=bool)
    cls[0] = bool(is_special[0])
    sep = is_special & ~cls
    pun = np.zeros(m, dtype=bool)
    pun[list(punct)] = True
    sinks = np.stack(
        [raw[..., cls].sum(-1).mean(-1), raw[..., sep].sum(-1).mean(-1), raw[..., pun].sum(-1).mean(-1)],
        axis=-1,
    )
    hides = SPECIAL_MODES.get(mode).hides
    a = special_attention(raw, list(special), mode) if hides else raw
    rows = ~is_special if hides and (~is_special).any() else np.ones(m, dtype=bool)
    idx = np.arange(m)
    prev = np.where(idx > 0, a[..., idx, np.maximum(idx - 1, 0)], 0.0)
    nxt = np.where(idx < m - 1, a[..., idx, np.minimum(idx + 1, m - 1)], 0.0)
    self_ = a[..., idx, idx]
    spec = a[..., is_special].sum(-1)
    row_entropy = -xlogx(a).sum(-1)
    ent = row_entropy / np.log(max(m, 2))
    behaviour = np.stack([x[..., rows].mean(-1) for x in (prev, nxt, self_, spec, ent)], axis=-1)
    cross = np.zeros((raw.shape[0], 2, 3))
    count = np.zeros(2)
    a_mean = a.mean(axis=1)  # (L, m, m): mean over heads, once for both segments
    for s in (0, 1):
        q = (seg == s) & ~is_special
        if not q.any():
            continue
        count[s] = q.sum()
        mean_heads = a_mean[:, q, :]  # (L, |q|, m)
        cross[:, s, 0] = mean_heads[..., (seg == 0) & ~is_special].sum(-1).sum(-1)
        cross[:, s, 1] = mean_heads[..., (seg == 1) & ~is_special].sum(-1).sum(-1)
        cross[:, s, 2] = mean_heads[..., is_special].sum(-1).sum(-1)
    return {
        "cross": cross,
        "cross_count": count,
        "sinks": sinks,
        "behaviour": behaviour,
        "treated": a,
        "row_entropy": row_entropy,
        "rows": rows,
    }


def shift_from_stats(stats_base: dict[str, np.ndarray], stats_tuned: dict[str, np.ndarray]) -> np.ndarray:
    """``example_shift`` from the two models' ``example_stats`` of one example: (L, H).

    JS(p, q) = H(m) − (H(p) + H(q)) / 2 with m = (p + q) / 2, for rows that sum to 1 (``keep`` and
    ``renormalise`` both give such rows); the row entropies H(p), H(q) are already in the stats, so only H(m) is
    computed here. This is what keeps the overview's time outside the forward passes low.
    """
    rows = stats_base["rows"]
    mix = 0.5 * (stats_base["treated"][..., rows, :] + stats_tuned["treated"][..., rows, :])
    h_mix = -xlogx(mix).sum(-1)
    own = 0.5 * (stats_base["row_entropy"][..., rows] + stats_tuned["row_entropy"][..., rows])
    return np.clip((h_mix - own) / np.log(2.0), 0.0, 1.0).mean(-1)


def example_shift(
    attn_base: np.ndarray, attn_tuned: np.ndarray, special: Sequence[int], mode: str
) -> np.ndarray:
    """(L, H) mean-over-query-tokens JS divergence of one example (rows of specials left out when hiding them)."""
    treatment = SPECIAL_MODES.get(mode)
    m = attn_base.shape[-1]
    rows = np.ones(m, dtype=bool)
    if treatment.hides:
        rows[list(special)] = False
        if not rows.any():
            rows[:] = True
    if not treatment.hides:  # nothing to treat: skip special_attention's copy
        a, b = attn_base, attn_tuned
    else:
        a = special_attention(attn_base, list(special), mode)
        b = special_attention(attn_tuned, list(special), mode)
    rows_are_distributions = not treatment.hides or treatment.renormalises
    return js_divergence(a[..., rows, :], b[..., rows, :], normalised=rows_are_distributions).mean(-1)


# ---------------------------------------------------------------- streaming computation


def cache_key(
    base_ref: str,
    tuned_ref: str,
    task: str,
    source: str,
    split: str,
    settings: OverviewSettings,
    tuned_labels: tuple[str, ...] | None = None,
) -> str:
    """The disk-cache key of an overview: the models (with a fingerprint of their files, so a retrained adapter is
    not served stale results), the tuned model's label names, the data and the settings."""
    from attnflow_core.models import model_fingerprint

    blob = json.dumps(
        [
            model_fingerprint(base_ref),
            model_fingerprint(tuned_ref),
            list(tuned_labels or ()),
            task,
            source,
            split,
            asdict(settings),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _example_row(e: Any, shift: float, n_tokens: int) -> dict[str, Any]:
    """The overview table's row of example ``e`` (a ``data.sources.Example``) before its prediction columns."""
    return {
        "uid": e.uid,
        "text": e.text,
        "text_pair": e.text_pair,
        "gold": e.label or "",
        "shift": shift,
        "n_tokens": n_tokens,
    }


def _encode_all(tok: Any, exs: Sequence[Any], limit: int) -> list[Any]:
    """Each example tokenised once (truncated to ``limit`` tokens), with its special-tokens mask."""
    return [
        tok(e.text, e.text_pair, truncation=True, max_length=limit, return_special_tokens_mask=True)
        for e in exs
    ]


@dataclass(frozen=True, eq=False)
class _Batch:
    """One padded batch through both models: what each captured (attention (B, L, H, n, n), value norms when
    asked for) and the fine-tuned model's class probabilities (B, C) (None without a classification head)."""

    base: Captured
    tuned: Captured
    probs: np.ndarray | None
    padded: Any
    seconds: float


def _capture(settings: OverviewSettings) -> Capture:
    """What the batched forward pass records for ``settings``: the measure's needs, every measure's for the
    faithfulness table (its layer reruns run per example, not in the batch)."""
    return Capture.of(settings.measure, *(MEASURES.keys() if settings.faithfulness else ()))


def _forward(pair: Any, tok: Any, encodings: list[Any], settings: OverviewSettings, device: Any) -> _Batch:
    """Both models on one length-bucketed batch; value norms captured when the measure (or the agreement or the
    faithfulness table, which report every measure) needs them, and the layer internals when ``_capture`` says."""
    wide = settings.agreement or settings.faithfulness
    want_norms = VALUE_NORMS in settings.measure.needs or settings.faithfulness
    internals = _capture(settings).internals
    feats = [{k: e[k] for k in ("input_ids", "token_type_ids", "attention_mask")} for e in encodings]
    padded = tok.pad(feats, return_tensors="pt").to(device)
    t0 = time.perf_counter()
    att_b, _, vn_b, in_b = forward_internals(pair.base, padded, want_norms, internals)
    att_t, probs, vn_t, in_t = forward_internals(pair.tuned, padded, want_norms or wide, internals)
    # forward_internals copies to the CPU, so GPU work is finished here
    return _Batch(
        Captured(att_b, vn_b, in_b), Captured(att_t, vn_t, in_t), probs, padded, time.perf_counter() - t0
    )


def _example(
    tok: Any,
    enc: Any,
    e: Any,
    att_b: np.ndarray,
    att_t: np.ndarray,
    probs: np.ndarray | None,
    pair: Any,
    mode: str,
) -> tuple[RunningSums, dict[str, Any]]:
    """One example's statistics (its ``RunningSums`` part) and its row of the example table, from both models'
    measured attention (L, H, m, m) without padding."""
    m = len(enc["input_ids"])
    special = [p for p, s in enumerate(enc["special_tokens_mask"]) if s]
    punct = [p for p, t in enumerate(tok.convert_ids_to_tokens(enc["input_ids"])) if t in PUNCTUATION]
    segs = enc.get("token_type_ids") or [0] * m
    stats = [example_stats(att, segs, special, punct, mode) for att in (att_b, att_t)]
    shift = shift_from_stats(stats[0], stats[1])
    row = _example_row(e, float(shift.mean()), m)
    if probs is not None and pair.tuned.label_names is not None:
        label = pair.tuned.label_names[int(probs.argmax())]
        row.update(prediction=label, confidence=float(probs.max()), correct=is_correct(label, e.label))
    else:
        row.update(prediction="", confidence=float("nan"), correct=None)
    return RunningSums.of_example(shift, stats), row


def _example_agreement(tok: Any, enc: Any, tuned: Any, captured: Captured, k: int) -> list[Any]:
    """The agreement rows of the batch's k-th example (``agreement.example_agreement``, on its raw attention)."""
    from attnflow_core.agreement import example_agreement

    m = len(enc["input_ids"])
    special = [p for p, s in enumerate(enc["special_tokens_mask"]) if s]
    return example_agreement(
        tuned.model,
        enc["input_ids"],
        enc.get("token_type_ids") or [0] * m,
        special,
        captured.attn[k, :, :, :m, :m],
        tok.pad_token_id or 0,
        vnorm=None if captured.vnorm is None else captured.vnorm[k, :, :, :m],
    )


def compute_overview(
    pair: Any,
    examples: Sequence[Any],
    task: str,
    settings: OverviewSettings,
    source: str = "",
    split: str = "",
    progress: Callable[[float, str], None] | None = None,
) -> Overview:
    """Run both models over ``examples`` (``data.sources.Example``; the first ``settings.n``) and reduce as they
    stream. The statistics are computed under ``settings.measure``, or under the raw weights when these models'
    forward pass cannot capture what it needs (``measures.measure_for``; the result's settings record it)."""
    from attnflow_core.device import batch_size_for, model_device

    exs = list(examples)[: settings.n]
    if not exs:
        raise DataError("no examples to summarise: pick a source and split with at least one example")
    tok = pair.tokenizer
    enc_all = _encode_all(tok, exs, min(settings.max_length, pair.max_length))
    order = sorted(range(len(exs)), key=lambda i: len(enc_all[i]["input_ids"]))
    sums: RunningSums | None = None  # shaped by the first example: H heads, or 1 for a measure without heads
    rows: list[dict[str, Any]] = [{} for _ in exs]
    imp_sum = np.zeros((pair.base.num_layers, pair.base.num_heads))
    agree_rows: list[Any] = []
    faith = _faithfulness_sums()
    report = progress or (lambda _f, _m: None)
    t0, t_forward, measure = time.perf_counter(), 0.0, settings.measure
    device = model_device(pair.base.model)
    step = batch_size_for(device, settings.batch_size)  # larger length-bucketed batches on a GPU
    for start in range(0, len(order), step):
        batch = order[start : start + step]
        fwd = _forward(pair, tok, [enc_all[i] for i in batch], settings, device)
        t_forward += fwd.seconds
        if settings.importance:
            from attnflow_core.importance import batch_importance

            imp_sum += batch_importance(pair.tuned, dict(fwd.padded), [exs[i].label for i in batch]).sum(0)
        # the one policy (``measures``); a measure's layer reruns run per example below
        measure = measure_for(measure_for(measure, fwd.base, True), fwd.tuned, True)
        for k, i in enumerate(batch):
            m = len(enc_all[i]["input_ids"])
            cap_b, cap_t = (_measured(c.example(k, m), loaded, measure) for c, loaded in _sides(fwd, pair))
            probs = None if fwd.probs is None else fwd.probs[k]
            part, rows[i] = _example(
                tok,
                enc_all[i],
                exs[i],
                measure_attention(cap_b, measure),
                measure_attention(cap_t, measure),
                probs,
                pair,
                settings.special,
            )
            sums = part if sums is None else sums + part
            if settings.agreement:
                agree_rows.append(_example_agreement(tok, enc_all[i], pair.tuned, fwd.tuned, k))
            if settings.faithfulness:
                faith = faith + _example_faithfulness(pair, enc_all[i], cap_b, cap_t, exs[i].uid)
        done = start + len(batch)
        eta = (time.perf_counter() - t0) / done * (len(exs) - done)
        report(done / len(exs), f"{done}/{len(exs)} examples · about {eta:.0f} s left")
    assert sums is not None  # at least one example
    return Overview(
        task=task,
        base_ref=pair.base.ref,
        tuned_ref=pair.tuned.ref,
        source=source,
        split=split,
        settings=replace(settings, measure=measure),
        examples=pd.DataFrame(rows),
        seconds=time.perf_counter() - t0,
        forward_seconds=t_forward,
        sums=sums,
        **sums.statistics(),
        importance=imp_sum / len(exs) if settings.importance else None,
        agreement=tuple(_mean_agreement(agree_rows)) if settings.agreement else None,
        faithfulness=faith if settings.faithfulness else None,
    )


def _sides(fwd: _Batch, pair: Any) -> tuple[tuple[Captured, Any], tuple[Captured, Any]]:
    return (fwd.base, pair.base), (fwd.tuned, pair.tuned)


def _measured(captured: Captured, loaded: Any, measure: Measure) -> Captured:
    """One example's capture with ``measure``'s layer reruns (value zeroing) run on its model (``loaded``)."""
    return with_reruns(captured, loaded.model, (measure,)) if measure.rerun is not None else captured


def _faithfulness_sums() -> Any:
    from attnflow_core.faithfulness import FaithfulnessSums

    return FaithfulnessSums()


def _example_faithfulness(pair: Any, enc: Any, cap_b: Captured, cap_t: Captured, uid: str) -> Any:
    """One example's ``faithfulness.FaithfulnessSums`` from both models' captures (the random floor seeded by the
    example's id, so that a run and its shards agree exactly)."""
    import zlib

    from attnflow_core.faithfulness import capture_faithfulness

    m = len(enc["input_ids"])
    special = [p for p, s in enumerate(enc["special_tokens_mask"]) if s]
    segs = enc.get("token_type_ids") or [0] * m
    seed = zlib.crc32(str(uid).encode())
    return capture_faithfulness(
        pair, enc["input_ids"], segs, special, {"base": cap_b, "tuned": cap_t}, seed=seed
    )


def _mean_agreement(per_example: list[Any]) -> list[Any]:
    from attnflow_core.agreement import mean_agreement

    return mean_agreement(per_example)


# ---------------------------------------------------------------- files and cache


_ARRAYS = ("js_mean", "js_std", "cross", "sinks", "behaviour")


def _meta(ov: Overview) -> dict[str, Any]:
    return {
        "schema": "attnflow.overview/1",
        "task": ov.task,
        "base_ref": ov.base_ref,
        "tuned_ref": ov.tuned_ref,
        "source": ov.source,
        "split": ov.split,
        "settings": asdict(ov.settings),
        "seconds": ov.seconds,
        "forward_seconds": ov.forward_seconds,
        "arrays": {k: np.asarray(getattr(ov, k)).tolist() for k in _ARRAYS},
        **({"sums": ov.sums.to_json()} if ov.sums is not None else {}),
        **({"shard": list(ov.shard)} if ov.shard is not None else {}),
        **_extra_meta(ov),
    }


def _extra_meta(ov: Overview) -> dict[str, Any]:
    """Optional keys: ``importance`` (L×H mean head importance), ``agreement`` (rows of mean ρ) and
    ``faithfulness`` (``FaithfulnessSums.to_json``: sums and counts, so that shard files merge exactly)."""
    from attnflow_core.agreement import agreement_table

    out: dict[str, Any] = {}
    if ov.importance is not None:
        out["importance"] = np.asarray(ov.importance).tolist()
    if ov.agreement is not None:
        out["agreement"] = agreement_table(ov.agreement)
    if ov.faithfulness is not None:
        out["faithfulness"] = ov.faithfulness.to_json()
    return out


class OverviewFileError(AttnflowError, ValueError):
    """An overview file cannot be read or written; the message names the problem and the fix."""


#: The example table's columns (see ``Overview.examples``).
EXAMPLE_COLUMNS = (
    "uid",
    "text",
    "text_pair",
    "gold",
    "prediction",
    "confidence",
    "correct",
    "shift",
    "n_tokens",
)
_LOG = logging.getLogger(__name__)


def save_overview(ov: Overview, path: str | Path) -> Path:
    """Write to .json (everything) or .parquet (the example table, with the statistics in its metadata), atomically
    (a temporary file renamed into place, so a full disk never leaves a truncated file); WriteError if it cannot."""
    path = Path(path)
    meta = _meta(ov)
    if path.suffix == ".json":
        meta["examples"] = json.loads(ov.examples.to_json(orient="records"))
        text = json.dumps(meta)
        atomic_write(path, lambda tmp: tmp.write_text(text))
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(ov.examples, preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"attnflow": json.dumps(meta)}
        )
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    else:
        raise OverviewFileError(f"overview files end in .json or .parquet; got {path.name}")
    return path


def _check_overview(meta: dict[str, Any], examples: pd.DataFrame, arrays: dict[str, np.ndarray]) -> None:
    """Refuse a file this app could not have written: unknown task, non-string refs, no examples, a missing
    example column, or statistics whose shapes disagree (L layers × H heads throughout)."""
    from attnflow_core.data.tasks import TASKS

    if meta["task"] not in TASKS:
        raise OverviewFileError(f"the file's task {meta['task']!r} is not one of {', '.join(TASKS)}")
    for key in ("base_ref", "tuned_ref", "source", "split"):
        if not isinstance(meta[key], str):
            raise OverviewFileError(f"the file's {key} must be a string; got {meta[key]!r}")
    if len(examples) == 0:
        raise OverviewFileError("the file has no examples; compute an overview over at least one example")
    missing = [c for c in EXAMPLE_COLUMNS if c not in examples.columns]
    if missing:
        raise OverviewFileError(f"the file's example table lacks column(s) {', '.join(missing)}")
    js = arrays["js_mean"]
    if js.ndim != 2 or 0 in js.shape:
        raise OverviewFileError(f"the file's js_mean must be layers × heads; its shape is {js.shape}")
    n_layers, n_heads = js.shape
    expected = {
        "js_std": (n_layers, n_heads),
        "cross": (2, n_layers, 2, 3),
        "sinks": (2, n_layers, n_heads, 3),
        "behaviour": (2, n_layers, n_heads, len(STAT_NAMES)),
    }
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise OverviewFileError(
                f"the file's {key} has shape {arrays[key].shape}, not {shape} ({n_layers} layers × {n_heads} heads)"
            )


def _overview_bytes(source: str | Path | bytes, limits: OverviewLimits) -> bytes:
    """The file's bytes (a path, or the bytes of an upload), refused before reading when over ``file_bytes``."""
    if isinstance(source, bytes):
        size = len(source)
    else:
        path = Path(source)
        if not path.exists():
            raise OverviewFileError(f"no such file: {path}")
        if not path.is_file():
            raise OverviewFileError(
                f"{path} is not a regular file; give the path of a .json or .parquet overview"
            )
        size = path.stat().st_size
    if size > limits.file_bytes:
        raise OverviewFileError(
            f"the overview file is {size:,} bytes, over the limit of {size_text(limits.file_bytes)}; compute "
            "the overview over fewer examples, or save it as .parquet (smaller than .json)"
        )
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def _json_blob(data: bytes | str, limits: OverviewLimits, what: str) -> Any:
    """``json.loads`` of ``data`` after counting its values from the raw bytes (every value but the first follows
    a comma or opens an object or list), so a file of many tiny values cannot build gigabytes of Python objects."""
    raw = data.encode() if isinstance(data, str) else data
    values = raw.count(b",") + raw.count(b"{") + raw.count(b"[")
    if values > limits.json_values:
        raise OverviewFileError(
            f"the overview's {what} holds about {values:,} JSON values, over the limit of {limits.json_values:,}; "
            "compute the overview over fewer examples, or save it as .parquet"
        )
    return json.loads(raw)


def _read_json_overview(data: bytes, limits: OverviewLimits) -> tuple[dict[str, Any], pd.DataFrame]:
    meta = _json_blob(data, limits, "file")
    rows = meta.pop("examples")
    if not isinstance(rows, list):
        raise OverviewFileError("the file's examples must be a list of rows")
    if len(rows) > limits.examples:
        raise OverviewFileError(_too_many_examples(len(rows), limits))
    return meta, pd.DataFrame(rows)


def _read_parquet_overview(data: bytes, limits: OverviewLimits) -> tuple[dict[str, Any], pd.DataFrame]:
    """The metadata and example table of a Parquet overview, decoded within ``limits`` (``read_parquet_batches``:
    rows from the footer, the decoded size counted batch by batch)."""
    import io

    import pyarrow as pa

    from attnflow_core.data.files import FileLimitError, read_parquet_batches

    try:
        schema, batches = read_parquet_batches(
            io.BytesIO(data), max_rows=limits.examples, max_decoded=limits.text_bytes
        )
    except FileLimitError as err:
        raise OverviewFileError(f"this overview file is too large to open: {err}") from None
    blob = (schema.metadata or {})[b"attnflow"]
    meta = _json_blob(blob, limits, "metadata")
    table = pa.Table.from_batches(batches) if batches else schema.empty_table()
    columns = [
        pa.chunked_array([c.dictionary_decode() for c in col.chunks], type=col.type.value_type)
        if pa.types.is_dictionary(col.type)
        else col
        for col in table.columns
    ]
    return meta, pa.table(columns, names=table.column_names).to_pandas()


def _too_many_examples(n: int, limits: OverviewLimits) -> str:
    return (
        f"the overview file holds {n:,} examples, over the limit of {limits.examples:,}; compute overviews of at "
        f"most {limits.examples:,} examples"
    )


def check_overview_limits(
    examples: pd.DataFrame, arrays: dict[str, np.ndarray], limits: OverviewLimits = OVERVIEW_LIMITS
) -> None:
    """Refuse a file whose contents are over ``limits``: more examples than ``examples``, an example of more than
    ``tokens`` tokens (or a non-numeric ``n_tokens``), a model of more than ``layers`` layers or ``heads`` heads.
    (The size limits are checked while reading; ``overview_checks.check_overview_contents`` checks the values.)"""
    if len(examples) > limits.examples:
        raise OverviewFileError(_too_many_examples(len(examples), limits))
    if "n_tokens" in examples.columns and len(examples):
        tokens = pd.to_numeric(examples["n_tokens"], errors="coerce")
        if tokens.isna().any() or not (tokens.min() >= 0 and tokens.max() <= limits.tokens):
            raise OverviewFileError(
                f"the file's n_tokens must be token counts from 0 to {limits.tokens}; got values from "
                f"{examples['n_tokens'].min()!r} to {examples['n_tokens'].max()!r}"
            )
    js = arrays.get("js_mean")
    if js is not None and js.ndim == 2 and (js.shape[0] > limits.layers or js.shape[1] > limits.heads):
        raise OverviewFileError(
            f"the file's statistics are for {js.shape[0]} layers × {js.shape[1]} heads, over the limit of "
            f"{limits.layers} × {limits.heads}"
        )


def load_overview(
    source: str | Path | bytes, filename: str | None = None, limits: OverviewLimits = OVERVIEW_LIMITS
) -> Overview:
    """Read and validate a file written by ``save_overview`` (a path, or the bytes of an upload with its file
    name); anything else raises ``OverviewFileError`` naming the problem. Its ``base_ref``/``tuned_ref`` are only
    data: check them (``models.is_registered_ref``) before loading them.

    The file is read within ``limits`` (``OverviewLimits``): its size before it is read, the JSON values before
    they are parsed, a Parquet file's rows from its footer and its decoded size while decoding, then the contents
    (``check_overview_limits``), so a small crafted file cannot make the reader build gigabytes. Every field is
    then checked for what this app writes (``overview_checks``: shapes, finiteness, ranges, types), so a file of
    NaN, words or another model's shapes is refused naming its first bad field."""
    name = filename or (str(source) if not isinstance(source, bytes) else "")
    if not name.endswith(OVERVIEW_SUFFIXES):
        raise OverviewFileError(f"overview files end in .json or .parquet; got {name or 'no name'}")
    try:
        data = _overview_bytes(source, limits)
        reader = _read_json_overview if name.endswith(".json") else _read_parquet_overview
        meta, examples = reader(data, limits)
        if meta.get("schema") != "attnflow.overview/1":
            raise OverviewFileError(
                "this file is not an Attention Flows overview (schema attnflow.overview/1)"
            )
        from attnflow_core.overview_checks import check_overview_contents, overview_arrays

        arrays = overview_arrays(meta)  # every field named when it is not an array of numbers
        check_overview_limits(examples, arrays, limits)
        _check_overview(meta, examples, arrays)
        check_overview_contents(meta, examples, arrays)  # shapes, ranges and types of every other field
        return Overview(
            task=meta["task"],
            base_ref=meta["base_ref"],
            tuned_ref=meta["tuned_ref"],
            source=meta["source"],
            split=meta["split"],
            # files written before the measure existed were computed on the raw weights
            settings=OverviewSettings(**{"measure": RAW_WEIGHTS, **meta["settings"]}).validate(),
            examples=examples,
            seconds=float(meta["seconds"]),
            forward_seconds=float(meta["forward_seconds"]),
            sums=RunningSums.from_json(meta["sums"]) if meta.get("sums") else None,
            shard=(int(meta["shard"][0]), int(meta["shard"][1])) if meta.get("shard") else None,
            importance=np.asarray(meta["importance"], dtype=np.float64) if "importance" in meta else None,
            agreement=_load_agreement(meta.get("agreement")),
            faithfulness=_load_faithfulness(meta.get("faithfulness")),
            **arrays,
        )
    except OverviewFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OSError) as err:
        raise OverviewFileError(
            f"this file is not a readable Attention Flows overview ({err.__class__.__name__}: {err}); "
            "save it again from the Dataset overview page or the overview command"
        ) from err


def read_cached_overview(path: str | Path) -> Overview | None:
    """The cache entry at ``path``, or None when it is missing or unreadable (a truncated or corrupt entry is logged
    and removed, so the caller computes it again)."""
    path = Path(path)
    try:
        return load_overview(path)
    except OverviewFileError as err:
        if path.exists():
            _LOG.warning("overview cache entry %s is unreadable, recomputing it: %s", path, err)
            path.unlink(missing_ok=True)
        return None


def _load_agreement(rows: list[dict[str, Any]] | None) -> tuple[Any, ...] | None:
    from attnflow_core.agreement import AgreementRow

    if rows is None:
        return None
    return tuple(
        AgreementRow(r["method"], r["measure"], r["saliency"], float(r["rho"]), int(r["n"])) for r in rows
    )


def _load_faithfulness(blob: dict[str, Any] | None) -> Any:
    from attnflow_core.faithfulness import FaithfulnessSums

    return None if blob is None else FaithfulnessSums.from_json(blob)


def cached_path(key: str) -> Path:
    from attnflow_core.paths import cache_dir

    return cache_dir("overview") / f"{key}.json"
