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

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from attnflow_core.agreement import spearman
from attnflow_core.errors import AttnflowError
from attnflow_core.flows import DEFAULT_THRESHOLD
from attnflow_core.measures import MEASURES, Captured, measure_attention
from attnflow_core.methods import METHODS, flow_scores

_LOG = logging.getLogger(__name__)
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
#: Metric keys of ``FaithfulnessRow``: ρ over all tokens and without specials (reference = a saliency method), the
#: two AOPCs (reference ""), and the curves' points (reference = the fraction, e.g. "0.1").
RHO, RHO_CONTENT = "rho", "rho_content"
AOPC_COMP, AOPC_SUFF = "aopc_comprehensiveness", "aopc_sufficiency"
COMP, SUFF = "comprehensiveness", "sufficiency"
MODEL_TITLES = {"base": "pre-trained", "tuned": "fine-tuned", "": ""}

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


def measure_matrices(captured: Captured, measures: Iterable[str] = MEASURES.keys()) -> dict[str, np.ndarray]:
    """One model's matrices of one example under each of ``measures`` (registry keys): {measure: (L, H, n, n), or
    (L, 1, n, n) for a measure without a per-head part}. A measure whose inputs ``captured`` lacks raises the
    registry's ``MeasureError`` naming what to capture (``measures.measure_attention``)."""
    return {str(m): measure_attention(captured, m) for m in (MEASURES.get(k) for k in measures)}


def flow_rankings(
    measured: Mapping[str, np.ndarray],
    model: str,
    source: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[RankingId, np.ndarray]:
    """Every flow method over every measure of one model: {RankingId: (n,) scores}.

    ``measured`` maps a measure key to its matrices, (L, H, n, n) or per-token (L, n, n); a measure whose entry
    ``includes_residual`` flows without rollout's ½·I. Flows start at ``source`` ([CLS]).
    """
    out: dict[RankingId, np.ndarray] = {}
    for measure, mats in measured.items():
        a = np.asarray(mats)
        a = a[:, None] if a.ndim == 3 else a
        residual = not MEASURES.get(measure).includes_residual
        for method in METHODS:
            out[RankingId(model, str(method), str(measure))] = flow_scores(
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
    """Sums and counts per (ranking, metric, reference) over ``n`` examples; ``a + b`` merges two runs (shards).
    ``skipped``: {measure key: examples it was left out of} (value zeroing past its bound)."""

    n: int = 0
    totals: Mapping[Key, tuple[float, int]] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: FaithfulnessSums) -> FaithfulnessSums:
        merged = dict(self.totals)
        for key, (s, c) in other.totals.items():
            s0, c0 = merged.get(key, (0.0, 0))
            merged[key] = (s0 + s, c0 + c)
        skipped = dict(self.skipped)
        for measure, k in other.skipped.items():
            skipped[measure] = skipped.get(measure, 0) + k
        return FaithfulnessSums(self.n + other.n, merged, skipped)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``compare --faithfulness`` and overview files; README): ``n``, ``skipped`` and one row
        per (ranking, metric, reference) with its mean ``value`` (null where nothing was counted) and the ``sum``
        and ``count`` it comes from, so that files merge exactly."""
        return {
            "n": self.n,
            "skipped": dict(self.skipped),
            "rows": [
                {
                    "model": rid.model,
                    "method": rid.method,
                    "measure": rid.measure,
                    "metric": metric,
                    "reference": ref,
                    "value": round(total / count, 6) if count else None,
                    "sum": total,
                    "count": count,
                }
                for (rid, metric, ref), (total, count) in sorted(self.totals.items())
            ],
        }

    @staticmethod
    def from_json(blob: Mapping[str, Any]) -> FaithfulnessSums:
        """The sums of ``to_json``'s form (a KeyError/TypeError/ValueError when it is not that form)."""
        totals = {
            (
                RankingId(str(r["model"]), str(r["method"]), str(r["measure"])),
                str(r["metric"]),
                str(r["reference"]),
            ): (
                float(r["sum"]),
                int(r["count"]),
            )
            for r in blob["rows"]
        }
        skipped = {str(k): int(v) for k, v in dict(blob.get("skipped") or {}).items()}
        return FaithfulnessSums(int(blob["n"]), totals, skipped)

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
                    output_attentions=False,  # the app loads its models returning them: B·L·H·n² floats
                    output_hidden_states=False,
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


def _flow_name(rid: RankingId) -> str:
    """ "rollout over ALTI": a flow ranking by the registries' short words (keys where none is registered)."""
    method, measure = METHODS.find(rid.method), MEASURES.find(rid.measure)
    return f"{method.short if method else rid.method} over {measure.short if measure else rid.measure}"


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
        parts.append(f"in the {MODEL_TITLES[model]} model {_flow_name(top.ranking)} ({top.value:.3f}{beats})")
    if not parts:
        return "No example had a token to remove: no faithfulness can be measured here."
    floor_text = "" if floor is None else f"; a random ranking removes {floor.value:.3f}"
    return (
        "Most faithful to the fine-tuned decision (AOPC comprehensiveness: the drop in its probability when a "
        f"ranking's top tokens are cut): {'; '.join(parts)}{floor_text}.{_order_change(rows)}"
    )


