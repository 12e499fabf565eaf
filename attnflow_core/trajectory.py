"""When did attention change? The checkpoints of a fine-tuning run compared, one by one, with the pre-trained model.

For N examples and every checkpoint of a counterpart (``models.list_checkpoints``; ``attnflow_core.checkpoints``):

- **accuracy**: the held-out accuracy recorded at training, and the accuracy on the N examples;
- **change**: each head's change from the pre-trained model, the mean over the N examples of the Jensen–Shannon
  divergence between the two models' attention (mean over query tokens): the overview's change map, computed by
  the overview's own functions (``overview.example_stats``, ``overview.shift_from_stats``), so the final
  checkpoint's map equals ``compute_overview``'s ``js_mean`` (a test checks it);
- **importance**: each head's importance for the checkpoint's prediction (``importance.batch_importance``, Michel et
  al. 2019), averaged over the N examples;
- **focus**: the share of the flow from [CLS] (``flows.flow_scores``, rollout by default) that reaches chosen
  tokens, out of the flow into all non-special tokens, averaged over the examples that have such tokens; the
  tokens are chosen per task by ``focus_mask`` (``FOCUS_RULES``); ``focus_base`` is the pre-trained model's and
  ``focus_uniform`` the chosen tokens' share of the non-special tokens (what a uniform flow would give);
- **faithfulness**: reserved for issue 17's faithfulness ranking per checkpoint (None until it lands; see the
  hook in ``_checkpoint_pass``).

Everything is computed under ``settings.measure`` and ``settings.special``, as in the overview. The pre-trained
side runs once (its per-example statistics are kept: N × L × H × m² floats); each checkpoint's fine-tuned side
once, so the cost is at most K × the fine-tuned half of one overview (``benchmarks/bench_trajectory.py``).

``trajectory_reading`` says in plain words which heads changed first and whether attention changed before or after
accuracy rose; ``save_trajectory``/``load_trajectory`` write and read the ``attnflow.trajectory/1`` JSON file the
CLI (``overview --trajectory``) writes and the page reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from attnflow_core.checkpoints import Checkpoint
from attnflow_core.data.errors import DataError
from attnflow_core.data.tasks import TASKS, get_task, is_correct
from attnflow_core.errors import AttnflowError, SettingsError
from attnflow_core.extract import forward_batch
from attnflow_core.flows import SPECIAL_MODES, SpecialMode
from attnflow_core.measures import (
    DEFAULT_MEASURE,
    MEASURES,
    VALUE_NORMS,
    Captured,
    Measure,
    measure_attention,
    measure_for,
)
from attnflow_core.methods import METHODS, Method, flow_scores
from attnflow_core.overview import (
    OVERVIEW_LIMITS,
    PUNCTUATION,
    _encode_all,
    check_run_settings,
    example_stats,
    shift_from_stats,
)
from attnflow_core.paths import atomic_write

SCHEMA = "attnflow.trajectory/1"
#: What ``focus_mask`` chooses, per task (written on the page and in the file).
FOCUS_RULES: dict[str, str] = {
    "sentiment": "the sentiment words: words of the VADER lexicon with |valence| >= 1 (Hutto & Gilbert 2014)",
    "qa": "the answer sentence: the tokens of segment B (the sentence that may answer the question)",
    "nli": "the hypothesis: the tokens of segment B",
}
#: The focus tokens in a few words, per task (figure titles and captions).
FOCUS_NAMES: dict[str, str] = {
    "sentiment": "the sentiment words",
    "qa": "the answer sentence",
    "nli": "the hypothesis",
}
#: The share of its final value a curve must reach for ``half_point`` (50 %).
HALF = 0.5
#: How many heads the reading names.
FIRST_HEADS = 3


class TrajectoryFileError(AttnflowError, ValueError):
    """A trajectory file cannot be read; the message names the problem and the fix."""


@dataclass(frozen=True)
class TrajectorySettings:
    """How a trajectory is computed; the defaults are the CLI's and the page's. Valid by construction, as
    ``overview.OverviewSettings``: names become registry entries, and a value out of range is a SettingsError
    naming the fix."""

    n: int = 24  # the page's default and the shipped trajectories' (``shipped_trajectory``)
    max_length: int = 128
    special: SpecialMode = SPECIAL_MODES.default  # one of overview.OVERVIEW_SPECIAL_MODES
    batch_size: int = 16
    measure: Measure = DEFAULT_MEASURE
    method: Method = METHODS.get("rollout")  # the flow method of the focus score
    importance: bool = True  # each checkpoint's head importance (one backward pass per batch)

    def __post_init__(self) -> None:
        object.__setattr__(self, "special", SPECIAL_MODES.get(self.special))
        object.__setattr__(self, "measure", MEASURES.get(self.measure))
        object.__setattr__(self, "method", METHODS.get(self.method))
        self.validate()

    def validate(self) -> TrajectorySettings:
        """Self, when every number is in range and the special-token mode is one an overview supports."""
        check_run_settings(self.n, self.max_length, self.special, self.batch_size)
        return self


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The per-checkpoint statistics (K checkpoints by step, L layers and H heads, 0-based)."""

    task: str
    base_ref: str
    tuned_ref: str  # the fine-tuned run (its final checkpoint's reference)
    source: str
    split: str
    settings: TrajectorySettings
    refs: tuple[str, ...]  # (K,) each checkpoint's model reference
    checkpoints: tuple[Checkpoint, ...]  # (K,) the training records (step, fraction, loss, held-out accuracy)
    uids: tuple[str, ...]  # (N,) the examples
    accuracy: np.ndarray  # (K,) accuracy on the N examples (nan without gold labels)
    change: np.ndarray  # (K, L, H) mean JS divergence from the pre-trained model
    importance: np.ndarray | None  # (K, L, H) mean head importance (None unless settings.importance)
    focus: np.ndarray  # (K,) mean share of the [CLS] flow reaching the focus tokens (nan: no example has any)
    focus_base: float  # the pre-trained model's focus share
    focus_uniform: float  # the focus tokens' mean share of the non-special tokens
    focus_examples: int  # examples with at least one focus token
    seconds: float
    base_seconds: float  # the pre-trained side (once)
    checkpoint_seconds: tuple[float, ...]  # (K,) each checkpoint's side, loading included
    faithfulness: tuple[Any, ...] | None = None  # issue 17: the faithfulness ranking per checkpoint

    @property
    def steps(self) -> np.ndarray:
        """(K,) the checkpoints' training steps."""
        return np.array([c.step for c in self.checkpoints])

    @property
    def heldout_accuracy(self) -> np.ndarray:
        """(K,) the held-out accuracy recorded at training (nan where none was recorded)."""
        return np.array([np.nan if c.eval_accuracy is None else c.eval_accuracy for c in self.checkpoints])

    @property
    def mean_change(self) -> np.ndarray:
        """(K,) the change averaged over all heads."""
        return np.asarray(self.change).mean(axis=(1, 2))

    @property
    def layer_change(self) -> np.ndarray:
        """(K, L) the change averaged over each layer's heads (the layer × checkpoint heat strip)."""
        return np.asarray(self.change).mean(axis=2)

    def reading(self) -> str:
        return trajectory_reading(self)


