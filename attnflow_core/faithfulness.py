"""Which token ranking is faithful to the fine-tuned model's decision, in each model of a pair?

A *ranking* is one score per token (n,): a flow (trace, rollout, max-flow) from [CLS] over one measure of one model,
a saliency of the fine-tuned classifier, or a random ranking (the floor). Each is judged two ways:

- **Spearman ρ** against each saliency's magnitude |s| (``agreement.spearman``), over all tokens (``rho``) and over
  the tokens other than [CLS]/[SEP] (``rho_content``). Agreement with a saliency is evidence, not proof.
- **Deletion curves** (DeYoung et al. 2020, ERASER): for k in ``FRACTIONS`` (10 … 50 %), the top ⌊k·m + ½⌋ (at
  least 1) of the m non-special tokens by the ranking are *removed* (comprehensiveness: p(x) − p(x without them))
  or *kept alone* (sufficiency: p(x) − p(only them)), where p is the probability of the reference class.
  [CLS]/[SEP] are never removed and never ranked. AOPC = the mean over the k's (ERASER divides by |B| + 1 to count
  a k = 0 term that is always 0; ours is theirs × 6/5). Higher comprehensiveness and lower sufficiency = more
  faithful. Ties in a ranking go to the earlier token.

**Removal = deletion** (the tokens are cut out of the sequence, as ERASER does and as ``saliency``'s occlusion
does), not replacement by [MASK] or [PAD]: the embedded models were fine-tuned without masking, so a [MASK] is as
foreign to them as a cut, and a [PAD] that is attended to is a token the model has never seen in that role; a cut
at least leaves only real words. Positions shift, which is part of what any removal test measures.

**The reference decision is the fine-tuned model's**, for both models' rankings: its predicted class on the full
input, and its probabilities on the shortened inputs. The pre-trained encoder has no task head, so its rankings are
read as "how well does the pre-trained model's flow anticipate what the fine-tuned model will use". (A linear probe on
frozen pre-trained features would give the pre-trained model a decision of its own, but that decision would belong
to a third model whose own faithfulness is unknown, it would need training per task and per pair, and the two
models' numbers would no longer be on one scale.) The saliencies are the fine-tuned model's, too.

Per example, ``example_faithfulness`` returns ``FaithfulnessSums`` (sums and counts), which add like the overview's
running sums; ``FaithfulnessSums.rows()`` gives the means, and ``faithfulness_sentence`` the plain reading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnflow_core.agreement import spearman
from attnflow_core.contributions import MEASURES_WITH_RESIDUAL, alti, globenc
from attnflow_core.errors import AttnflowError
from attnflow_core.flows import DEFAULT_THRESHOLD
from attnflow_core.internals import Internals, encoder_layers
from attnflow_core.measures import norm_weighted
from attnflow_core.methods import METHODS, flow_scores
from attnflow_core.value_zeroing import MAX_RERUNS, value_zeroing

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
#: Metric keys of ``FaithfulnessRow``: ρ over all tokens and without specials (reference = a saliency method), the
#: two AOPCs (reference ""), and the curves' points (reference = the fraction, e.g. "0.1").
RHO, RHO_CONTENT = "rho", "rho_content"
AOPC_COMP, AOPC_SUFF = "aopc_comprehensiveness", "aopc_sufficiency"
COMP, SUFF = "comprehensiveness", "sufficiency"
MODEL_TITLES = {"base": "pre-trained", "tuned": "fine-tuned", "": ""}

#: Every measure a ranking can flow over (until issue 15's measure registry holds them).
ALL_MEASURES = ("attention", "norm", "alti", "globenc", "value-zeroing")

#: Keep-masks (V, n) bool -> (V,) probability of the reference class under the fine-tuned model.
Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, order=True)
class RankingId:
    """What a ranking is: ``model`` "base" / "tuned" ("" for the random floor); ``method`` a flow method,
    "saliency" or "random"; ``measure`` the measure a flow ran over, or the saliency method."""

    model: str
    method: str
    measure: str = ""

    @property
    def label(self) -> str:
        if self.method == "random":
            return "random"
        if self.method == "saliency":
            return f"{self.measure} saliency"
        return f"{MODEL_TITLES.get(self.model, self.model)}: {self.method} over {self.measure}"


RANDOM = RankingId("", "random")


def saliency_id(method: str) -> RankingId:
    """The id of the fine-tuned model's ``method`` saliency as a ranking."""
    return RankingId("tuned", "saliency", method)