#: The table's AOPC columns: higher comprehensiveness and lower sufficiency = more faithful.
AOPC_COLUMNS = {AOPC_COMP: "AOPC comp. ↑", AOPC_SUFF: "AOPC suff. ↓"}
#: How the table marks ρ over the tokens other than [CLS]/[SEP].
CONTENT_MARK = "(content)"


def rho_column(saliency: str, content: bool = False) -> str:
    """The table's column of ρ against ``saliency`` (its short name), over all tokens or ``content`` only."""
    from attnflow_core.saliency import SALIENCY_METHODS

    found = SALIENCY_METHODS.find(saliency)
    name = found.short if found is not None else saliency
    return f"ρ {name} {CONTENT_MARK}" if content else f"ρ {name}"


def faithfulness_caption(n: int) -> str:
    """What the table shows, in two sentences (pages, ``compare``)."""
    over = "this example" if n == 1 else f"{n} examples (means)"
    return (
        f"Over {over}: each ranking of the tokens — a flow from [CLS] in one model under one measure, a saliency "
        "of the fine-tuned model, or a random order — against each saliency by Spearman ρ (over all tokens, and "
        f"{CONTENT_MARK} without [CLS]/[SEP]), and by deletion (ERASER, DeYoung et al. 2020): cut the top 10…50 % "
        "of the non-special tokens out of the input (comprehensiveness: the drop in the fine-tuned model's "
        "probability of its prediction, higher = more faithful) or keep only them (sufficiency: lower = more "
        "faithful), averaged over the five cuts (AOPC). Both models' rankings are judged against the fine-tuned "
        "model's decision: the pre-trained encoder has none of its own."
    )


def faithfulness_frame(rows: Sequence[FaithfulnessRow]) -> pd.DataFrame:
    """The faithfulness table the pages and ``compare`` show: one row per ranking (model, ranking, measure or
    saliency), the two AOPCs, then one column per saliency for ρ over all tokens and one ``… (content)`` without
    [CLS]/[SEP]; values to three decimals (NaN where undefined). Flows first (pre-trained, then fine-tuned; by measure, then
    method, in the registries' order), then the saliencies and the random floor."""
    from attnflow_core.saliency import SALIENCY_METHODS

    refs = [str(m) for m in SALIENCY_METHODS if any(r.reference == m for r in rows)]
    refs += sorted({r.reference for r in rows if r.metric == RHO} - set(refs))
    columns = list(AOPC_COLUMNS.values()) + [rho_column(ref) for ref in refs]
    columns += [rho_column(ref, content=True) for ref in refs]
    cells: dict[tuple[str, str, str], dict[str, float]] = {}
    for r in rows:
        if r.metric in (RHO, RHO_CONTENT):
            column = rho_column(r.reference, content=r.metric == RHO_CONTENT)
        elif r.metric in AOPC_COLUMNS:
            column = AOPC_COLUMNS[r.metric]
        else:
            continue
        cells.setdefault(_row_label(r.ranking), {})[column] = r.value
    order = sorted(cells, key=lambda k: _row_order(k, rows))
    table = pd.DataFrame([cells[k] for k in order], columns=columns, dtype=float)
    table.index = pd.MultiIndex.from_tuples(order, names=["model", "ranking", "over"])
    return table.round(3)


def _row_label(rid: RankingId) -> tuple[str, str, str]:
    from attnflow_core.saliency import saliency_title

    if rid == RANDOM:
        return ("", "random", "")
    if rid.method == "saliency":
        return (MODEL_TITLES[rid.model], "saliency", saliency_title(rid.measure))
    method, measure = METHODS.find(rid.method), MEASURES.find(rid.measure)
    return (
        MODEL_TITLES.get(rid.model, rid.model),
        method.short if method else rid.method,
        measure.short if measure else rid.measure,
    )


def _row_order(label: tuple[str, str, str], rows: Sequence[FaithfulnessRow]) -> tuple[int, int, int, str]:
    """Flows of the pre-trained model, then of the fine-tuned one (measures, then methods, in registry order),
    then the saliencies, then the random floor."""
    model, ranking, over = label
    if ranking == "random":
        return (3, 0, 0, "")
    if ranking == "saliency":
        return (2, 0, 0, over)
    methods = [m.short for m in METHODS]
    shorts = [m.short for m in MEASURES]
    side = 0 if model == MODEL_TITLES["base"] else 1
    return (
        side,
        shorts.index(over) if over in shorts else len(shorts),
        methods.index(ranking) if ranking in methods else len(methods),
        over,
    )


def skipped_note(sums: FaithfulnessSums) -> str:
    """A sentence on the measures left out of some examples ("" when none was)."""
    if not sums.skipped:
        return ""
    parts = [
        f"{MEASURES.get(m).short if m in MEASURES else m} from {k} of {sums.n} example{'s' if sums.n != 1 else ''}"
        for m, k in sorted(sums.skipped.items())
    ]
    return (
        "Left out past its bound (too many tokens × layers to rerun; see the About page): "
        + "; ".join(parts)
        + "."
    )