@dataclass(frozen=True)
class TrajectoryRequest:
    """A trajectory to compute or show (the page's cache key): the pair's references and the tuned model's label
    names, the task, the data source and split, and the settings; the examples are the source's first
    ``settings.n``."""

    base: str
    tuned: str  # the fine-tuned run (its checkpoints: ``models.list_checkpoints``)
    labels: tuple[str, ...] | None
    task: str
    source: str
    split: str
    settings: TrajectorySettings

    def answered_by(self, t: Trajectory, uids: Sequence[str]) -> bool:
        """Whether ``t`` (a shipped or saved trajectory) is what this request computes over the examples
        ``uids``: the same models, task, source, settings and examples. (A file does not record label names:
        a request with its own ``labels`` is never answered by one.)"""
        return (
            self.labels is None
            and (t.base_ref, t.tuned_ref, t.task, t.source) == (self.base, self.tuned, self.task, self.source)
            and t.settings == self.settings
            and t.uids == tuple(uids)
        )


# ---------------------------------------------------------------- pure functions


def focus_mask(
    task: str,
    tokens: Sequence[str],
    segments: Sequence[int],
    special: Sequence[int],
    word_ids: Sequence[int | None],
    lexicon: frozenset[str] = frozenset(),
) -> np.ndarray:
    """(m,) bool: the tokens ``FOCUS_RULES[task]`` chooses in one example.

    Pair tasks: the non-special, non-punctuation tokens of segment B. Sentiment: every WordPiece of a word (the
    pieces of one ``word_ids`` group joined, ``##`` dropped, lower-cased) that is in ``lexicon``.
    """
    m = len(tokens)
    is_special = np.zeros(m, dtype=bool)
    is_special[list(special)] = True
    if get_task(task).is_pair:
        seg = np.asarray(segments, dtype=int)
        punct = np.array([t in PUNCTUATION for t in tokens], dtype=bool)
        return (seg == 1) & ~is_special & ~punct
    words: dict[int, str] = {}
    for t, wid in enumerate(word_ids):
        if wid is not None and not is_special[t]:
            piece = tokens[t][2:] if tokens[t].startswith("##") else tokens[t]
            words[wid] = words.get(wid, "") + piece
    return np.array(
        [
            wid is not None and not is_special[t] and words[wid].lower() in lexicon
            for t, wid in enumerate(word_ids)
        ],
        dtype=bool,
    )