def random_scores(n: int, seed: int) -> np.ndarray:
    """A random ranking of n tokens (n,), reproducible from ``seed``."""
    return np.random.default_rng(seed).permutation(n).astype(np.float64)


def measure_matrices(
    attn: np.ndarray,
    vnorm: np.ndarray | None,
    internals: Internals | None,
    model: Any = None,
    measures: Sequence[str] = ALL_MEASURES,
    progress: Callable[[float, str], None] | None = None,
    max_reruns: int = MAX_RERUNS,
) -> dict[str, np.ndarray]:
    """One model's matrices of one example under each of ``measures``: {measure: (L, H, n, n) or (L, n, n)}.

    attn (L, H, n, n); vnorm (L, H, n) for ``norm``; ``internals`` (one example) for ``alti``, ``globenc`` and
    ``value-zeroing``, which also needs the torch ``model`` to rerun its layers (``progress`` reports it). A measure
    whose inputs are missing raises an AttnflowError naming what to capture.
    """
    unknown = [m for m in measures if m not in ALL_MEASURES]
    if unknown:
        raise AttnflowError(f"unknown measure {unknown[0]!r}; choose from {ALL_MEASURES}")
    out: dict[str, np.ndarray] = {}
    for measure in measures:
        if measure == "attention":
            out[measure] = np.asarray(attn)
        elif measure == "norm":
            if vnorm is None:
                raise AttnflowError("the norm measure needs value norms: extract the example again")
            out[measure] = norm_weighted(attn, vnorm)
        elif internals is None:
            raise AttnflowError(
                f"the {measure} measure needs the layer internals: extract(..., internals=True)"
            )
        elif measure == "alti":
            out[measure] = alti(internals, attn)
        elif measure == "globenc":
            out[measure] = globenc(internals, attn)
        else:  # value-zeroing
            out[measure] = value_zeroing(encoder_layers(model), internals.hidden, progress, max_reruns)
    return out