def capture_faithfulness(
    pair: Any,
    input_ids: Sequence[int],
    segment_ids: Sequence[int],
    special_positions: Sequence[int],
    captured: Mapping[str, Captured],
    measures: Sequence[str] | None = None,
    saliency_methods: Sequence[str] | None = None,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    progress: Callable[[float, str], None] | None = None,
) -> FaithfulnessSums:
    """The faithfulness sums of one example from what both models' forward passes captured on it (``captured``:
    {"base": Captured, "tuned": Captured}, one example each, with the layer internals when a measure needs them):
    every flow method × measure of each model from [CLS], every saliency of the fine-tuned model (``pair.tuned``),
    and a random ranking seeded by ``seed``, judged against the fine-tuned model's predicted class (see the module
    docstring); ``input_ids``, ``segment_ids`` (n,) and ``special_positions`` are the example's tokens. Token units;
    [CLS]/[SEP] kept. A measure with layer reruns (value zeroing) runs them
    here when ``captured`` lacks them; past its bound it is left out and counted in ``skipped``.
    ``progress(fraction, message)`` runs from 0 to 1 over both models' measures (value zeroing reports each layer),
    the saliencies and the deletion curves."""
    from attnflow_core.saliency import SALIENCY_METHODS, all_saliencies

    if pair.tuned.label_names is None:
        raise AttnflowError(
            f"{pair.tuned.ref!r} has no classification head: there is no decision to be faithful to"
        )
    chosen = [MEASURES.get(m) for m in (MEASURES.keys() if measures is None else measures)]
    report = progress or (lambda _f, _m: None)
    rankings: dict[RankingId, np.ndarray] = {}
    skipped: dict[str, int] = {}
    for k, (model, loaded) in enumerate((("base", pair.base), ("tuned", pair.tuned))):

        def part(frac: float, msg: str, k: int = k, model: str = model) -> None:
            report(0.8 * (k + frac) / 2, f"{MODEL_TITLES[model]} model: {msg}")

        mats = _side_matrices(captured[model], loaded.model, chosen, part, skipped)
        rankings |= flow_rankings(mats, model, 0, threshold)
    report(0.8, "saliency of the fine-tuned model")
    pad = pair.tuned.tokenizer.pad_token_id or 0
    ids, segs, specials = list(input_ids), list(segment_ids), list(special_positions)
    methods = tuple(saliency_methods or SALIENCY_METHODS.keys())
    sal = all_saliencies(pair.tuned.model, ids, segs, specials, pad_id=pad, methods=methods)
    rankings |= {saliency_id(k): v.magnitude for k, v in sal.items()}
    rankings[RANDOM] = random_scores(len(ids), seed)
    target = next(iter(sal.values())).target
    predict = model_predictor(pair.tuned.model, ids, segs, target, pad)
    report(0.9, "deletion curves")
    out = example_faithfulness(rankings, {k: v.scores for k, v in sal.items()}, specials, predict)
    report(1.0, "done")
    return FaithfulnessSums(out.n, out.totals, {m: 1 for m in skipped})


def _side_matrices(
    captured: Captured,
    torch_model: Any,
    measures: Sequence[Any],
    progress: Callable[[float, str], None],
    skipped: dict[str, int],
) -> dict[str, np.ndarray]:
    """One model's matrices under ``measures``, running the reruns ``captured`` lacks; a measure whose rerun is
    refused (past its bound: an ``AttnflowError``) is left out and noted in ``skipped``."""
    from attnflow_core.measures import with_reruns

    usable = [m for m in measures if str(m) not in skipped]
    for m in [m for m in usable if m.rerun is not None]:
        try:
            captured = with_reruns(captured, torch_model, (m,), progress)
        except AttnflowError as err:
            if captured.internals is None:
                raise
            skipped[str(m)] = 1
            _LOG.info("faithfulness: %s left out: %s", m, err)
    return measure_matrices(captured, [m for m in usable if str(m) not in skipped])


def pair_faithfulness(
    pair: Any,
    result: Any,
    measures: Sequence[str] | None = None,
    saliency_methods: Sequence[str] | None = None,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    progress: Callable[[float, str], None] | None = None,
) -> FaithfulnessSums:
    """``capture_faithfulness`` of one extracted example (an ``extract.ExampleResult``, extracted with
    ``capture=measures.Capture.of(*measures)`` so that it holds what every measure needs) under both models of
    ``pair`` (``models.ModelPair``). ``measures``: registry keys (default: every measure)."""
    enc = result.encoding
    captured = {m: result.captured(m) for m in ("base", "tuned")}
    return capture_faithfulness(
        pair,
        enc.input_ids,
        enc.segment_ids,
        enc.special_positions,
        captured,
        measures,
        saliency_methods,
        seed,
        threshold,
        progress,
    )