def focus_share(scores: np.ndarray, focus: np.ndarray, special: np.ndarray) -> float:
    """The share of the flow into non-special tokens that reaches the focus tokens: scores (m,), focus (m,) bool,
    special (m,) bool -> float in [0, 1] (nan when no flow reaches a non-special token)."""
    s = np.asarray(scores, dtype=np.float64)
    total = s[~special].sum()
    return float(s[focus & ~special].sum() / total) if total > 0 else float("nan")


def half_point(curve: np.ndarray, baseline: float | None = None, share: float = HALF) -> int | None:
    """The first index k at which ``curve[k] - baseline`` reaches ``share`` of ``curve[-1] - baseline`` (the
    baseline defaults to ``curve[0]``): curve (K,) -> k, or None when the final value does not exceed the baseline
    (nothing rose) or the curve has a nan."""
    c = np.asarray(curve, dtype=np.float64)
    if c.size == 0 or not np.isfinite(c).all():
        return None
    base = float(c[0]) if baseline is None else float(baseline)
    gain = float(c[-1]) - base
    if gain <= 0:
        return None
    return int(np.flatnonzero(c - base >= share * gain - 1e-9)[0])  # 1e-9: 0.7 - 0.5 is 0.19999999999999996


def heads_changed_first(change: np.ndarray, k: int = FIRST_HEADS) -> list[tuple[int, int, int]]:
    """The k heads that changed first: (layer, head, checkpoint index) with 0-based layer and head.

    Among the heads whose final change is at least the mean final change (the heads fine-tuning changed, so a
    head that barely moved is not called "first" for reaching half of almost nothing), those whose change first
    reaches half its final value (``half_point`` from 0) at the earliest checkpoint; ties by larger final change.
    change (K, L, H).
    """
    c = np.asarray(change, dtype=np.float64)
    final = c[-1]
    found = []
    for layer, head in zip(*np.nonzero(final >= final.mean() - 1e-12), strict=True):
        at = half_point(c[:, layer, head], baseline=0.0)
        if at is not None:
            found.append((at, -final[layer, head], int(layer), int(head)))
    return [(layer, head, at) for at, _, layer, head in sorted(found)[:k]]


def crossing_step(steps: np.ndarray, curve: np.ndarray, baseline: float | None = None) -> float | None:
    """Where ``curve`` crosses half its final gain, interpolated linearly between the checkpoints around
    ``half_point``: steps (K,), curve (K,) -> a (fractional) step, or None as ``half_point``. An estimate: the
    curve between two checkpoints is not measured."""
    at = half_point(curve, baseline)
    if at is None or at == 0:
        return None if at is None else float(steps[0])
    c = np.asarray(curve, dtype=np.float64)
    base = float(c[0]) if baseline is None else float(baseline)
    target = base + HALF * (float(c[-1]) - base)
    lo, hi = float(c[at - 1]), float(c[at])
    share = (target - lo) / (hi - lo) if hi > lo else 1.0
    return float(steps[at - 1] + min(1.0, max(0.0, share)) * (steps[at] - steps[at - 1]))


def _at(t: Trajectory, k: int) -> str:
    c = t.checkpoints[k]
    return f"step {c.step} ({100 * c.fraction:.0f} % of training)"