def flow_rankings(
    measured: Mapping[str, np.ndarray],
    model: str,
    source: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[RankingId, np.ndarray]:
    """Every flow method over every measure of one model: {RankingId: (n,) scores}.

    ``measured`` maps a measure key to its matrices, (L, H, n, n) or per-token (L, n, n); measures in
    ``contributions.MEASURES_WITH_RESIDUAL`` flow without rollout's ½·I. Flows start at ``source`` ([CLS]).
    """
    out: dict[RankingId, np.ndarray] = {}
    for measure, mats in measured.items():
        a = np.asarray(mats)
        a = a[:, None] if a.ndim == 3 else a
        residual = measure not in MEASURES_WITH_RESIDUAL
        for method in METHODS:
            out[RankingId(model, method, measure)] = flow_scores(
                a, method, source=source, threshold=threshold, residual=residual
            )
    return out


def top_count(fraction: float, m: int) -> int:
    """How many of m rankable tokens the top ``fraction`` holds: ⌊fraction·m + ½⌋, at least 1 (0 when m = 0)."""
    return 0 if m == 0 else max(1, int(np.floor(fraction * m + 0.5)))


def ranked_positions(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``candidates`` (positions) ordered by descending score; ties keep the earlier position first."""
    s = np.asarray(scores, dtype=np.float64)[candidates]
    return candidates[np.argsort(-s, kind="stable")]


def content_positions(n: int, special_positions: Sequence[int]) -> np.ndarray:
    """The positions 0..n-1 other than the special ones, ascending."""
    keep = np.ones(n, dtype=bool)
    keep[list(special_positions)] = False
    return np.flatnonzero(keep)


def deletion_masks(
    scores: np.ndarray, special_positions: Sequence[int], fractions: Sequence[float] = FRACTIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Keep-masks of one ranking (n,): (without the top-k (K, n), only the top-k and the specials (K, n)), bool."""
    n = len(scores)
    content = content_positions(n, special_positions)
    order = ranked_positions(scores, content)
    without = np.ones((len(fractions), n), dtype=bool)
    only = np.zeros((len(fractions), n), dtype=bool)
    only[:, list(special_positions)] = True
    for k, frac in enumerate(fractions):
        top = order[: top_count(frac, content.size)]
        without[k, top] = False
        only[k, top] = True
    return without, only


@dataclass(frozen=True, eq=False)
class DeletionCurve:
    """One ranking's curves: ``comprehensiveness`` and ``sufficiency`` (K,) at ``fractions`` (see the module
    docstring), and their AOPCs."""

    fractions: tuple[float, ...]
    comprehensiveness: np.ndarray
    sufficiency: np.ndarray

    @property
    def aopc_comprehensiveness(self) -> float:
        return float(self.comprehensiveness.mean())

    @property
    def aopc_sufficiency(self) -> float:
        return float(self.sufficiency.mean())


def deletion_curves(
    rankings: Mapping[RankingId, np.ndarray],
    special_positions: Sequence[int],
    predict: Predictor,
    fractions: Sequence[float] = FRACTIONS,
) -> dict[RankingId, DeletionCurve]:
    """Deletion curves of every ranking (n,) of one example; {} when it has no non-special token. All shortened
    inputs (and the full one) go to ``predict`` in one call, each distinct input once."""
    if not rankings:
        return {}
    n = len(next(iter(rankings.values())))
    if content_positions(n, special_positions).size == 0:
        return {}
    masks = [np.ones((1, n), dtype=bool)]
    for scores in rankings.values():
        masks += list(deletion_masks(scores, special_positions, fractions))
    stacked = np.concatenate(masks)
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    probs = np.asarray(predict(unique), dtype=np.float64)[np.ravel(inverse)]
    full, k = probs[0], len(fractions)
    out = {}
    for r, rid in enumerate(rankings):
        start = 1 + 2 * k * r
        out[rid] = DeletionCurve(
            tuple(float(f) for f in fractions),
            full - probs[start : start + k],
            full - probs[start + k : start + 2 * k],
        )
    return out


@dataclass(frozen=True)
class FaithfulnessRow:
    """One cell of the table: ``value`` = the mean of ``metric`` of ``ranking`` over ``n`` examples (examples where
    it was undefined, e.g. ρ of a constant ranking, are not counted). ``reference``: the saliency a ρ is against, the
    fraction of a curve's point, "" for an AOPC."""

    ranking: RankingId
    metric: str
    reference: str
    value: float
    n: int


Key = tuple[RankingId, str, str]


@dataclass(frozen=True, eq=False)
class FaithfulnessSums:
    """Sums and counts per (ranking, metric, reference) over ``n`` examples; ``a + b`` merges two runs (shards)."""

    n: int = 0
    totals: Mapping[Key, tuple[float, int]] = field(default_factory=dict)

    def __add__(self, other: FaithfulnessSums) -> FaithfulnessSums:
        merged = dict(self.totals)
        for key, (s, c) in other.totals.items():
            s0, c0 = merged.get(key, (0.0, 0))
            merged[key] = (s0 + s, c0 + c)
        return FaithfulnessSums(self.n + other.n, merged)

    def rows(self) -> list[FaithfulnessRow]:
        """The means, sorted by ranking, metric and reference (nan where nothing was counted)."""
        return [
            FaithfulnessRow(rid, metric, ref, s / c if c else float("nan"), c)
            for (rid, metric, ref), (s, c) in sorted(self.totals.items())
        ]


def _one_example(values: Mapping[Key, float]) -> FaithfulnessSums:
    totals = {k: ((float(v), 1) if np.isfinite(v) else (0.0, 0)) for k, v in values.items()}
    return FaithfulnessSums(1, totals)


def example_faithfulness(
    rankings: Mapping[RankingId, np.ndarray],
    saliencies: Mapping[str, np.ndarray],
    special_positions: Sequence[int],
    predict: Predictor,
    fractions: Sequence[float] = FRACTIONS,
) -> FaithfulnessSums:
    """Every ranking (n,) of one example against every saliency (n,) (ρ, all tokens and content only) and by its
    deletion curves under ``predict`` (see the module docstring), as one example's sums."""
    values: dict[Key, float] = {}
    n = len(next(iter(rankings.values()))) if rankings else 0
    content = content_positions(n, special_positions)
    for rid, scores in rankings.items():
        s = np.asarray(scores, dtype=np.float64)
        for name, sal in saliencies.items():
            mag = np.abs(np.asarray(sal, dtype=np.float64))
            values[(rid, RHO, name)] = spearman(s, mag)
            values[(rid, RHO_CONTENT, name)] = spearman(s[content], mag[content])
    for rid, curve in deletion_curves(rankings, special_positions, predict, fractions).items():
        values[(rid, AOPC_COMP, "")] = curve.aopc_comprehensiveness
        values[(rid, AOPC_SUFF, "")] = curve.aopc_sufficiency
        for f, c, su in zip(curve.fractions, curve.comprehensiveness, curve.sufficiency, strict=True):
            values[(rid, COMP, f"{f:g}")] = float(c)
            values[(rid, SUFF, f"{f:g}")] = float(su)
    return _one_example(values)


def model_predictor(
    model: Any,
    input_ids: Sequence[int],
    segment_ids: Sequence[int],
    target: int,
    pad_id: int = 0,
    batch_size: int = 64,
) -> Predictor:
    """A ``Predictor`` for one example under the torch classifier ``model`` (the fine-tuned one): each keep-mask
    (n,) cuts the other tokens out of ``input_ids``/``segment_ids``; the shortened inputs are right-padded with
    ``pad_id`` (attention mask 0) and run ``batch_size`` at a time; returns p(``target``) (V,)."""
    import torch

    ids = np.asarray(input_ids, dtype=np.int64)
    segs = np.asarray(segment_ids, dtype=np.int64)
    device = next(model.parameters()).device

    def predict(masks: np.ndarray) -> np.ndarray:
        out = np.empty(len(masks))
        for start in range(0, len(masks), batch_size):
            chunk = masks[start : start + batch_size]
            width = int(chunk.sum(1).max())
            batch_ids = np.full((len(chunk), width), pad_id, dtype=np.int64)
            batch_segs = np.zeros((len(chunk), width), dtype=np.int64)
            attention = np.zeros((len(chunk), width), dtype=np.int64)
            for r, keep in enumerate(chunk):
                m = int(keep.sum())
                batch_ids[r, :m], batch_segs[r, :m], attention[r, :m] = ids[keep], segs[keep], 1
            with torch.inference_mode():
                logits = model(
                    input_ids=torch.from_numpy(batch_ids).to(device),
                    token_type_ids=torch.from_numpy(batch_segs).to(device),
                    attention_mask=torch.from_numpy(attention).to(device),
                ).logits
            out[start : start + len(chunk)] = torch.softmax(logits.double(), -1)[:, target].cpu().numpy()
        return out

    return predict


def _best(rows: Sequence[FaithfulnessRow], model: str, metric: str, high: bool) -> FaithfulnessRow | None:
    cands = [
        r for r in rows if r.metric == metric and r.ranking.model == model and r.ranking.method != "saliency"
    ]
    cands = [r for r in cands if np.isfinite(r.value)]
    if not cands:
        return None
    return max(cands, key=lambda r: r.value) if high else min(cands, key=lambda r: r.value)


def _order_change(rows: Sequence[FaithfulnessRow]) -> str:
    """Whether the flow rankings' order by AOPC comprehensiveness is the same in both models (Kendall τ)."""
    from scipy.stats import kendalltau

    comp = {
        (r.ranking.model, r.ranking.method, r.ranking.measure): r.value
        for r in rows
        if r.metric == AOPC_COMP and r.ranking.model in ("base", "tuned") and np.isfinite(r.value)
    }
    shared = sorted(
        {(m, me) for (mod, m, me) in comp if mod == "base"}
        & {(m, me) for (mod, m, me) in comp if mod == "tuned"}
    )
    if len(shared) < 2:
        return ""
    base = [comp[("base", *k)] for k in shared]
    tuned = [comp[("tuned", *k)] for k in shared]
    tau = float(kendalltau(base, tuned).statistic)
    if not np.isfinite(tau):
        return ""
    verdict = "kept" if tau >= 0.8 else "partly changed" if tau >= 0.4 else "changed"
    return (
        f" Fine-tuning {verdict} the order of the {len(shared)} flow rankings (Kendall τ = {tau:.2f} between the "
        "two models' orders by comprehensiveness)."
    )


def faithfulness_sentence(rows: Sequence[FaithfulnessRow]) -> str:
    """A plain reading of the table: the most faithful flow ranking of each model by AOPC comprehensiveness, the
    random floor, and whether fine-tuning changed the order."""
    parts = []
    floor = next((r for r in rows if r.ranking == RANDOM and r.metric == AOPC_COMP), None)
    for model in ("base", "tuned"):
        top = _best(rows, model, AOPC_COMP, high=True)
        if top is None:
            continue
        beats = "" if floor is None or top.value > floor.value else " — no better than random"
        parts.append(
            f"in the {MODEL_TITLES[model]} model {top.ranking.method} over {top.ranking.measure} "
            f"({top.value:.3f}{beats})"
        )
    if not parts:
        return "No example had a token to remove: no faithfulness can be measured here."
    floor_text = "" if floor is None else f"; a random ranking removes {floor.value:.3f}"
    return (
        "Most faithful to the fine-tuned decision (AOPC comprehensiveness: the drop in its probability when a "
        f"ranking's top tokens are cut): {'; '.join(parts)}{floor_text}.{_order_change(rows)}"
    )


def pair_faithfulness(
    pair: Any,
    result: Any,
    measures: Sequence[str] = ALL_MEASURES,
    saliency_methods: Sequence[str] | None = None,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    progress: Callable[[float, str], None] | None = None,
) -> FaithfulnessSums:
    """The faithfulness sums of one example (an ``extract.ExampleResult`` extracted with ``internals=True`` when a
    measure needs them) for both models of ``pair`` (``models.ModelPair``): every flow method × measure of each model
    from [CLS], every saliency of the fine-tuned model, and a random ranking seeded by ``seed``, judged against the
    fine-tuned model's predicted class (see the module docstring). Token units; [CLS]/[SEP] kept.
    ``progress(fraction, message)`` runs from 0 to 1 over both models' measures (value zeroing reports each layer),
    the saliencies and the deletion curves."""
    from attnflow_core.saliency import SALIENCY_METHODS, result_saliency

    if pair.tuned.label_names is None:
        raise AttnflowError(
            f"{pair.tuned.ref!r} has no classification head: there is no decision to be faithful to"
        )
    enc = result.encoding
    rankings: dict[RankingId, np.ndarray] = {}
    sides = (
        ("base", result.attn_base, result.vnorm_base, result.internals_base, pair.base.model),
        ("tuned", result.attn_tuned, result.vnorm_tuned, result.internals_tuned, pair.tuned.model),
    )
    report = progress or (lambda _f, _m: None)
    for k, (model, attn, vnorm, inner, torch_model) in enumerate(sides):

        def part(frac: float, msg: str, k: int = k, model: str = model) -> None:
            report(0.8 * (k + frac) / 2, f"{MODEL_TITLES[model]} model: {msg}")

        mats = measure_matrices(attn, vnorm, inner, torch_model, measures, part)
        rankings |= flow_rankings(mats, model, 0, threshold)
    report(0.8, "saliency of the fine-tuned model")
    sal = result_saliency(pair.tuned, result, tuple(saliency_methods or SALIENCY_METHODS))
    rankings |= {saliency_id(k): v.magnitude for k, v in sal.items()}
    rankings[RANDOM] = random_scores(len(enc.input_ids), seed)
    target = next(iter(sal.values())).target
    pad = pair.tuned.tokenizer.pad_token_id or 0
    predict = model_predictor(pair.tuned.model, enc.input_ids, enc.segment_ids, target, pad)
    report(0.9, "deletion curves")
    out = example_faithfulness(
        rankings, {k: v.scores for k, v in sal.items()}, enc.special_positions, predict
    )
    report(1.0, "done")
    return out