def _names(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _order_clause(t: Trajectory, acc: np.ndarray, which: str) -> str:
    """The sentence comparing when attention changed (the mean change reaching half its final value) with when
    accuracy rose (``acc`` reaching half its final gain)."""
    change_at, acc_at = half_point(t.mean_change, baseline=0.0), half_point(acc)
    if change_at is None:
        return "Attention did not change measurably over training, so it cannot be ordered against accuracy."
    if acc_at is None:
        return (
            f"The mean change reached half its final value at {_at(t, change_at)}, but the {which} did not rise "
            "over training, so the two cannot be ordered."
        )
    if change_at != acc_at:
        return (
            f"Attention changed {'before' if change_at < acc_at else 'after'} accuracy rose: the mean change "
            f"reached half its final value at {_at(t, change_at)}, the {which} half its final gain at "
            f"{_at(t, acc_at)}."
        )
    if change_at == 0:
        return f"Attention and the {which} had both reached half their final change at the first checkpoint."
    steps = t.steps
    a, b = t.checkpoints[change_at - 1], t.checkpoints[change_at]
    x = crossing_step(steps, t.mean_change, 0.0)
    y = crossing_step(steps, acc)
    return (
        f"Attention changed and the {which} rose between the same two checkpoints, step {a.step} and step "
        f"{b.step} ({100 * a.fraction:.0f}–{100 * b.fraction:.0f} % of training), too far apart to tell which came "
        f"first; interpolating linearly, the mean change reached half its final value at about step {x:.0f} and "
        f"the {which} half its final gain at about step {y:.0f}."
    )


def trajectory_reading(t: Trajectory) -> str:
    """Plain sentences: which heads changed first, which layer first and most, and whether attention changed
    before or after accuracy rose (the checkpoint at which the mean change reaches half its final value against
    the one at which the accuracy reaches half its final gain; the held-out accuracy when it was recorded at
    every checkpoint, else the accuracy on the N examples)."""
    if len(t.checkpoints) < 2:
        return "A trajectory needs at least two checkpoints; this run recorded one."
    first = heads_changed_first(t.change)
    if first:
        groups = [
            f"{_names([f'L{layer + 1} H{head}' for layer, head, k in first if k == at])} by {_at(t, at)}"
            for at in sorted({k for *_, k in first})
        ]
        head_clause = (
            f"The heads that changed first (half their final change reached earliest): {'; '.join(groups)}."
        )
    else:
        head_clause = "No head's attention changed over training."
    layers = t.layer_change
    layer_at = [half_point(layers[:, i], baseline=0.0) for i in range(layers.shape[1])]
    known = [(a, i) for i, a in enumerate(layer_at) if a is not None]
    layer_clause = ""
    if known:
        earliest = min(a for a, _ in known)
        early = [str(i + 1) for a, i in known if a == earliest]
        most = int(np.argmax(layers[-1])) + 1
        layer_clause = (
            f" By layer, {'layers' if len(early) > 1 else 'layer'} {_names(early)} reached half "
            f"{'their' if len(early) > 1 else 'its'} final change first, by {_at(t, earliest)}; layer {most} changed "
            "most by the end."
        )
    held = t.heldout_accuracy
    which, acc = (
        ("held-out accuracy", held) if np.isfinite(held).all() else ("accuracy on these examples", t.accuracy)
    )
    return f"{head_clause}{layer_clause} {_order_clause(t, acc, which)}"


# ---------------------------------------------------------------- computation


@dataclass(frozen=True, eq=False)
class _Inputs:
    """One example, tokenised as the overview tokenises it, with what every checkpoint's pass needs."""

    features: dict[str, Any]  # input_ids, token_type_ids, attention_mask
    m: int
    segments: list[int]
    special: list[int]
    punct: list[int]
    special_mask: np.ndarray  # (m,) bool
    focus: np.ndarray  # (m,) bool


def _inputs(tok: Any, examples: Sequence[Any], task: str, limit: int) -> list[_Inputs]:
    lexicon: frozenset[str] = frozenset()
    if not get_task(task).is_pair:
        from attnflow_core.data.vader import sentiment_words

        lexicon = sentiment_words()
    out = []
    for enc in _encode_all(tok, examples, limit):
        m = len(enc["input_ids"])
        special = [p for p, s in enumerate(enc["special_tokens_mask"]) if s]
        tokens = tok.convert_ids_to_tokens(enc["input_ids"])
        segments = enc.get("token_type_ids") or [0] * m
        mask = np.zeros(m, dtype=bool)
        mask[special] = True
        out.append(
            _Inputs(
                features={k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")},
                m=m,
                segments=list(segments),
                special=special,
                punct=[p for p, t in enumerate(tokens) if t in PUNCTUATION],
                special_mask=mask,
                focus=focus_mask(task, tokens, segments, special, enc.word_ids(), lexicon),
            )
        )
    return out


@dataclass(frozen=True, eq=False)
class _Side:
    """One model's per-example results: the overview's statistics, the focus share, the prediction's correctness."""

    stats: list[dict[str, np.ndarray]]
    focus: np.ndarray  # (N,)
    correct: list[bool | None]
    importance: np.ndarray | None  # (L, H) summed over examples
    measure: (
        Measure  # the measure applied (``measures.measure_for``: the raw weights when norms are not captured)
    )


def _model_pass(
    model: Any,
    inputs: list[_Inputs],
    gold: list[str | None],
    settings: TrajectorySettings,
    tok: Any,
    with_importance: bool,
    keep_stats: bool,
    on_example: Callable[[int, dict[str, np.ndarray]], None] | None = None,
) -> _Side:
    """Run one model (a ``LoadedModel``) over every example in length-bucketed batches, as the overview does,
    under ``settings.measure`` or, when the forward pass cannot capture what it needs, under the raw weights (the one
    policy, ``measures.measure_for``; the result records which)."""
    from attnflow_core.device import batch_size_for, model_device

    order = sorted(range(len(inputs)), key=lambda i: inputs[i].m)
    device = model_device(model.model)
    step = batch_size_for(device, settings.batch_size)
    stats: list[dict[str, np.ndarray]] = [{} for _ in inputs]
    focus = np.full(len(inputs), np.nan)
    correct: list[bool | None] = [None] * len(inputs)
    imp = np.zeros((model.num_layers, model.num_heads)) if with_importance else None
    want_norms, measure = VALUE_NORMS in settings.measure.needs, settings.measure
    for start in range(0, len(order), step):
        batch = order[start : start + step]
        padded = tok.pad([inputs[i].features for i in batch], return_tensors="pt").to(device)
        raw, probs, vn = forward_batch(model, padded, with_norms=want_norms)
        captured = Captured(raw, vn)
        measure = measure_for(measure, captured)
        att = measure_attention(captured, measure)
        if imp is not None:
            from attnflow_core.importance import batch_importance

            imp += batch_importance(model, dict(padded), [gold[i] for i in batch]).sum(0)
        for k, i in enumerate(batch):
            x = inputs[i]
            st = example_stats(att[k, :, :, : x.m, : x.m], x.segments, x.special, x.punct, settings.special)
            scores = flow_scores(
                st["treated"], settings.method, source=0, residual=not measure.includes_residual
            )
            if x.focus.any():
                focus[i] = focus_share(scores, x.focus, x.special_mask)
            if probs is not None and model.label_names is not None:
                correct[i] = is_correct(model.label_names[int(probs[k].argmax())], gold[i])
            if on_example is not None:
                on_example(i, st)
            if keep_stats:
                stats[i] = st
    return _Side(stats, focus, correct, imp, measure)


def _accuracy(correct: list[bool | None]) -> float:
    known = [c for c in correct if c is not None]
    return float(np.mean(known)) if known else float("nan")


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _checkpoint_pass(
    tuned: Any,
    base: Any,
    base_side: _Side,
    inputs: list[_Inputs],
    gold: list[str | None],
    settings: TrajectorySettings,
) -> tuple[np.ndarray, _Side]:
    """One checkpoint's fine-tuned side: (its (L, H) change map, its per-example results)."""
    from attnflow_core.models import check_tokenizers

    check_tokenizers(base, tuned)
    shift_sum = np.zeros((base.num_layers, base.num_heads))

    def add_shift(i: int, st: dict[str, np.ndarray]) -> None:
        nonlocal shift_sum
        shift_sum = shift_sum + shift_from_stats(base_side.stats[i], st)

    side = _model_pass(tuned, inputs, gold, settings, base.tokenizer, settings.importance, False, add_shift)
    # Issue 17 hook: the faithfulness ranking of this checkpoint over the same examples goes here (returned with
    # the change map and appended to Trajectory.faithfulness by compute_trajectory).
    return shift_sum / len(inputs), side


def compute_trajectory(
    base: Any,
    checkpoints: Sequence[tuple[str, Checkpoint]],
    examples: Sequence[Any],
    task: str,
    settings: TrajectorySettings,
    load: Callable[[str], Any],
    source: str = "",
    split: str = "",
    progress: Callable[[float, str], None] | None = None,
) -> Trajectory:
    """The trajectory of a fine-tuning run over ``examples`` (``data.sources.Example``; the first ``settings.n``).

    ``base`` is the pre-trained ``LoadedModel``; ``checkpoints`` the run's (reference, record) pairs
    (``models.list_checkpoints``); ``load(ref)`` gives a checkpoint's ``LoadedModel`` (the CLI passes
    ``models.load_model``, the page its cached loader, so checkpoints are loaded once and kept). One checkpoint is
    held at a time unless ``load`` keeps them. The result's settings record the measure applied (the raw weights
    when a model's forward pass cannot capture what ``settings.measure`` needs, as in ``compute_overview``).
    """
    if not checkpoints:
        raise SettingsError(
            "this fine-tuned model records no checkpoints; retrain it with `python -m attnflow_core finetune` "
            "(checkpoints are kept by default) to see its trajectory"
        )
    exs = list(examples)[: settings.n]
    if not exs:
        raise DataError("no examples for the trajectory: pick a source and split with at least one example")
    report = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    tok = base.tokenizer
    inputs = _inputs(tok, exs, task, min(settings.max_length, base.max_length))
    gold = [e.label for e in exs]
    report(0.0, f"the pre-trained model on {len(exs)} examples")
    base_side = _model_pass(base, inputs, gold, settings, tok, False, True)
    settings = replace(settings, measure=base_side.measure)
    base_seconds = time.perf_counter() - t0
    changes, importances, focus, accuracy, seconds = [], [], [], [], []
    for k, (ref, record) in enumerate(checkpoints):
        report(
            (k + 0.5) / (len(checkpoints) + 0.5), f"checkpoint {k + 1}/{len(checkpoints)}: step {record.step}"
        )
        tc = time.perf_counter()
        change, side = _checkpoint_pass(load(ref), base, base_side, inputs, gold, settings)
        settings = replace(settings, measure=side.measure)
        changes.append(change)
        if side.importance is not None:
            importances.append(side.importance / len(exs))
        focus.append(_mean(side.focus))
        accuracy.append(_accuracy(side.correct))
        seconds.append(time.perf_counter() - tc)
    report(1.0, "done")
    has_focus = np.array([x.focus.any() for x in inputs])
    uniform = [
        x.focus.sum() / max(1, (~x.special_mask).sum()) for x, f in zip(inputs, has_focus, strict=True) if f
    ]
    return Trajectory(
        task=task,
        base_ref=base.ref,
        tuned_ref=checkpoints[-1][0],
        source=source,
        split=split,
        settings=settings,
        refs=tuple(ref for ref, _ in checkpoints),
        checkpoints=tuple(c for _, c in checkpoints),
        uids=tuple(e.uid for e in exs),
        accuracy=np.array(accuracy),
        change=np.stack(changes),
        importance=np.stack(importances) if importances else None,
        focus=np.array(focus),
        focus_base=_mean(base_side.focus),
        focus_uniform=float(np.mean(uniform)) if uniform else float("nan"),
        focus_examples=int(has_focus.sum()),
        seconds=time.perf_counter() - t0,
        base_seconds=base_seconds,
        checkpoint_seconds=tuple(seconds),
    )


# ---------------------------------------------------------------- the file


def _nan_to_none(values: Any) -> Any:
    """Nested lists of floats with nan as None (JSON has no nan)."""
    if isinstance(values, list):
        return [_nan_to_none(v) for v in values]
    return None if isinstance(values, float) and not np.isfinite(values) else values


def _none_to_nan(values: Any) -> np.ndarray:
    return np.array(_fill(values), dtype=np.float64)


def _fill(values: Any) -> Any:
    if isinstance(values, list):
        return [_fill(v) for v in values]
    return np.nan if values is None else values


def trajectory_json(t: Trajectory) -> dict[str, Any]:
    """The ``attnflow.trajectory/1`` record (documented in the README): models, data, settings, each checkpoint's
    record, the arrays (``change`` and ``importance`` K × L × H; ``accuracy`` and ``focus`` K; nan as null), the
    focus rule and the reading."""
    return {
        "schema": SCHEMA,
        "task": t.task,
        "base_ref": t.base_ref,
        "tuned_ref": t.tuned_ref,
        "source": t.source,
        "split": t.split,
        "settings": asdict(t.settings),
        "uids": list(t.uids),
        "checkpoints": [{"ref": ref, **c.to_json()} for ref, c in zip(t.refs, t.checkpoints, strict=True)],
        "focus_rule": FOCUS_RULES[t.task],
        "focus_examples": t.focus_examples,
        "arrays": {
            "accuracy": _nan_to_none(np.asarray(t.accuracy).tolist()),
            "change": np.asarray(t.change).tolist(),
            "importance": None if t.importance is None else np.asarray(t.importance).tolist(),
            "focus": _nan_to_none(np.asarray(t.focus).tolist()),
            "focus_base": _nan_to_none(t.focus_base),
            "focus_uniform": _nan_to_none(t.focus_uniform),
        },
        "faithfulness": None if t.faithfulness is None else list(t.faithfulness),
        "reading": trajectory_reading(t),
        "seconds": {"total": t.seconds, "base": t.base_seconds, "checkpoints": list(t.checkpoint_seconds)},
    }


def trajectory_text(t: Trajectory) -> str:
    """The text of the ``attnflow.trajectory/1`` file (what ``save_trajectory`` writes and the page downloads)."""
    return json.dumps(trajectory_json(t), indent=1)


def save_trajectory(t: Trajectory, path: str | Path) -> Path:
    """Write ``trajectory_text(t)`` to a .json file atomically; WriteError if it cannot be written."""
    path = Path(path)
    if path.suffix != ".json":
        raise SettingsError(f"trajectory files end in .json; got {path.name}")
    text = trajectory_text(t)
    atomic_write(path, lambda tmp: tmp.write_text(text))
    return path


#: The columns of ``trajectory_frame`` (one row per checkpoint, layer and head).
FRAME_COLUMNS = (
    "step", "fraction", "ref", "heldout_accuracy", "accuracy", "focus", "mean_change", "layer", "head", "change",
    "importance",
)  # fmt: skip


def trajectory_frame(t: Trajectory) -> Any:
    """The trajectory as one table (a pandas DataFrame, the page's CSV): a row per checkpoint, layer (1-based, as
    the figures) and head (0-based), with the checkpoint's step, fraction of training, reference, held-out
    accuracy, accuracy on the examples, focus share and mean change repeated on its rows; ``importance`` is nan
    when it was not computed. ``FRAME_COLUMNS`` in order; K × L × H rows."""
    import pandas as pd

    change = np.asarray(t.change, dtype=np.float64)
    k, n_layers, n_heads = change.shape
    importance = (
        np.full(change.shape, np.nan) if t.importance is None else np.asarray(t.importance, np.float64)
    )
    per_head = n_layers * n_heads
    grid = np.meshgrid(np.arange(k), np.arange(n_layers), np.arange(n_heads), indexing="ij")
    kk, ll, hh = (g.ravel() for g in grid)
    return pd.DataFrame(
        {
            "step": t.steps[kk],
            "fraction": np.array([c.fraction for c in t.checkpoints])[kk],
            "ref": np.array(t.refs, dtype=object)[kk],
            "heldout_accuracy": t.heldout_accuracy[kk],
            "accuracy": np.asarray(t.accuracy, dtype=np.float64)[kk],
            "focus": np.asarray(t.focus, dtype=np.float64)[kk],
            "mean_change": t.mean_change[kk],
            "layer": ll + 1,
            "head": hh,
            "change": change.reshape(k * per_head),
            "importance": importance.reshape(k * per_head),
        },
        columns=list(FRAME_COLUMNS),
    )


def shipped_trajectory_path(task: str) -> Path:
    """Where the trajectory of the embedded counterpart of ``task`` on its demo set ships (its first
    ``TrajectorySettings().n`` examples at the default settings, written by ``overview --trajectory``; the
    command is in the folder's README.md)."""
    from attnflow_core.models import EMBEDDED_DIR

    return EMBEDDED_DIR / "trajectories" / f"{get_task(task).name}.json"


def shipped_trajectory(task: str) -> Trajectory | None:
    """The shipped trajectory of the embedded counterpart of ``task`` (``shipped_trajectory_path``), or None when
    none ships (a counterpart without checkpoints)."""
    path = shipped_trajectory_path(task)
    return load_trajectory(path) if path.is_file() else None


def _check_shapes(k: int, n_examples: int, arrays: dict[str, Any]) -> None:
    change = arrays["change"]
    if change.ndim != 3 or change.shape[0] != k or 0 in change.shape:
        raise TrajectoryFileError(
            f"the file's change must be checkpoints × layers × heads; its shape is {change.shape}"
        )
    for key in ("accuracy", "focus"):
        if arrays[key].shape != (k,):
            raise TrajectoryFileError(f"the file's {key} has shape {arrays[key].shape}, not ({k},)")
    if arrays["importance"] is not None and arrays["importance"].shape != change.shape:
        raise TrajectoryFileError(
            f"the file's importance has shape {arrays['importance'].shape}, not {change.shape}"
        )
    if n_examples < 1:
        raise TrajectoryFileError("the file has no examples; compute a trajectory over at least one example")


def _trajectory_blob(source: str | Path | bytes) -> Any:
    """The parsed JSON of a trajectory file (a path, or the bytes of an upload), within the limits of an overview
    file (``overview.OVERVIEW_LIMITS``: its size checked before reading, its JSON values counted before parsing)."""
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise TrajectoryFileError(f"no such file: {source}; give the path of a .json trajectory")
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    if size > OVERVIEW_LIMITS.file_bytes:
        raise TrajectoryFileError(
            f"the trajectory file is {size:,} bytes, over the limit of {OVERVIEW_LIMITS.file_bytes:,}; compute it "
            "over fewer examples"
        )
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if data.count(b",") + data.count(b"{") + data.count(b"[") > OVERVIEW_LIMITS.json_values:
        raise TrajectoryFileError(
            f"the trajectory file holds over {OVERVIEW_LIMITS.json_values:,} JSON values; compute it over fewer "
            "examples"
        )
    return json.loads(data)


def load_trajectory(source: str | Path | bytes) -> Trajectory:
    """Read and validate a file written by ``save_trajectory`` (a path, or the bytes of an upload); anything else
    raises ``TrajectoryFileError`` naming the problem. Its references are only data: check them
    (``models.is_registered_ref``) before loading them."""
    try:
        meta = _trajectory_blob(source)
        if meta.get("schema") != SCHEMA:
            raise TrajectoryFileError(f"this file is not an Attention Flows trajectory (schema {SCHEMA})")
        if meta["task"] not in TASKS:
            raise TrajectoryFileError(f"the file's task {meta['task']!r} is not one of {', '.join(TASKS)}")
        raw = meta["arrays"]
        accuracy, focus = _none_to_nan(raw["accuracy"]), _none_to_nan(raw["focus"])
        change = np.asarray(raw["change"], dtype=np.float64)
        importance = None if raw.get("importance") is None else np.asarray(raw["importance"], np.float64)
        arrays = {"accuracy": accuracy, "change": change, "importance": importance, "focus": focus}
        records = meta["checkpoints"]
        _check_shapes(len(records), len(meta["uids"]), arrays)
        return Trajectory(
            task=meta["task"],
            base_ref=str(meta["base_ref"]),
            tuned_ref=str(meta["tuned_ref"]),
            source=str(meta["source"]),
            split=str(meta["split"]),
            settings=TrajectorySettings(**meta["settings"]),
            refs=tuple(str(r["ref"]) for r in records),
            checkpoints=tuple(Checkpoint.from_json(r) for r in records),
            uids=tuple(str(u) for u in meta["uids"]),
            focus_base=float(_fill(raw["focus_base"])),
            focus_uniform=float(_fill(raw["focus_uniform"])),
            focus_examples=int(meta["focus_examples"]),
            seconds=float(meta["seconds"]["total"]),
            base_seconds=float(meta["seconds"]["base"]),
            checkpoint_seconds=tuple(float(s) for s in meta["seconds"]["checkpoints"]),
            faithfulness=None if meta.get("faithfulness") is None else tuple(meta["faithfulness"]),
            accuracy=accuracy,
            change=change,
            importance=importance,
            focus=focus,
        )
    except TrajectoryFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OSError) as err:
        raise TrajectoryFileError(
            f"this file is not a readable Attention Flows trajectory ({err.__class__.__name__}: {err}); write it "
            "again with `python -m attnflow_core overview --trajectory`"
        ) from err
